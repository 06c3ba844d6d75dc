pub mod pack;
pub mod up;
