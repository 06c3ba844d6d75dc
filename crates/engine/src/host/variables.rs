//! `fermyon:spin/variables@2.0.0` and `wasi:config/store` (draft 2024-09-27, what Spin 3
//! offers for the same values): application variables, resolved once when the app loads.
//!
//! A value comes from the first provider that has it: the environment
//! (`SPIN_VARIABLE_<NAME>`, what the Spin shim maps pod env to), then the variable's `default`.
//! A `required` variable no provider has is a load error naming it. Component variables are
//! templates over these and are rendered at load time too.

use std::collections::BTreeMap;
use std::sync::Arc;

use spinrt_app::variables::Template;
use spinrt_app::{App, Component};
use wasmtime::component::{HasData, Linker};

use super::bindings::fermyon::spin::variables;
use super::bindings::wasi::config::store as wasi_config;
use crate::{EngineError, InstanceState};

/// Environment variables with this prefix provide variable values.
pub const ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// The app's variables with their values.
#[derive(Clone, Debug, Default)]
pub struct AppVariables {
    values: BTreeMap<String, String>,
}

impl AppVariables {
    /// Resolves every declared variable; `env` looks up environment variables.
    pub fn resolve(app: &App, env: impl Fn(&str) -> Option<String>) -> Result<Self, EngineError> {
        let mut values = BTreeMap::new();
        for (name, variable) in &app.variables {
            let from_env = env(&format!("{ENV_PREFIX}{}", name.to_ascii_uppercase()));
            match from_env.or_else(|| variable.default.clone()) {
                Some(value) => {
                    values.insert(name.clone(), value);
                }
                None => {
                    return Err(EngineError::Variable(format!(
                        "variable '{name}' is required but has no value: set \
                         {ENV_PREFIX}{}",
                        name.to_ascii_uppercase()
                    )));
                }
            }
        }
        Ok(Self { values })
    }

    /// Renders a `{{ variable }}` template.
    pub fn render(&self, text: &str) -> Result<String, EngineError> {
        let template = Template::parse(text).map_err(EngineError::Variable)?;
        template.render(|name| {
            self.values.get(name).cloned().ok_or_else(|| {
                EngineError::Variable(format!("'{text}' refers to undeclared variable '{name}'"))
            })
        })
    }

    /// A component's variables, rendered.
    pub fn for_component(&self, component: &Component) -> Result<ComponentVariables, EngineError> {
        let values = component
            .variables
            .iter()
            .map(|(name, template)| {
                let value = self.render(template).map_err(|e| {
                    EngineError::component(&component.id, format!("variable '{name}': {e}"))
                })?;
                Ok((name.clone(), value))
            })
            .collect::<Result<_, EngineError>>()?;
        Ok(ComponentVariables(Arc::new(values)))
    }
}

/// What a component's guest can read; shared by all its instances.
#[derive(Clone, Debug, Default)]
pub struct ComponentVariables(Arc<BTreeMap<String, String>>);

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    fn view(s: &mut InstanceState) -> &mut ComponentVariables {
        &mut s.host_and_table().0.variables
    }
    variables::add_to_linker::<_, Variables>(linker, view)?;
    wasi_config::add_to_linker::<_, Variables>(linker, view)
}

struct Variables;

impl HasData for Variables {
    type Data<'a> = &'a mut ComponentVariables;
}

impl variables::Host for ComponentVariables {
    async fn get(&mut self, name: String) -> Result<String, variables::Error> {
        spinrt_app::variables::validate_name(&name).map_err(variables::Error::InvalidName)?;
        self.0
            .get(&name)
            .cloned()
            .ok_or(variables::Error::Undefined(format!(
                "no variable named '{name}'"
            )))
    }
}

/// As in Spin: an unknown or invalid name is no value, not an error.
impl wasi_config::Host for ComponentVariables {
    async fn get(&mut self, key: String) -> Result<Option<String>, wasi_config::Error> {
        Ok(self.0.get(&key).cloned())
    }

    async fn get_all(&mut self) -> Result<Vec<(String, String)>, wasi_config::Error> {
        Ok(self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}
