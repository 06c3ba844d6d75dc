//! A cron component (the spin-trigger-cron plugin's `handle-cron-event`), bound with
//! wit-bindgen against the plugin's WIT: each run prints `cron LABEL: scheduled T, ran at M ms`
//! (LABEL from its environment, T the scheduled Unix second the trigger passes, M the guest's
//! wall clock in milliseconds), then, when its `HOLD` environment is set, holds for 2.5 s and
//! prints `cron LABEL: scheduled T done`, to show that runs of one trigger never overlap.

wit_bindgen::generate!({
    world: "spin-cron",
    path: "wit",
});

struct Cron;

impl Guest for Cron {
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| Error::Other(e.to_string()))?;
        let label = std::env::var("LABEL").unwrap_or_default();
        println!(
            "cron {label}: scheduled {}, ran at {} ms",
            metadata.timestamp,
            now.as_millis()
        );
        if std::env::var("HOLD").is_ok() {
            std::thread::sleep(std::time::Duration::from_millis(2500));
            println!("cron {label}: scheduled {} done", metadata.timestamp);
        }
        Ok(())
    }
}

export!(Cron);
