pub mod pack;
pub mod push;
mod registry;
pub mod up;
