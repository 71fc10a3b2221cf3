//! W3C trace context in and out. The caller's `traceparent` — in the request's `_meta`
//! (SEP-414) or, failing that, the HTTP header — is the parent of the gateway's spans; each
//! upstream call carries the gateway's own context in `_meta` and, over HTTP, in the
//! `traceparent` header. With tracing off, the caller's context is passed on unchanged, so a
//! trace still joins client and upstream.

use std::collections::HashMap;

use http::HeaderName;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use rmcp::model::JsonObject;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `traceparent` header and `_meta` key.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` header and `_meta` key.
pub const TRACESTATE: &str = "tracestate";

/// [`TRACEPARENT`] as a header name (a lookup by `&str` parses the name each time).
static TRACEPARENT_HEADER: HeaderName = HeaderName::from_static(TRACEPARENT);
/// [`TRACESTATE`] as a header name.
static TRACESTATE_HEADER: HeaderName = HeaderName::from_static(TRACESTATE);

/// Longest `traceparent` considered (version 00 is 55 characters; later versions may add).
const MAX_TRACEPARENT_LEN: usize = 256;

/// A valid W3C trace context as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeaders {
    /// `00-<trace id>-<span id>-<flags>`.
    pub traceparent: String,
    /// Vendor state, passed on as received.
    pub tracestate: Option<String>,
}

impl Extractor for TraceHeaders {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => Some(&self.traceparent),
            TRACESTATE => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

/// Collects what the propagator writes.
#[derive(Default)]
struct Carrier(HashMap<String, String>);

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}

impl TraceHeaders {
    /// The context these headers describe (remote, as a parent).
    pub fn context(&self) -> opentelemetry::Context {
        TraceContextPropagator::new().extract(self)
    }

    /// Headers from text, or `None` when `traceparent` is not a valid W3C value. `tracestate`
    /// is kept as the propagator re-serialises it (invalid entries dropped, at most 32).
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<TraceHeaders> {
        if traceparent.len() > MAX_TRACEPARENT_LEN {
            return None;
        }
        let raw = TraceHeaders {
            traceparent: traceparent.trim().to_string(),
            tracestate: tracestate.map(str::trim).map(str::to_string),
        };
        let context = raw.context();
        let span = context.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return None;
        }
        let state = span_context.trace_state().header();
        Some(TraceHeaders {
            traceparent: raw.traceparent,
            tracestate: (!state.is_empty()).then_some(state),
        })
    }

    /// The context of `span` as headers, when it has one.
    pub fn of_span(span: &Span) -> Option<TraceHeaders> {
        if span.is_none() {
            return None;
        }
        let mut carrier = Carrier::default();
        TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
        let traceparent = carrier.0.remove(TRACEPARENT)?;
        Some(TraceHeaders {
            traceparent,
            tracestate: carrier.0.remove(TRACESTATE).filter(|s| !s.is_empty()),
        })
    }

    /// Writes these values into a request's `_meta`.
    pub fn write_meta(&self, meta: &mut JsonObject) {
        meta.insert(TRACEPARENT.into(), self.traceparent.clone().into());
        match &self.tracestate {
            Some(state) => meta.insert(TRACESTATE.into(), state.clone().into()),
            None => meta.remove(TRACESTATE),
        };
    }

    /// Writes these values as HTTP headers (values that are not valid header text are skipped).
    pub fn write_headers(&self, headers: &mut http::HeaderMap) {
        if let Ok(value) = http::HeaderValue::from_str(&self.traceparent) {
            headers.insert(TRACEPARENT, value);
        }
        headers.remove(TRACESTATE);
        if let Some(state) = &self.tracestate
            && let Ok(value) = http::HeaderValue::from_str(state)
        {
            headers.insert(TRACESTATE, value);
        }
    }
}

/// The caller's trace context: `_meta` first (it belongs to this very request), then the HTTP
/// headers. Invalid values are ignored.
pub fn incoming(meta: &JsonObject, headers: Option<&http::HeaderMap>) -> Option<TraceHeaders> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    if let Some(parent) = meta.get(TRACEPARENT).and_then(text) {
        let state = meta.get(TRACESTATE).and_then(text);
        if let Some(found) = TraceHeaders::parse(&parent, state.as_deref()) {
            return Some(found);
        }
    }
    let headers = headers?;
    let header = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    TraceHeaders::parse(header(&TRACEPARENT_HEADER)?, header(&TRACESTATE_HEADER))
}

#[cfg(test)]
mod tests {
    use super::{TraceHeaders, incoming};

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn meta_wins_over_header_and_garbage_is_ignored() {
        let other = "00-11111111111111111111111111111111-2222222222222222-01";
        let mut meta = rmcp::model::JsonObject::new();
        meta.insert("traceparent".into(), PARENT.into());
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", http::HeaderValue::from_static(other));
        let found = incoming(&meta, Some(&headers)).map(|h| h.traceparent);
        assert_eq!(found.as_deref(), Some(PARENT));
        meta.insert("traceparent".into(), "00-zz-yy-01".into());
        let found = incoming(&meta, Some(&headers)).map(|h| h.traceparent);
        assert_eq!(found.as_deref(), Some(other));
        assert_eq!(TraceHeaders::parse("not a traceparent", None), None);
        assert_eq!(
            TraceHeaders::parse(
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                None
            ),
            None
        );
    }
}
