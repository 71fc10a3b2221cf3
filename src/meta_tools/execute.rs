//! `execute_tool`: resolve the name, check the arguments, route the call to the owning upstream
//! under its original name, and return the upstream's result unchanged.

use std::sync::Arc;

use rmcp::model::{CallToolRequestParams, JsonObject};
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::args::parse;
use super::{CallContext, EXECUTE_TOOL};
use crate::answer::ToolAnswer;
use crate::argument_text::ArgumentText;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::registry::{Lookup, ToolEntry};
use crate::signature;
use crate::telemetry::spans;
use crate::telemetry::trace_context::TraceHeaders;
use crate::upstream::CallFailure;
use tracing::Instrument;

/// JSON-RPC "invalid params": the upstream rejected the arguments.
const INVALID_PARAMS: i32 = -32602;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    tool_name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

/// Runs `execute_tool`. The request's MRTR fields (`inputResponses`, `requestState`) travel on
/// to the upstream, so a tool that asked for input can complete on the client's retry.
pub(super) async fn run(
    gateway: &Arc<Gateway>,
    request: CallToolRequestParams,
    context: CallContext<'_>,
    trace: Option<&TraceHeaders>,
) -> ToolAnswer {
    let route = Route {
        cancel: context.cancel,
        headers: context.headers,
        trace,
        arguments_text: context.arguments_text,
    };
    match execute(gateway, request, route).await {
        Ok(answer) => answer,
        Err(error) => error.into_result().into(),
    }
}

/// What travels with the call to the upstream besides its parameters.
#[derive(Clone, Copy)]
struct Route<'a> {
    cancel: &'a CancellationToken,
    headers: Option<&'a http::HeaderMap>,
    /// The caller's trace context, passed on when the gateway records no spans of its own.
    trace: Option<&'a TraceHeaders>,
    /// The routed arguments as the client wrote them, forwarded in place of the parsed copy
    /// when that copy is the object the call sends.
    arguments_text: Option<&'a ArgumentText>,
}

async fn execute(
    gateway: &Arc<Gateway>,
    request: CallToolRequestParams,
    route: Route<'_>,
) -> Result<ToolAnswer, GatewayError> {
    let mut request = request;
    let args: Args = parse(EXECUTE_TOOL, request.arguments.take().unwrap_or_default())?;
    // Resolve and clone what the call needs, then drop the snapshot before awaiting.
    let entry: ToolEntry = {
        let registry = gateway.registry();
        match registry.lookup(args.tool_name.trim()) {
            Lookup::Found(index) => registry.tool(index).cloned(),
            Lookup::Missing(suggestions) => {
                return Err(GatewayError::ToolNotFound {
                    name: args.tool_name,
                    suggestions,
                    direct_call: false,
                });
            }
        }
        .ok_or_else(|| GatewayError::ToolNotFound {
            name: args.tool_name.clone(),
            suggestions: Vec::new(),
            direct_call: false,
        })?
    };
    spans::record(spans::DOMAIN, || entry.domain.to_string());
    let started = std::time::Instant::now();
    let (outcome, called) = call_entry(&entry, args.arguments, request, route).await;
    let label = match &outcome {
        Ok(answer) => super::response_outcome(answer.response()),
        Err(error) => error.code(),
    };
    let elapsed = called.then(|| started.elapsed());
    gateway
        .metrics()
        .tool_call(&entry.domain, &entry.name, label, elapsed);
    outcome
}

/// Checks the arguments and calls the upstream; the flag says whether the upstream was called.
async fn call_entry(
    entry: &ToolEntry,
    arguments: Option<Value>,
    request: CallToolRequestParams,
    route: Route<'_>,
) -> (Result<ToolAnswer, GatewayError>, bool) {
    // The client's text is the object checked only when the arguments came as an object.
    let as_written = matches!(arguments, Some(Value::Object(_)));
    let mut route = route;
    route.arguments_text = route.arguments_text.filter(|_| as_written);
    match checked_params(entry, arguments, request) {
        Ok(params) => (call_upstream(entry, params, route).await, true),
        Err(error) => (Err(error), false),
    }
}

/// The upstream request: the arguments checked against the schema, the MRTR fields kept.
fn checked_params(
    entry: &ToolEntry,
    arguments: Option<Value>,
    request: CallToolRequestParams,
) -> Result<CallToolRequestParams, GatewayError> {
    let call_arguments = match arguments {
        None | Some(Value::Null) => Value::Object(JsonObject::new()),
        Some(Value::Object(map)) => Value::Object(map),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
            // Models sometimes send the object as a JSON string: accept it when it is one.
            Ok(object @ Value::Object(_)) => object,
            _ => {
                return Err(invalid(
                    entry,
                    vec!["arguments must be an object, got a string".into()],
                ));
            }
        },
        Some(other) => {
            return Err(invalid(
                entry,
                vec![format!("arguments must be an object, got {}", kind(&other))],
            ));
        }
    };
    let problems = entry.tool.violations(&entry.domain, &call_arguments);
    if !problems.is_empty() {
        return Err(invalid(entry, problems));
    }
    let Value::Object(call_arguments) = call_arguments else {
        return Err(invalid(entry, vec!["arguments must be an object".into()]));
    };
    let mut params = CallToolRequestParams::new(entry.original_name().to_string())
        .with_arguments(call_arguments);
    params.input_responses = request.input_responses;
    params.request_state = request.request_state;
    Ok(params)
}

/// Calls the upstream inside a `gateway.upstream.call` span, whose context the upstream receives.
async fn call_upstream(
    entry: &ToolEntry,
    params: CallToolRequestParams,
    route: Route<'_>,
) -> Result<ToolAnswer, GatewayError> {
    let span = spans::upstream_call();
    spans::set(&span, spans::DOMAIN, || entry.domain.to_string());
    spans::set(&span, spans::TOOL_NAME, || entry.name.to_string());
    let trace = TraceHeaders::of_span(&span).or_else(|| route.trace.cloned());
    let outcome = entry
        .upstream
        .call_tool(
            params,
            route.arguments_text,
            route.cancel,
            route.headers,
            trace.as_ref(),
        )
        .instrument(span.clone())
        .await
        .map_err(|failure| failure_error(entry, failure));
    match &outcome {
        Err(error) => spans::fail(&span, error.code()),
        Ok(answer) => match super::response_outcome(answer.response()) {
            "ok" | "input_required" | "task" => {}
            other => spans::fail(&span, other),
        },
    }
    outcome
}

/// The gateway error for an upstream call that produced no tool result.
fn failure_error(entry: &ToolEntry, failure: CallFailure) -> GatewayError {
    match failure {
        CallFailure::Rejected {
            code: INVALID_PARAMS,
            message,
        } => invalid(entry, vec![message]),
        CallFailure::Rejected { code, message } => GatewayError::UpstreamError {
            tool: entry.name.to_string(),
            domain: entry.domain.to_string(),
            upstream_code: code,
            upstream_message: message,
        },
        CallFailure::Unavailable(reason) => GatewayError::UpstreamUnavailable {
            tool: Some(entry.name.to_string()),
            domain: entry.domain.to_string(),
            reason,
        },
        CallFailure::TimedOut(elapsed) => GatewayError::UpstreamTimeout {
            tool: entry.name.to_string(),
            domain: entry.domain.to_string(),
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        },
        CallFailure::Busy {
            waited,
            max_concurrency,
        } => GatewayError::UpstreamBusy {
            tool: entry.name.to_string(),
            domain: entry.domain.to_string(),
            waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            max_concurrency,
        },
        CallFailure::TooLarge { bytes, limit } => GatewayError::ResultTooLarge {
            tool: entry.name.to_string(),
            domain: entry.domain.to_string(),
            bytes,
            limit,
        },
        CallFailure::Cancelled => GatewayError::UpstreamUnavailable {
            tool: Some(entry.name.to_string()),
            domain: entry.domain.to_string(),
            reason: "the call was cancelled by the client".into(),
        },
    }
}

fn invalid(entry: &ToolEntry, problems: Vec<String>) -> GatewayError {
    GatewayError::InvalidArguments {
        tool: entry.name.to_string(),
        problems,
        signature: Some(signature::render(entry)),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
