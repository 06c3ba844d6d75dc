//! Task events to containerd (TaskCreate, TaskStart, TaskExit, TaskOOM, ...), in order, each
//! over a connection of its own: a ttrpc client kept open polls its socket 100 times a second,
//! and every idle pod would pay for it.
//!
//! An event containerd cannot take (it is restarting, or too busy to accept a connection) is
//! kept and sent again, as containerd's own shims do: CRI learns that a container exited only
//! from its TaskExit, so a lost one would show a dead container as running until the next
//! restart of containerd. Later events queue behind it, so containerd sees them in order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use containerd_shim::event::Event;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::events::{Envelope, ForwardRequest};
use containerd_shim::protos::ttrpc;
use containerd_shim::protos::{Client, EventsClient};

use crate::daemon::any;

/// How long one attempt may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an event is retried before it is dropped (with an error in the log): longer than
/// containerd takes to restart on a busy node.
const GIVE_UP_AFTER: Duration = Duration::from_secs(300);
/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub struct Events {
    namespace: String,
    /// containerd's ttrpc socket.
    address: String,
    backlog: Arc<Mutex<Backlog>>,
}

/// Events not yet taken, oldest first, and whether a thread is sending them.
#[derive(Default)]
struct Backlog {
    queue: VecDeque<ForwardRequest>,
    draining: bool,
}

impl Events {
    pub fn new(namespace: &str, address: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            address: address.to_string(),
            backlog: Arc::default(),
        }
    }

    pub fn send<E: Event + Message>(&self, event: E) {
        let topic = event.topic();
        let request = match self.request(&topic, &event) {
            Ok(request) => request,
            Err(e) => {
                log::error!("encoding event {topic}: {e}");
                return;
            }
        };
        let mut backlog = self.backlog.lock().expect("not poisoned");
        if backlog.queue.is_empty() {
            match forward(&self.address, &request) {
                Ok(()) => return,
                Err(e) => log::warn!("publishing {topic}: {e}; retrying"),
            }
        }
        backlog.queue.push_back(request);
        if !backlog.draining {
            backlog.draining = true;
            let (address, backlog) = (self.address.clone(), self.backlog.clone());
            std::thread::spawn(move || drain(&address, &backlog));
        }
    }

    /// The envelope is made once, so a retried event keeps the time it happened.
    fn request(
        &self,
        topic: &str,
        event: &impl Message,
    ) -> containerd_shim::Result<ForwardRequest> {
        let mut envelope = Envelope::new();
        envelope.set_topic(topic.to_string());
        envelope.set_namespace(self.namespace.clone());
        envelope.set_timestamp(containerd_shim::util::timestamp()?);
        envelope.set_event(any::pack(any::EVENTS_PACKAGE, event)?);
        let mut request = ForwardRequest::new();
        request.set_envelope(envelope);
        Ok(request)
    }
}

/// Sends the backlog in order until it is empty.
fn drain(address: &str, backlog: &Mutex<Backlog>) {
    let mut first_failure = Instant::now();
    let mut attempt = 0u32;
    loop {
        let request = {
            let mut backlog = backlog.lock().expect("not poisoned");
            match backlog.queue.front() {
                Some(request) => request.clone(),
                None => {
                    backlog.draining = false;
                    return;
                }
            }
        };
        attempt += 1;
        let topic = &request.envelope.topic;
        match forward(address, &request) {
            Ok(()) => log::info!("published {topic} on retry {attempt}"),
            Err(e) if first_failure.elapsed() > GIVE_UP_AFTER => {
                log::error!("dropping event {topic} after {attempt} attempts: {e}")
            }
            Err(_) => {
                std::thread::sleep((Duration::from_millis(250) * attempt).min(MAX_BACKOFF));
                continue;
            }
        }
        backlog.lock().expect("not poisoned").queue.pop_front();
        first_failure = Instant::now();
        attempt = 0;
    }
}

fn forward(address: &str, request: &ForwardRequest) -> containerd_shim::Result<()> {
    let fd = containerd_shim::util::connect(address)?;
    // Client::new takes the descriptor.
    let client = EventsClient::new(Client::new(fd)?);
    let context = ttrpc::context::with_timeout(SEND_TIMEOUT.as_nanos() as i64);
    client.forward(context, request)?;
    Ok(())
}
