//! A span of the guest's own, reported through `wasi:otel/tracing` as an OpenTelemetry SDK for
//! components would: started under the host's span (`outer-span-context`), announced with
//! `on-start` so the host's own spans made meanwhile (a key-value call) are its children, and
//! handed over whole with `on-end`.

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        path: "wit",
        world: "spinrt-test:otel/guest",
        generate_all,
    });
}

use bindings::wasi::clocks::wall_clock;
use bindings::wasi::otel::tracing::{self, Event, SpanContext, SpanData, SpanKind, Status};
use bindings::wasi::otel::types::{InstrumentationScope, KeyValue};

/// The id of the guest's span (any 8 bytes other than zero would do).
pub const SPAN_ID: &str = "5eed5eed5eed5eed";

fn attribute(key: &str, json: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: json.into(),
    }
}

/// Ends a span that was never started.
pub fn end_unstarted() -> String {
    let outer = tracing::outer_span_context();
    let context = SpanContext {
        span_id: "0123456789abcdef".into(),
        ..outer.clone()
    };
    let now = wall_clock::now();
    tracing::on_end(&span_data(
        context,
        &outer.span_id,
        "never started",
        now,
        now,
    ));
    "ended".into()
}

/// Starts `n` spans and ends none of them.
pub fn open_many(n: u64) -> String {
    let outer = tracing::outer_span_context();
    for i in 1..=n {
        tracing::on_start(&SpanContext {
            span_id: format!("{i:016x}"),
            ..outer.clone()
        });
    }
    format!("opened {n}")
}

/// Emits the span "guest work"; returns the host's span context it was started under.
pub async fn traced_work() -> anyhow::Result<String> {
    let outer = tracing::outer_span_context();
    let context = SpanContext {
        trace_id: outer.trace_id.clone(),
        span_id: SPAN_ID.into(),
        trace_flags: outer.trace_flags,
        is_remote: false,
        trace_state: outer.trace_state.clone(),
    };
    let start_time = wall_clock::now();
    tracing::on_start(&context);
    let store = spin_sdk::key_value::Store::open("default").await?;
    store.set("otel", b"inside the guest's span").await?;
    let halfway = wall_clock::now();
    let mut span = span_data(
        context,
        &outer.span_id,
        "guest work",
        start_time,
        wall_clock::now(),
    );
    span.attributes = vec![
        attribute("guest.answer", "42"),
        attribute("guest.word", "\"hello\""),
        attribute("guest.flags", "[true,false]"),
    ];
    span.events = vec![Event {
        name: "stored".into(),
        time: halfway,
        attributes: vec![attribute("guest.key", "\"otel\"")],
    }];
    span.status = Status::Ok;
    tracing::on_end(&span);
    Ok(format!("outer {} {}", outer.trace_id, outer.span_id))
}

/// A span named `name` with nothing recorded in it.
fn span_data(
    context: SpanContext,
    parent_span_id: &str,
    name: &str,
    start_time: wall_clock::Datetime,
    end_time: wall_clock::Datetime,
) -> SpanData {
    SpanData {
        span_context: context,
        parent_span_id: parent_span_id.into(),
        span_kind: SpanKind::Internal,
        name: name.into(),
        start_time,
        end_time,
        attributes: vec![],
        events: vec![],
        links: vec![],
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope {
            name: "sdk7-guest".into(),
            version: Some("0.1.0".into()),
            schema_url: None,
            attributes: vec![],
        },
        dropped_attributes: 0,
        dropped_events: 0,
        dropped_links: 0,
    }
}
