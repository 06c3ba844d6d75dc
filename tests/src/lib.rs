//! The harness every end-to-end test shares: test apps built from source, free ports, and
//! servers started on loopback.

pub mod apps;
pub mod bins;
pub mod conformance;
pub mod containerd;
pub mod cri;
pub mod images;
pub mod net;
pub mod netns;
pub mod otlp;
pub mod registry;
pub mod report;
pub mod server;
pub mod services;
