//! Spin's `{{ variable }}` templates, as used in component variables and
//! `allowed_outbound_hosts`.

use std::collections::BTreeMap;

use crate::Variable;

/// A parsed template: literal text and variable references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

impl Template {
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed '{{{{' in template '{text}'"))?;
            let name = after[..end].trim();
            validate_name(name).map_err(|e| format!("in template '{text}': {e}"))?;
            parts.push(Part::Variable(name.to_string()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Self { parts })
    }

    /// The variable names this template refers to.
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable(v) => Some(v.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Renders the template, asking `lookup` for each variable.
    pub fn render<E>(
        &self,
        mut lookup: impl FnMut(&str) -> std::result::Result<String, E>,
    ) -> std::result::Result<String, E> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.push_str(l),
                Part::Variable(v) => out.push_str(&lookup(v)?),
            }
        }
        Ok(out)
    }
}

/// Variable names are lower snake case: `[a-z][a-z0-9_]*`, as Spin requires.
pub fn validate_name(name: &str) -> std::result::Result<(), String> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && !name.ends_with('_')
        && !name.contains("__");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a valid variable name (lower snake case: letters, digits, single underscores)"
        ))
    }
}

/// Checks that every template in `templates` refers only to variables the app declares.
/// Why one of `templates` does not parse or names a variable the app does not declare.
pub fn check_references<'a>(
    templates: impl IntoIterator<Item = &'a str>,
    declared: &BTreeMap<String, Variable>,
) -> std::result::Result<(), String> {
    for text in templates {
        let template = Template::parse(text)?;
        for name in template.references() {
            if !declared.contains_key(name) {
                return Err(format!(
                    "'{text}' refers to variable '{name}', which the app does not declare"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders() {
        let t = Template::parse("https://{{ host }}:{{port}}/x").unwrap();
        assert_eq!(t.references().collect::<Vec<_>>(), ["host", "port"]);
        let out: std::result::Result<_, ()> = t.render(|v| Ok(v.to_uppercase()));
        assert_eq!(out.unwrap(), "https://HOST:PORT/x");
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(Template::parse("{{ open").is_err());
        assert!(Template::parse("{{ Bad }}").is_err());
        assert!(Template::parse("{{}}").is_err());
    }
}
