//! `fermyon:spin/config`: Spin 1's name for component variables, with its own error cases.

use super::bindings::fermyon::spin::config::{self, Error};
use crate::host::bindings::fermyon::spin::variables::{self, Error as VariablesError};
use crate::host::variables::ComponentVariables;

impl config::Host for ComponentVariables {
    async fn get_config(&mut self, key: String) -> Result<String, Error> {
        variables::Host::get(self, key).await.map_err(|e| match e {
            VariablesError::InvalidName(m) => Error::InvalidKey(m),
            VariablesError::Undefined(m) | VariablesError::Provider(m) => Error::Provider(m),
            VariablesError::Other(m) => Error::Other(m),
        })
    }
}
