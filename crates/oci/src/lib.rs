//! Spin apps as OCI artifacts, in the format `spin registry push` writes (Spin 2 and later):
//!
//! - image config: a standard OCI config with `architecture: "wasm"`, `os: "Wasip1"`, no rootfs
//!   layers and the label `com.fermyon.spin.lockedAppDigest`;
//! - layers: each distinct component Wasm (`application/vnd.wasm.content.layer.v1+wasm`), each
//!   distinct static file (`application/vnd.wasm.content.layer.v1+data`; files of 128 bytes or
//!   less are inlined in the locked app instead), and the locked app JSON itself
//!   (`application/vnd.fermyon.spin.application.v1+config`).
//!
//! [`read`] turns such layers (or the Spin 1 form, where the config *is* the locked app) into an
//! [`spinrt_app::App`]; [`pack`] builds the artifact from an app; [`layout`] reads and writes OCI
//! image layouts (a directory or a tarball that `ctr images import` accepts); [`registry`] pushes
//! and pulls them.

mod digest;
mod error;
mod image;
pub mod layout;
pub mod media_types;
mod pack;
mod read;
pub mod registry;

pub use digest::{sha256_digest, verify_digest};
pub use error::OciError;
pub use image::{Blob, Image};
pub use pack::pack;
pub use read::{Layer, read, read_layers};
