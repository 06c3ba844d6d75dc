//! The Spin application model.
//!
//! Every way an app reaches us (a `spin.toml` of version 1 or 2, or the *locked app* JSON that
//! `spin registry push` stores in an OCI artifact) is normalised into one [`App`]. Everything
//! downstream (engine, HTTP trigger, OCI writer) works on that one model only.

mod error;
pub mod files;
pub mod locked;
pub mod manifest;
mod model;
pub mod routes;
pub mod variables;

pub use error::{AppError, Result};
pub use model::*;
