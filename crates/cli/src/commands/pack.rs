use std::path::PathBuf;

use anyhow::Context;

/// Pack an app into an OCI image layout tarball, in the format `spin registry push` uses;
/// `ctr images import` accepts it.
#[derive(clap::Args)]
pub struct PackCommand {
    /// The app: a spin.toml, or a directory holding one.
    #[arg(short = 'f', long = "from", default_value = ".")]
    from: PathBuf,
    /// The image reference recorded in the tarball, e.g. `localhost/hello:v1`.
    #[arg(short, long)]
    tag: String,
    /// Where to write the tarball.
    #[arg(short, long)]
    output: PathBuf,
}

impl PackCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let app = spinrt_app::manifest::load(&self.from)?;
        let image = spinrt_oci::pack(&app)?;
        let file = std::fs::File::create(&self.output)
            .with_context(|| format!("cannot create {}", self.output.display()))?;
        spinrt_oci::layout::write_tar(&image, &self.tag, std::io::BufWriter::new(file))?;
        log::info!(
            "packed '{}' as {} ({} layers, manifest {}) into {}",
            app.name,
            self.tag,
            image.layers.len(),
            image.manifest.digest,
            self.output.display()
        );
        Ok(())
    }
}
