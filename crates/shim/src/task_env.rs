//! The task's environment, as the container spec gives it (`KEY=value` strings). The shim's
//! own process environment is containerd's, not the task's, so nothing reads `std::env` here.

use std::collections::HashMap;

#[derive(Clone, Debug, Default)]
pub struct TaskEnv(HashMap<String, String>);

impl TaskEnv {
    pub fn parse<'a>(vars: impl IntoIterator<Item = &'a String>) -> Self {
        Self(
            vars.into_iter()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    pub fn iter(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_value_pairs() {
        let vars = ["A=1".to_string(), "B=x=y".to_string(), "JUNK".to_string()];
        let env = TaskEnv::parse(&vars);
        assert_eq!(env.get("A").as_deref(), Some("1"));
        assert_eq!(env.get("B").as_deref(), Some("x=y"));
        assert_eq!(env.get("JUNK"), None);
    }
}
