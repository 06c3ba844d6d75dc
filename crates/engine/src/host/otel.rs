//! `wasi:otel/tracing@0.2.0-rc.2`, what spin-sdk 7's experimental world offers a guest to
//! emit spans of its own: they join the request's trace and go out with the host's spans.
//!
//! As in Spin: `outer-span-context` is the request's span; between a guest span's `on-start`
//! and `on-end` the host's own spans (outbound HTTP, key-value, ...) are children of the
//! innermost guest span still open; `on-end` exports the span the guest recorded (if it is
//! sampled); ending a span that was never started traps. Unlike Spin, opening more than
//! [`MAX_OPEN_SPANS`] at once traps too: the host keeps each one. With tracing off every call is a
//! no-op and the outer context is the empty one. `wasi:otel/metrics` and `logs` are not
//! offered: a component importing them fails to load, naming the interface.

use std::time::{Duration, SystemTime};

use spinrt_telemetry::opentelemetry::trace::{
    self as otel, SpanId, TraceFlags, TraceId, TraceState,
};
use spinrt_telemetry::opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use spinrt_telemetry::opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
use spinrt_telemetry::traces::{self, TraceContext};
use wasmtime::component::{HasData, Linker};
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;

use super::bindings::wasi::otel::tracing;
use super::bindings::wasi::otel::types;
use crate::InstanceState;

/// How many spans one instance may have open (started, not ended) at once.
const MAX_OPEN_SPANS: usize = 1024;

/// The guest's open spans in one instance.
#[derive(Default)]
pub struct GuestSpans {
    /// The request's own trace, kept while guest spans stand in for it.
    request: Option<TraceContext>,
    /// Started and not yet ended, oldest first.
    open: Vec<otel::SpanContext>,
}

/// What the interface works on: the trace host spans are made in, and the guest's open spans.
pub(crate) struct Otel<'a> {
    trace: &'a mut Option<TraceContext>,
    spans: &'a mut GuestSpans,
}

fn view(s: &mut InstanceState) -> Otel<'_> {
    let host = s.host_and_table().0;
    Otel {
        trace: &mut host.http.trace,
        spans: &mut host.otel,
    }
}

pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    tracing::add_to_linker::<_, HasOtel>(linker, view)?;
    types::add_to_linker::<_, HasOtel>(linker, view)
}

struct HasOtel;

impl HasData for HasOtel {
    type Data<'a> = Otel<'a>;
}

impl types::Host for Otel<'_> {}

impl tracing::Host for Otel<'_> {
    async fn on_start(&mut self, context: tracing::SpanContext) -> wasmtime::Result<()> {
        let Some(current) = self.trace.as_ref() else {
            return Ok(());
        };
        // The host keeps each open span: a guest may not grow that without bound.
        if self.spans.open.len() >= MAX_OPEN_SPANS {
            wasmtime::bail!("wasi:otel: the guest has {MAX_OPEN_SPANS} spans open at once");
        }
        let context = span_context(context)?;
        let request = self.spans.request.get_or_insert_with(|| current.clone());
        *self.trace = Some(request.within(context.clone()));
        self.spans.open.push(context);
        Ok(())
    }

    async fn on_end(&mut self, span: tracing::SpanData) -> wasmtime::Result<()> {
        if self.trace.is_none() {
            return Ok(());
        }
        let context = span_context(span.span_context.clone())?;
        let at = self
            .spans
            .open
            .iter()
            .rposition(|open| open.span_id() == context.span_id())
            .ok_or_else(|| {
                wasmtime::format_err!(
                    "wasi:otel: the guest ended span {}, which it never started",
                    span.span_context.span_id
                )
            })?;
        self.spans.open.remove(at);
        let request = self.spans.request.as_ref().expect("kept by on-start");
        *self.trace = Some(match self.spans.open.last() {
            Some(open) => request.within(open.clone()),
            None => request.clone(),
        });
        traces::export_guest_span(span_data(span, context)?);
        Ok(())
    }

    async fn outer_span_context(&mut self) -> wasmtime::Result<tracing::SpanContext> {
        let outer = match self.spans.request.as_ref().or(self.trace.as_ref()) {
            Some(trace) => trace.span_context(),
            None => otel::SpanContext::empty_context(),
        };
        Ok(wit_span_context(&outer))
    }
}

fn span_context(context: tracing::SpanContext) -> wasmtime::Result<otel::SpanContext> {
    let trace_id = TraceId::from_hex(&context.trace_id).map_err(|_| {
        wasmtime::format_err!("wasi:otel: trace id '{}' is not hex", context.trace_id)
    })?;
    let span_id = SpanId::from_hex(&context.span_id).map_err(|_| {
        wasmtime::format_err!("wasi:otel: span id '{}' is not hex", context.span_id)
    })?;
    let flags = if context.trace_flags.contains(tracing::TraceFlags::SAMPLED) {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    // An invalid trace state is an empty one (the interface's rule).
    let state = TraceState::from_key_value(context.trace_state).unwrap_or_default();
    Ok(otel::SpanContext::new(
        trace_id,
        span_id,
        flags,
        context.is_remote,
        state,
    ))
}

fn wit_span_context(context: &otel::SpanContext) -> tracing::SpanContext {
    let mut flags = tracing::TraceFlags::empty();
    if context.is_sampled() {
        flags |= tracing::TraceFlags::SAMPLED;
    }
    let state = context.trace_state().header();
    tracing::SpanContext {
        trace_id: context.trace_id().to_string(),
        span_id: context.span_id().to_string(),
        trace_flags: flags,
        is_remote: context.is_remote(),
        trace_state: state
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn span_data(
    span: tracing::SpanData,
    context: otel::SpanContext,
) -> wasmtime::Result<spinrt_telemetry::opentelemetry_sdk::trace::SpanData> {
    let parent_span_id = match span.parent_span_id.as_str() {
        "" => SpanId::INVALID,
        hex => SpanId::from_hex(hex)
            .map_err(|_| wasmtime::format_err!("wasi:otel: parent span id '{hex}' is not hex"))?,
    };
    let mut events = SpanEvents::default();
    events.events = span
        .events
        .into_iter()
        .map(|e| otel::Event::new(e.name, time(e.time), attributes(e.attributes), 0))
        .collect();
    events.dropped_count = span.dropped_events;
    let mut links = SpanLinks::default();
    links.links = span
        .links
        .into_iter()
        .map(|l| {
            Ok(otel::Link::new(
                span_context(l.span_context)?,
                attributes(l.attributes),
                0,
            ))
        })
        .collect::<wasmtime::Result<_>>()?;
    links.dropped_count = span.dropped_links;
    let scope = span.instrumentation_scope;
    let mut builder =
        InstrumentationScope::builder(scope.name).with_attributes(attributes(scope.attributes));
    if let Some(version) = scope.version {
        builder = builder.with_version(version);
    }
    if let Some(url) = scope.schema_url {
        builder = builder.with_schema_url(url);
    }
    Ok(spinrt_telemetry::opentelemetry_sdk::trace::SpanData {
        span_context: context,
        parent_span_id,
        parent_span_is_remote: false,
        span_kind: match span.span_kind {
            tracing::SpanKind::Client => otel::SpanKind::Client,
            tracing::SpanKind::Server => otel::SpanKind::Server,
            tracing::SpanKind::Producer => otel::SpanKind::Producer,
            tracing::SpanKind::Consumer => otel::SpanKind::Consumer,
            tracing::SpanKind::Internal => otel::SpanKind::Internal,
        },
        name: span.name.into(),
        start_time: time(span.start_time),
        end_time: time(span.end_time),
        attributes: attributes(span.attributes),
        dropped_attributes_count: span.dropped_attributes,
        events,
        links,
        status: match span.status {
            tracing::Status::Unset => otel::Status::Unset,
            tracing::Status::Ok => otel::Status::Ok,
            tracing::Status::Error(description) => otel::Status::error(description),
        },
        instrumentation_scope: builder.build(),
    })
}

fn attributes(list: Vec<types::KeyValue>) -> Vec<KeyValue> {
    list.into_iter()
        .map(|kv| KeyValue::new(kv.key, attribute_value(&kv.value)))
        .collect()
}

fn time(datetime: Datetime) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::new(datetime.seconds, datetime.nanoseconds)
}

/// An attribute's value as `wasi:otel` passes it: JSON (a boolean, number, string or an
/// array of one of those); anything else is kept as the text the guest sent.
fn attribute_value(json: &str) -> Value {
    use serde_json::Value as Json;
    match serde_json::from_str::<Json>(json) {
        Ok(Json::Bool(b)) => Value::Bool(b),
        Ok(Json::Number(n)) => match n.as_i64() {
            Some(i) => Value::I64(i),
            None => Value::F64(n.as_f64().unwrap_or(f64::NAN)),
        },
        Ok(Json::String(s)) => Value::String(s.into()),
        Ok(Json::Array(items)) => {
            array(&items).map_or_else(|| Value::String(json.to_string().into()), Value::Array)
        }
        _ => Value::String(json.to_string().into()),
    }
}

/// A JSON array whose items are all of one kind OpenTelemetry has arrays of.
fn array(items: &[serde_json::Value]) -> Option<Array> {
    fn all<T>(
        items: &[serde_json::Value],
        f: impl Fn(&serde_json::Value) -> Option<T>,
    ) -> Option<Vec<T>> {
        items.iter().map(f).collect()
    }
    all(items, serde_json::Value::as_bool)
        .map(Array::Bool)
        .or_else(|| all(items, serde_json::Value::as_i64).map(Array::I64))
        .or_else(|| all(items, serde_json::Value::as_f64).map(Array::F64))
        .or_else(|| {
            all(items, |v| {
                v.as_str().map(|s| StringValue::from(s.to_string()))
            })
            .map(Array::String)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_are_decoded_from_json() {
        assert_eq!(attribute_value("42"), Value::I64(42));
        assert_eq!(attribute_value("1.5"), Value::F64(1.5));
        assert_eq!(attribute_value("true"), Value::Bool(true));
        assert_eq!(attribute_value("\"hi\""), Value::String("hi".into()));
        assert_eq!(
            attribute_value("[true,false]"),
            Value::Array(Array::Bool(vec![true, false]))
        );
        assert_eq!(
            attribute_value("[\"a\",\"b\"]"),
            Value::Array(Array::String(vec!["a".into(), "b".into()]))
        );
        // Not one of OpenTelemetry's kinds: the text itself.
        assert_eq!(
            attribute_value("[1,\"a\"]"),
            Value::String("[1,\"a\"]".into())
        );
        assert_eq!(
            attribute_value("{\"k\":1}"),
            Value::String("{\"k\":1}".into())
        );
        assert_eq!(
            attribute_value("not json"),
            Value::String("not json".into())
        );
    }
}
