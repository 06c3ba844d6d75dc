use std::path::PathBuf;

use super::registry::RegistryArgs;

/// Push an app to a registry as a Spin OCI artifact, like `spin registry push`.
#[derive(clap::Args)]
pub struct PushCommand {
    /// The app: a spin.toml, or a directory holding one.
    #[arg(short = 'f', long = "from", default_value = ".")]
    from: PathBuf,
    /// Where to push, e.g. `registry.example.com/apps/hello:v1`.
    reference: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl PushCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let app = spinrt_app::manifest::load(&self.from)?;
        let image = spinrt_oci::pack(&app)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let digest = runtime.block_on(self.registry.registry().push(&image, &self.reference))?;
        log::info!(
            "pushed '{}' to {} ({} layers)",
            app.name,
            self.reference,
            image.layers.len()
        );
        // The digest on stdout, alone, so scripts can pin `reference@digest`.
        println!("{digest}");
        Ok(())
    }
}
