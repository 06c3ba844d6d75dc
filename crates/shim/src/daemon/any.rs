//! `google.protobuf.Any` for what the daemon sends containerd (task events, task metrics),
//! named from the message type's name and its proto package, both known when it is compiled.
//!
//! containerd-shim's `convert_to_any` asks the message for its reflection descriptor, and
//! rust-protobuf builds the descriptor of the message's whole proto file (and of the files
//! it imports) on first use and keeps it: 336 KiB of heap for the task events' file and
//! 185 KiB more for the metrics' file, held by every pod's daemon for two names.

use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::protobuf::well_known_types::any::Any;

/// The proto package of containerd's task events (`api/events/task.proto`).
pub const EVENTS_PACKAGE: &str = "containerd.events";
/// The proto package of cgroup v1 metrics (`cgroups/stats/v1/metrics.proto`).
pub const CGROUPS_V1_PACKAGE: &str = "io.containerd.cgroups.v1";

/// `message` packed, its type URL `package.Name` as containerd's typeurl registry names it.
pub fn pack<M: Message>(
    package: &str,
    message: &M,
) -> containerd_shim::protos::protobuf::Result<Any> {
    let mut any = Any::new();
    any.type_url = format!("{package}.{}", M::NAME);
    any.value = message.write_to_bytes()?;
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::protos::cgroups::metrics::Metrics;
    use containerd_shim::protos::events::task::{
        TaskCreate, TaskDelete, TaskExit, TaskOOM, TaskStart,
    };
    use containerd_shim::protos::protobuf::MessageFull;

    /// The names are the ones the descriptors give (what containerd-shim's convert_to_any
    /// would have sent), for every message the daemon packs.
    fn same_as_descriptor<M: MessageFull>(package: &str, message: M) {
        let any = pack(package, &message).unwrap();
        assert_eq!(any.type_url, M::descriptor().full_name());
        assert_eq!(any.value, message.write_to_bytes().unwrap());
    }

    #[test]
    fn type_urls_are_the_descriptors_full_names() {
        let mut exit = TaskExit::new();
        exit.container_id = "c".into();
        exit.exit_status = 137;
        same_as_descriptor(EVENTS_PACKAGE, TaskCreate::new());
        same_as_descriptor(EVENTS_PACKAGE, TaskStart::new());
        same_as_descriptor(EVENTS_PACKAGE, exit);
        same_as_descriptor(EVENTS_PACKAGE, TaskOOM::new());
        same_as_descriptor(EVENTS_PACKAGE, TaskDelete::new());
        same_as_descriptor(CGROUPS_V1_PACKAGE, Metrics::new());
    }
}
