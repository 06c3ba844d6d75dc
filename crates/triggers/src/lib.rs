//! Runs every trigger an app declares, side by side in one process, until shutdown (or, for a
//! command app, until its commands end): what `spinrt up` and the shim's server both do with a
//! loaded app.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use futures_util::FutureExt;
use spinrt_engine::LoadedApp;
use spinrt_trigger_command::CommandTrigger;
use spinrt_trigger_cron::CronTrigger;
use spinrt_trigger_http::{HttpServer, ServeOptions};
use spinrt_trigger_mqtt::MqttTrigger;
use spinrt_trigger_redis::RedisTrigger;
use spinrt_trigger_sqs::SqsTrigger;
use tokio::net::TcpListener;

/// Where the HTTP trigger listens, if the app has one.
pub enum HttpListen {
    /// A listener bound before (the shim binds it before dropping its privileges).
    Bound(TcpListener),
    Addr(SocketAddr),
    /// Binding failed: an error only if the app has an HTTP trigger.
    Unavailable(anyhow::Error),
}

/// The exit code of a command app stopped before its commands finished (128 + SIGTERM).
const STOPPED: i32 = 143;

/// Builds each trigger (a component a trigger cannot call fails here, before anything runs),
/// then runs them until `shutdown`: the HTTP trigger gets `options.grace_period` for requests
/// in flight, a Redis or MQTT trigger finishes the message it is handling, an SQS trigger
/// the messages it holds, a cron trigger its run.
/// Returns the exit code the process should end with: a command app's, else 0.
pub async fn run(
    app: Arc<LoadedApp>,
    listen: HttpListen,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> anyhow::Result<i32> {
    // The app model lets command triggers stand only alone.
    if let Some(command) = CommandTrigger::new(&app)? {
        return Ok(tokio::select! {
            code = command.run() => code,
            () = shutdown => STOPPED,
        });
    }
    let http = if app.app().http_triggers.is_empty() {
        None
    } else {
        Some(Arc::new(HttpServer::new(app.clone(), options.reuse)?))
    };
    let redis = RedisTrigger::new(&app)?;
    let cron = CronTrigger::new(&app)?;
    let mqtt = MqttTrigger::new(&app)?;
    let sqs = SqsTrigger::new(&app).await?;
    let shutdown = shutdown.shared();
    let redis = redis.map(|r| tokio::spawn(r.run(shutdown.clone())));
    let cron = cron.map(|c| tokio::spawn(c.run(shutdown.clone())));
    let mqtt = mqtt.map(|m| tokio::spawn(m.run(shutdown.clone())));
    let sqs = sqs.map(|s| tokio::spawn(s.run(shutdown.clone())));
    match http {
        Some(http) => {
            let listener = match listen {
                HttpListen::Bound(listener) => listener,
                HttpListen::Addr(addr) => TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))?,
                HttpListen::Unavailable(e) => return Err(e),
            };
            http.announce_and_serve(listener, shutdown, options).await?;
        }
        None => log::info!(
            "running app '{}': it has no HTTP trigger, so nothing listens",
            app.app().name
        ),
    }
    if let Some(redis) = redis {
        redis.await.context("the redis trigger")?;
    }
    if let Some(cron) = cron {
        cron.await.context("the cron trigger")?;
    }
    if let Some(mqtt) = mqtt {
        mqtt.await.context("the mqtt trigger")?;
    }
    if let Some(sqs) = sqs {
        sqs.await.context("the sqs trigger")?;
    }
    Ok(0)
}
