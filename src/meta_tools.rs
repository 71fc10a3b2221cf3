//! The four meta-tools the gateway exposes (`tools/list` returns exactly these): their
//! definitions, and dispatch of a call to the module that implements it.

mod args;
mod discover;
mod execute;
mod refresh;
mod schema;

use std::sync::{Arc, LazyLock};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, JsonObject, Tool, ToolAnnotations,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::answer::ToolAnswer;
use crate::argument_text::ArgumentText;
use crate::gateway::Gateway;
use crate::telemetry::{spans, trace_context};
use tracing::Instrument;

/// `discover_tools`.
pub const DISCOVER_TOOLS: &str = "discover_tools";
/// `get_tool_schema`.
pub const GET_TOOL_SCHEMA: &str = "get_tool_schema";
/// `execute_tool`.
pub const EXECUTE_TOOL: &str = "execute_tool";
/// `refresh_registry`.
pub const REFRESH_REGISTRY: &str = "refresh_registry";

static DEFINITIONS: LazyLock<Arc<Vec<Tool>>> = LazyLock::new(|| Arc::new(definitions()));

/// The meta-tool definitions, built once.
pub fn list() -> Arc<Vec<Tool>> {
    DEFINITIONS.clone()
}

fn schema(value: serde_json::Value) -> Arc<JsonObject> {
    match value {
        serde_json::Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

fn annotations(read_only: bool, open_world: bool) -> ToolAnnotations {
    let mut a = ToolAnnotations::new();
    a.read_only_hint = Some(read_only);
    a.open_world_hint = Some(open_world);
    a
}

fn definitions() -> Vec<Tool> {
    vec![
        Tool::new(
            DISCOVER_TOOLS,
            "Find tools. No arguments: list domains with tool counts and groups. domain: list that \
             domain's tools (group narrows it). query: search all tools by what you want to do, \
             best match first (domain narrows it).",
            schema(json!({
                "type": "object",
                "properties": {
                    "domain": {"type": "string", "description": "Domain to list or search in"},
                    "group": {"type": "string", "description": "Group within the domain"},
                    "query": {"type": "string", "description": "Words describing the task"},
                                        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10,
                              "description": "Most results for query"},
                    "format": {"enum": ["json", "signatures"], "default": "json",
                               "description": "signatures: one line per tool, fewest tokens"}
                },
                "additionalProperties": false
            })),
        )
        .with_title("Discover tools")
        .with_annotations(annotations(true, false)),
        Tool::new(
            GET_TOOL_SCHEMA,
            "Get one tool's description and full JSON Schema of its arguments. Use it before \
             execute_tool when you do not know the arguments. Unknown names return suggestions.",
            schema(json!({
                "type": "object",
                "properties": {
                    "tool_name": {"type": "string", "description": "Tool name from discover_tools"}
                },
                "required": ["tool_name"],
                "additionalProperties": false
            })),
        )
        .with_title("Get tool schema")
        .with_annotations(annotations(true, false)),
        Tool::new(
            EXECUTE_TOOL,
            "Run a tool found with discover_tools, passing its arguments as an object. Returns the \
             tool's own result unchanged.",
            schema(json!({
                "type": "object",
                "properties": {
                    "tool_name": {"type": "string", "description": "Tool name from discover_tools"},
                    "arguments": {"type": "object", "description": "The tool's arguments",
                                  "additionalProperties": true}
                },
                "required": ["tool_name"],
                "additionalProperties": false
            })),
        )
        .with_title("Execute tool")
        .with_annotations(annotations(false, true)),
        Tool::new(
            REFRESH_REGISTRY,
            "Re-read every upstream's tool list and report tools added, removed or renamed. Use \
             it when a tool you expect is missing.",
            schema(json!({"type": "object", "properties": {}, "additionalProperties": false})),
        )
        .with_title("Refresh registry")
        .with_annotations(annotations(false, false)),
    ]
}

/// Whether `name` is one of the four meta-tools.
pub fn is_meta_tool(name: &str) -> bool {
    matches!(
        name,
        DISCOVER_TOOLS | GET_TOOL_SCHEMA | EXECUTE_TOOL | REFRESH_REGISTRY
    )
}

/// What a meta-tool call brings besides its arguments: cancellation, the HTTP request's headers
/// (absent on other transports) and the request's `_meta`.
#[derive(Clone, Copy)]
pub struct CallContext<'a> {
    /// Fires when the client cancels the request.
    pub cancel: &'a CancellationToken,
    /// The incoming HTTP request's headers.
    pub headers: Option<&'a http::HeaderMap>,
    /// The request's `_meta`.
    pub meta: &'a JsonObject,
    /// `execute_tool`'s routed arguments as the client wrote them, when they may be forwarded
    /// as that text (read by the direct path; `None` elsewhere).
    pub arguments_text: Option<&'a ArgumentText>,
}

/// Runs the meta-tool named in `request`, or returns `None` when there is no such meta-tool.
pub async fn call(
    gateway: &Arc<Gateway>,
    request: CallToolRequestParams,
    context: CallContext<'_>,
) -> Option<ToolAnswer> {
    let (meta_tool, span) = match request.name.as_ref() {
        DISCOVER_TOOLS => (DISCOVER_TOOLS, spans::discover_tools()),
        GET_TOOL_SCHEMA => (GET_TOOL_SCHEMA, spans::get_tool_schema()),
        EXECUTE_TOOL => (EXECUTE_TOOL, spans::execute_tool()),
        REFRESH_REGISTRY => (REFRESH_REGISTRY, spans::refresh_registry()),
        _ => return None,
    };
    // The caller's trace context: the parent of this call's spans, and passed on upstream.
    let trace = (spans::enabled() || meta_tool == EXECUTE_TOOL)
        .then(|| trace_context::incoming(context.meta, context.headers))
        .flatten();
    if let Some(parent) = trace.as_ref().filter(|_| !span.is_none()) {
        spans::set_parent(&span, parent.context());
    }
    // For the request log line and the span: the tool the call names (bounded in length).
    let named_tool = meta_tool == EXECUTE_TOOL || (meta_tool == GET_TOOL_SCHEMA && !span.is_none());
    let target_tool: Option<String> = named_tool
        .then(|| {
            request
                .arguments
                .as_ref()?
                .get("tool_name")
                .and_then(serde_json::Value::as_str)
        })
        .flatten()
        .map(|name| name.chars().take(128).collect());
    if let Some(tool) = &target_tool {
        spans::set(&span, spans::TOOL_NAME, || tool.clone());
    }
    let started = std::time::Instant::now();
    let answer = async {
        if meta_tool == EXECUTE_TOOL {
            return execute::run(gateway, request, context, trace.as_ref()).await;
        }
        let arguments = request.arguments.unwrap_or_default();
        match meta_tool {
            // Boxed: the rarer meta-tools keep their state out of every call's future.
            DISCOVER_TOOLS => Box::pin(discover::run(gateway, arguments)).await.into(),
            GET_TOOL_SCHEMA => schema::run(gateway, arguments).into(),
            _ => Box::pin(refresh::run(gateway, arguments)).await.into(),
        }
    }
    .instrument(span.clone())
    .await;
    let outcome = response_outcome(answer.response());
    if !matches!(outcome, "ok" | "input_required" | "task") {
        spans::fail(&span, outcome);
    }
    gateway.metrics().meta_tool_call(meta_tool, outcome);
    log_request(
        gateway,
        meta_tool,
        target_tool.filter(|_| meta_tool == EXECUTE_TOOL),
        outcome,
        started.elapsed(),
    );
    Some(answer)
}

/// One info line per request: meta-tool, domain and tool (execute_tool), outcome, duration.
/// On a connection worker it is written once the answer is on its way: a task of its own runs
/// after the connection's task has sent the answer, on the same thread (no wake-up), so the
/// formatting and the `write` to the log stay off the call's latency. (A worker stopping
/// gives its tasks a second to end; a line still queued then is lost.)
fn log_request(
    gateway: &Gateway,
    meta_tool: &'static str,
    tool: Option<String>,
    outcome: &'static str,
    elapsed: std::time::Duration,
) {
    if !tracing::enabled!(target: "mcp_gateway::request", tracing::Level::INFO) {
        return;
    }
    let domain = tool.as_deref().and_then(|name| {
        let registry = gateway.registry();
        match registry.lookup(name) {
            crate::registry::Lookup::Found(index) => registry.tool(index).map(|t| t.domain.clone()),
            crate::registry::Lookup::Missing(_) => None,
        }
    });
    let line = move || {
        tracing::info!(
            target: "mcp_gateway::request",
            meta_tool,
            domain = domain.as_deref().unwrap_or(""),
            tool = tool.as_deref().unwrap_or(""),
            outcome,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    };
    match tokio::runtime::Handle::try_current() {
        Ok(worker) if crate::connection_workers::current_worker().is_some() => {
            drop(worker.spawn(async move { line() }));
        }
        _ => line(),
    }
}

/// A call's outcome as a metric label: `ok`, the gateway's error code, `tool_error` (the
/// upstream tool reported an error), `input_required` or `task`.
pub(crate) fn response_outcome(response: &CallToolResponse) -> &'static str {
    match response {
        CallToolResponse::Complete(result) if result.is_error == Some(true) => result
            .structured_content
            .as_ref()
            .and_then(|s| s.get("code"))
            .and_then(serde_json::Value::as_str)
            .and_then(crate::error::known_code)
            .unwrap_or("tool_error"),
        CallToolResponse::Complete(_) => "ok",
        CallToolResponse::InputRequired(_) => "input_required",
        CallToolResponse::Task(_) => "task",
        _ => "other",
    }
}

/// Converts a gateway outcome to a tool result.
fn finish(outcome: Result<CallToolResult, crate::error::GatewayError>) -> CallToolResult {
    outcome.unwrap_or_else(crate::error::GatewayError::into_result)
}
