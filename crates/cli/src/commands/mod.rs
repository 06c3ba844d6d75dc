pub mod up;
