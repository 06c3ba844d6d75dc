use spinrt_oci::registry::{Registry, RegistryOptions};

/// How to reach a registry, shared by `push` and `up --from REFERENCE`.
#[derive(clap::Args, Clone, Debug)]
pub struct RegistryArgs {
    /// Talk plain HTTP to the registry (one on loopback or a trusted network).
    #[arg(long)]
    insecure: bool,
    /// Registry user name for basic auth [default: anonymous].
    #[arg(long, env = "SPINRT_REGISTRY_USERNAME", requires = "password")]
    username: Option<String>,
    /// Registry password for basic auth.
    #[arg(long, env = "SPINRT_REGISTRY_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

impl RegistryArgs {
    pub fn registry(&self) -> Registry {
        Registry::new(&RegistryOptions {
            insecure: self.insecure,
            credentials: self.username.clone().zip(self.password.clone()),
        })
    }
}
