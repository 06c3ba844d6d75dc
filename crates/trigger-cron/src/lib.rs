//! The cron trigger (the spin-trigger-cron plugin's `[[trigger.cron]]`): each trigger calls its
//! component's `handle-cron-event` at every time its cron expression (with seconds) names, in
//! a fresh instance, with the scheduled time as `timestamp` (Unix seconds). Invocations of one
//! trigger never overlap: a run that outlasts the next time skips it, and the trigger waits for
//! the one after.

use std::str::FromStr;
use std::sync::Arc;

use chrono::Utc;
use spinrt_engine::exports::cron::SpinCronPre;
use spinrt_engine::exports::cron::fermyon::spin_cron::cron_types::Metadata;
use spinrt_engine::{InstanceState, LoadedApp};

#[derive(Debug, thiserror::Error)]
#[error("cron trigger '{trigger}': {message}")]
pub struct CronTriggerError {
    trigger: String,
    message: String,
}

struct Job {
    trigger: String,
    component: String,
    schedule: cron::Schedule,
    pre: SpinCronPre<InstanceState>,
}

pub struct CronTrigger {
    app: Arc<LoadedApp>,
    jobs: Vec<Job>,
}

impl CronTrigger {
    /// `None` when the app has no cron trigger; an expression that does not parse, or a
    /// component without `handle-cron-event`, fails here.
    pub fn new(app: &Arc<LoadedApp>) -> Result<Option<Self>, CronTriggerError> {
        let triggers = &app.app().cron_triggers;
        if triggers.is_empty() {
            return Ok(None);
        }
        let jobs = triggers
            .iter()
            .map(|t| {
                let error = |message: String| CronTriggerError {
                    trigger: t.id.clone(),
                    message,
                };
                let schedule = cron::Schedule::from_str(&t.cron_expression).map_err(|e| {
                    error(format!(
                        "cron_expression '{}' is not a schedule ({e}); it takes seconds: \
                         'sec min hour day-of-month month day-of-week [year]'",
                        t.cron_expression
                    ))
                })?;
                let component = app
                    .component(&t.component)
                    .ok_or_else(|| error(format!("component '{}' was not loaded", t.component)))?;
                let pre = SpinCronPre::new(component.instance_pre().clone()).map_err(|e| {
                    error(format!(
                        "component '{}' exports no handle-cron-event ({e:#})",
                        t.component
                    ))
                })?;
                Ok(Job {
                    trigger: t.id.clone(),
                    component: t.component.clone(),
                    schedule,
                    pre,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(Self {
            app: app.clone(),
            jobs,
        }))
    }

    /// Runs every schedule until `shutdown`; a run in progress then is finished first.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Clone + Send + 'static) {
        let app = self.app;
        let tasks: Vec<_> = self
            .jobs
            .into_iter()
            .map(|job| tokio::spawn(job.run(app.clone(), shutdown.clone())))
            .collect();
        for task in tasks {
            if let Err(e) = task.await {
                log::error!("cron trigger: a schedule ended abnormally: {e}");
            }
        }
    }
}

impl Job {
    async fn run(self, app: Arc<LoadedApp>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        log::info!(
            "cron trigger '{}': component '{}' on '{}'",
            self.trigger,
            self.component,
            self.schedule
        );
        loop {
            let Some(next) = self.schedule.upcoming(Utc).next() else {
                log::info!(
                    "cron trigger '{}': the schedule has no more times",
                    self.trigger
                );
                return;
            };
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut shutdown => return,
            }
            let timestamp = next.timestamp().max(0) as u64;
            match self.call(&app, timestamp).await {
                Ok(()) => log::debug!(
                    "cron trigger '{}': component '{}' ran for {timestamp}",
                    self.trigger,
                    self.component
                ),
                Err(e) => log::error!(
                    "cron trigger '{}': component '{}' failed: {e}",
                    self.trigger,
                    self.component
                ),
            }
        }
    }

    async fn call(&self, app: &LoadedApp, timestamp: u64) -> Result<(), String> {
        let component = app
            .component(&self.component)
            .ok_or_else(|| "not loaded".to_string())?;
        let mut store = component.new_store().map_err(|e| e.to_string())?;
        let guest = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| format!("{e:#}"))?;
        guest
            .call_handle_cron_event(&mut store, Metadata { timestamp })
            .await
            .map_err(|e| format!("{e:#}"))?
            .map_err(|e| format!("returned an error: {e:?}"))
    }
}
