//! The command trigger (the spin-trigger-command plugin's `[[trigger.command]]`): each
//! component is a WASI command (it exports `wasi:cli/run`), run once in a fresh instance, in
//! manifest order; the app ends with the exit code of the first that fails, else 0. What a
//! Kubernetes Job or CronJob runs.

use std::sync::Arc;

use spinrt_engine::wasmtime_wasi::I32Exit;
use spinrt_engine::wasmtime_wasi::p2::bindings::CommandPre;
use spinrt_engine::{InstanceState, LoadedApp};

#[derive(Debug, thiserror::Error)]
#[error("command trigger '{trigger}': {message}")]
pub struct CommandTriggerError {
    trigger: String,
    message: String,
}

struct Command {
    trigger: String,
    component: String,
    pre: CommandPre<InstanceState>,
}

pub struct CommandTrigger {
    app: Arc<LoadedApp>,
    commands: Vec<Command>,
}

impl CommandTrigger {
    /// `None` when the app has no command trigger; a component that is no WASI command fails
    /// here.
    pub fn new(app: &Arc<LoadedApp>) -> Result<Option<Self>, CommandTriggerError> {
        let triggers = &app.app().command_triggers;
        if triggers.is_empty() {
            return Ok(None);
        }
        let commands = triggers
            .iter()
            .map(|t| {
                let error = |message: String| CommandTriggerError {
                    trigger: t.id.clone(),
                    message,
                };
                let component = app
                    .component(&t.component)
                    .ok_or_else(|| error(format!("component '{}' was not loaded", t.component)))?;
                let pre = CommandPre::new(component.instance_pre().clone()).map_err(|e| {
                    error(format!(
                        "component '{}' is no WASI command: it exports no wasi:cli/run ({e:#})",
                        t.component
                    ))
                })?;
                Ok(Command {
                    trigger: t.id.clone(),
                    component: t.component.clone(),
                    pre,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(Self {
            app: app.clone(),
            commands,
        }))
    }

    /// Runs the commands; the exit code of the first that fails, else 0.
    pub async fn run(self) -> i32 {
        for command in &self.commands {
            let code = self.run_one(command).await;
            log::info!(
                "command trigger '{}': component '{}' exited with {code}",
                command.trigger,
                command.component
            );
            if code != 0 {
                return code;
            }
        }
        0
    }

    async fn run_one(&self, command: &Command) -> i32 {
        let Some(component) = self.app.component(&command.component) else {
            return 1;
        };
        let outcome = async {
            let mut store = component.new_store()?;
            let guest = command.pre.instantiate_async(&mut store).await?;
            guest.wasi_cli_run().call_run(&mut store).await
        }
        .await;
        match outcome {
            Ok(Ok(())) => 0,
            Ok(Err(())) => 1,
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(I32Exit(code)) => *code,
                None => {
                    log::error!(
                        "command trigger '{}': component '{}' failed: {e:?}",
                        command.trigger,
                        command.component
                    );
                    1
                }
            },
        }
    }
}
