//! `fermyon:spin/variables@2.0.0`, `spin:variables/variables@3.0.0` (its async successor,
//! spin-sdk 7) and `wasi:config/store` (draft 2024-09-27, what Spin 3 offers for the same
//! values): application variables, resolved once when the app loads.
//!
//! A value comes from the first provider that has it: the environment
//! (`SPIN_VARIABLE_<NAME>`, what the Spin shim maps pod env to), the runtime config's
//! `[[variables_provider]]`s in order (`env` with its own prefix and dotenv file, `static`),
//! then the variable's `default`.
//! A `required` variable no provider has is a load error naming it. Component variables are
//! templates over these and are rendered at load time too.

use std::collections::BTreeMap;
use std::sync::Arc;

use spinrt_app::variables::Template;
use spinrt_app::{App, Component};
use wasmtime::component::{Accessor, HasData, Linker};

use super::bindings::fermyon::spin::variables;
use super::bindings::spin::variables::variables as variables3;
use super::bindings::wasi::config::store as wasi_config;
use crate::runtime_config::VariablesProvider;
use crate::{EngineError, InstanceState};

/// Environment variables `SPIN_VARIABLE_<NAME>` provide variable values, as in Spin.
const ENV_PREFIX: &str = "SPIN_VARIABLE";

/// The app's variables with their values.
#[derive(Clone, Debug, Default)]
pub struct AppVariables {
    values: BTreeMap<String, String>,
}

impl AppVariables {
    /// Resolves every declared variable from the environment `env` and then `providers`.
    pub fn resolve(
        app: &App,
        env: &BTreeMap<String, String>,
        providers: &[VariablesProvider],
    ) -> Result<Self, EngineError> {
        let mut values = BTreeMap::new();
        for (name, variable) in &app.variables {
            match lookup(name, env, providers).or_else(|| variable.default.clone()) {
                Some(value) => {
                    values.insert(name.clone(), value);
                }
                None => {
                    return Err(EngineError::Variable(format!(
                        "variable '{name}' is required but has no value: set \
                         {ENV_PREFIX}_{}",
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

/// The first provider's value for `name`: `SPIN_VARIABLE_<NAME>` (always asked first, as Spin
/// does), then the runtime config's providers in order.
fn lookup(
    name: &str,
    env: &BTreeMap<String, String>,
    providers: &[VariablesProvider],
) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    let from_env = |prefix: &str, dotenv: &BTreeMap<String, String>| {
        let key = format!("{prefix}_{upper}");
        env.get(&key).or_else(|| dotenv.get(&key)).cloned()
    };
    let no_dotenv = BTreeMap::new();
    std::iter::once(from_env(ENV_PREFIX, &no_dotenv))
        .chain(providers.iter().map(|provider| match provider {
            VariablesProvider::Env(p) => {
                from_env(p.prefix.as_deref().unwrap_or(ENV_PREFIX), &p.dotenv)
            }
            VariablesProvider::Static(p) => p.values.get(name).cloned(),
            // Refused when the runtime config is read.
            VariablesProvider::Vault(_) | VariablesProvider::AzureKeyVault(_) => None,
        }))
        .find_map(|value| value)
}

/// The component's variables, as every variables interface sees them.
pub(crate) fn view(s: &mut InstanceState) -> &mut ComponentVariables {
    &mut s.host_and_table().0.variables
}

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    variables::add_to_linker::<_, Variables>(linker, view)?;
    variables3::add_to_linker::<_, Variables>(linker, view)?;
    wasi_config::add_to_linker::<_, Variables>(linker, view)
}

pub(crate) struct Variables;

impl HasData for Variables {
    type Data<'a> = &'a mut ComponentVariables;
}

/// Why a variable has no value; both Spin versions' errors say it the same way.
enum NoValue {
    InvalidName(String),
    Undefined(String),
}

impl ComponentVariables {
    fn value(&self, name: &str) -> Result<String, NoValue> {
        spinrt_app::variables::validate_name(name).map_err(NoValue::InvalidName)?;
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| NoValue::Undefined(format!("no variable named '{name}'")))
    }
}

impl variables::Host for ComponentVariables {
    async fn get(&mut self, name: String) -> Result<String, variables::Error> {
        self.value(&name).map_err(|e| match e {
            NoValue::InvalidName(why) => variables::Error::InvalidName(why),
            NoValue::Undefined(why) => variables::Error::Undefined(why),
        })
    }
}

impl variables3::Host for ComponentVariables {}

impl<U> variables3::HostWithStore<U> for Variables {
    async fn get(store: &Accessor<U, Self>, name: String) -> Result<String, variables3::Error> {
        store.with(|mut access| {
            access.get().value(&name).map_err(|e| match e {
                NoValue::InvalidName(why) => variables3::Error::InvalidName(why),
                NoValue::Undefined(why) => variables3::Error::Undefined(why),
            })
        })
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
