//! The gateway's span names and attribute keys — fastmcp-gateway's, exactly, so dashboards and
//! alerts built on it keep working — and the constructors of those spans.
//!
//! Spans exist only while trace export is on: otherwise every constructor returns
//! [`Span::none`] after one relaxed atomic load, so tracing costs nothing when it is off.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::Status;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// `discover_tools`.
pub const DISCOVER_TOOLS: &str = "gateway.discover_tools";
/// `get_tool_schema`.
pub const GET_TOOL_SCHEMA: &str = "gateway.get_tool_schema";
/// `execute_tool`.
pub const EXECUTE_TOOL: &str = "gateway.execute_tool";
/// `refresh_registry`.
pub const REFRESH_REGISTRY: &str = "gateway.refresh_registry";
/// Listing every upstream at start-up.
pub const POPULATE_ALL: &str = "gateway.populate_all";
/// The periodic refresh (`server.refresh_interval`).
pub const BACKGROUND_REFRESH: &str = "gateway.background_refresh";
/// Applying a changed configuration.
pub const RELOAD: &str = "gateway.reload";
/// One `tools/call` sent to an upstream (a child of `gateway.execute_tool`).
pub const UPSTREAM_CALL: &str = "gateway.upstream.call";
/// Listing one upstream's tools (a child of whatever asked for it).
pub const UPSTREAM_LIST: &str = "gateway.upstream.list";

/// The upstream (domain) a span is about.
pub const DOMAIN: &str = "gateway.domain";
/// The gateway's name of the tool.
pub const TOOL_NAME: &str = "gateway.tool_name";
/// How many results (tools, domains, changes) the operation produced.
pub const RESULT_COUNT: &str = "gateway.result_count";
/// The gateway error code of a failed operation (`tool_not_found`, `upstream_timeout`, …).
pub const ERROR_CODE: &str = "gateway.error_code";
/// A `discover_tools` search query (at most [`MAX_QUERY_CHARS`] characters).
pub const QUERY: &str = "gateway.query";
/// How many upstreams an operation covered.
pub const DOMAIN_COUNT: &str = "gateway.domain_count";
/// Tools in the registry after the operation.
pub const TOTAL_TOOLS: &str = "gateway.total_tools";
/// The configuration generation a reload produced.
pub const CONFIG_GENERATION: &str = "gateway.config_generation";

/// Longest query text recorded on a span.
pub const MAX_QUERY_CHARS: usize = 256;

/// The `tracing` target of every gateway span (the exporter's filter selects it).
pub const TARGET: &str = "mcp_gateway::span";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are being recorded (an exporter is installed).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Turns span recording on; done once the exporter's layer is installed.
pub(crate) fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Defines one constructor per span name; the name must be a constant (tracing keeps it in a
/// static call site), the kind one of `server`, `client`, `internal`.
macro_rules! constructor {
    ($(#[$doc:meta])* $fn_name:ident, $name:path, $kind:literal) => {
        $(#[$doc])*
        pub fn $fn_name() -> Span {
            if !enabled() {
                return Span::none();
            }
            tracing::info_span!(target: TARGET, $name, otel.kind = $kind)
        }
    };
}

constructor!(
    /// A `gateway.discover_tools` span.
    discover_tools, DISCOVER_TOOLS, "server");
constructor!(
    /// A `gateway.get_tool_schema` span.
    get_tool_schema, GET_TOOL_SCHEMA, "server");
constructor!(
    /// A `gateway.execute_tool` span.
    execute_tool, EXECUTE_TOOL, "server");
constructor!(
    /// A `gateway.refresh_registry` span.
    refresh_registry, REFRESH_REGISTRY, "server");
constructor!(
    /// A `gateway.populate_all` span.
    populate_all, POPULATE_ALL, "internal");
constructor!(
    /// A `gateway.background_refresh` span.
    background_refresh, BACKGROUND_REFRESH, "internal");
constructor!(
    /// A `gateway.reload` span.
    reload, RELOAD, "internal");
constructor!(
    /// A `gateway.upstream.call` span.
    upstream_call, UPSTREAM_CALL, "client");
constructor!(
    /// A `gateway.upstream.list` span.
    upstream_list, UPSTREAM_LIST, "client");

/// Sets one attribute on `span`; `value` is only computed when the span is recorded.
pub fn set<V: Into<opentelemetry::Value>>(
    span: &Span,
    key: &'static str,
    value: impl FnOnce() -> V,
) {
    if !span.is_none() {
        span.set_attribute(key, value());
    }
}

/// Sets a count attribute, saturating at `i64::MAX`.
pub fn set_count(span: &Span, key: &'static str, count: usize) {
    if !span.is_none() {
        span.set_attribute(key, i64::try_from(count).unwrap_or(i64::MAX));
    }
}

/// Marks `span` failed with the gateway error `code` (attribute and span status).
pub fn fail(span: &Span, code: &str) {
    if !span.is_none() {
        span.set_attribute(ERROR_CODE, code.to_string());
        span.set_status(Status::error(code.to_string()));
    }
}

/// Makes `parent` (a caller's trace context) the parent of `span`; before the span is entered.
pub fn set_parent(span: &Span, parent: opentelemetry::Context) {
    if !span.is_none() {
        // Fails only when the OpenTelemetry layer is missing, and then there is nothing to link.
        let _ = span.set_parent(parent);
    }
}

/// Sets one attribute on the current span; `value` is only computed when spans are on.
pub fn record<V: Into<opentelemetry::Value>>(key: &'static str, value: impl FnOnce() -> V) {
    if enabled() {
        set(&Span::current(), key, value);
    }
}

/// Sets a count attribute on the current span, when spans are on.
pub fn record_count(key: &'static str, count: usize) {
    if enabled() {
        set_count(&Span::current(), key, count);
    }
}
