//! OpenTelemetry spans, read back from an in-memory exporter installed for this test binary:
//! the seed's names and attributes for each meta-tool (errors included), the caller's
//! `traceparent` (in `_meta` or the HTTP header) as the parent, the gateway's context reaching
//! HTTP and stdio upstreams, and the background spans (populate, refresh, reload).
//!
//! Every test sends its own trace id or uses its own domain name, so the suite's other gateways
//! (which record spans too once the exporter is installed) never confuse the assertions.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use mcp_gateway::telemetry::spans;
use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry::{Key, Value as OtelValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use rmcp::model::{CallToolRequestParams, RequestMetaObject};
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::support::*;

/// The exporter every span of this test binary goes to (installed once).
fn exporter() -> &'static InMemorySpanExporter {
    static INSTALLED: OnceLock<(InMemorySpanExporter, SdkTracerProvider)> = OnceLock::new();
    let (exporter, _) = INSTALLED.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let installed = tracing_subscriber::registry()
            .with(mcp_gateway::telemetry::trace_layer(&provider))
            .try_init();
        assert!(installed.is_ok(), "no other global subscriber in the tests");
        (exporter, provider)
    });
    exporter
}

/// A fresh caller trace: (trace id, the caller's span id, the `traceparent` naming them).
fn caller_trace() -> (TraceId, SpanId, String) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(1);
    let trace = TraceId::from(nanos ^ (u128::from(n) << 64) | 1);
    let span = SpanId::from(u64::from(std::process::id()) << 32 | n);
    (trace, span, format!("00-{trace}-{span}-01"))
}

fn spans_of(trace: TraceId) -> Vec<SpanData> {
    exporter()
        .get_finished_spans()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.span_context.trace_id() == trace)
        .collect()
}

/// Waits (bounded) until `trace` has a span named `name`, and returns them all.
async fn wait_for(trace: TraceId, name: &str) -> Vec<SpanData> {
    until(10, || async {
        spans_of(trace).iter().any(|s| s.name == name)
    })
    .await;
    spans_of(trace)
}

fn attr(span: &SpanData, key: &str) -> Option<OtelValue> {
    let key = Key::new(key.to_string());
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| kv.value.clone())
}

fn text_attr(span: &SpanData, key: &str) -> Option<String> {
    attr(span, key).map(|v| v.as_str().into_owned())
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

/// Calls `tool` with `traceparent` in the request's `_meta` (SEP-414).
async fn call_traced(client: &Client, tool: &str, args: Value, traceparent: &str) -> Value {
    let mut params = CallToolRequestParams::new(tool.to_string());
    params.arguments = args.as_object().cloned();
    let mut meta = RequestMetaObject::default();
    meta.set_traceparent(traceparent);
    params.meta = Some(meta);
    let result = client.peer().call_tool(params).await.expect("call");
    serde_json::from_str(&text_of(&result)).unwrap_or(Value::Null)
}

#[tokio::test]
async fn meta_tool_spans_have_the_seed_names_attributes_and_the_callers_parent() {
    exporter();
    let upstream = HttpUpstream::start(TestUpstream::with_headers_tool("crm")).await;
    let gateway = TestGateway::start(&http_table("crm", &upstream.url())).await;
    let client = gateway.client().await;

    // discover_tools(query): one span, parented by the caller, with the query and the count.
    let (trace, caller, parent) = caller_trace();
    let found = call_traced(&client, "discover_tools", json!({"query": "echo"}), &parent).await;
    let spans = wait_for(trace, spans::DISCOVER_TOOLS).await;
    let discover = named(&spans, spans::DISCOVER_TOOLS)[0];
    assert_eq!(discover.parent_span_id, caller);
    assert!(discover.parent_span_is_remote);
    assert_eq!(text_attr(discover, spans::QUERY).as_deref(), Some("echo"));
    let results = found["results"].as_array().map_or(0, Vec::len) as i64;
    assert!(results > 0, "{found}");
    assert_eq!(
        attr(discover, spans::RESULT_COUNT),
        Some(OtelValue::I64(results))
    );
    assert_eq!(attr(discover, spans::ERROR_CODE), None);

    // discover_tools(domain=unknown): the error code, and an error status.
    let (trace, _, parent) = caller_trace();
    call_traced(
        &client,
        "discover_tools",
        json!({"domain": "nope"}),
        &parent,
    )
    .await;
    let spans = wait_for(trace, spans::DISCOVER_TOOLS).await;
    let failed = named(&spans, spans::DISCOVER_TOOLS)[0];
    assert_eq!(text_attr(failed, spans::DOMAIN).as_deref(), Some("nope"));
    assert_eq!(
        text_attr(failed, spans::ERROR_CODE).as_deref(),
        Some("domain_not_found")
    );
    assert!(matches!(failed.status, Status::Error { .. }));

    // get_tool_schema: the tool and its domain; a typo gives tool_not_found.
    let (trace, caller, parent) = caller_trace();
    call_traced(
        &client,
        "get_tool_schema",
        json!({"tool_name": "echo"}),
        &parent,
    )
    .await;
    call_traced(
        &client,
        "get_tool_schema",
        json!({"tool_name": "ecko"}),
        &parent,
    )
    .await;
    until(10, || async {
        named(&spans_of(trace), spans::GET_TOOL_SCHEMA).len() == 2
    })
    .await;
    let spans = spans_of(trace);
    let schemas = named(&spans, spans::GET_TOOL_SCHEMA);
    assert_eq!(schemas.len(), 2);
    let ok = schemas
        .iter()
        .find(|s| text_attr(s, spans::TOOL_NAME).as_deref() == Some("echo"))
        .expect("echo span");
    assert_eq!(ok.parent_span_id, caller);
    assert_eq!(text_attr(ok, spans::DOMAIN).as_deref(), Some("crm"));
    assert_eq!(attr(ok, spans::ERROR_CODE), None);
    let typo = schemas
        .iter()
        .find(|s| text_attr(s, spans::TOOL_NAME).as_deref() == Some("ecko"))
        .expect("ecko span");
    assert_eq!(
        text_attr(typo, spans::ERROR_CODE).as_deref(),
        Some("tool_not_found")
    );

    // execute_tool: a child gateway.upstream.call span, whose context the upstream receives.
    let (trace, caller, parent) = caller_trace();
    let seen = call_traced(
        &client,
        "execute_tool",
        json!({"tool_name": "headers"}),
        &parent,
    )
    .await;
    let spans = wait_for(trace, spans::EXECUTE_TOOL).await;
    let execute = named(&spans, spans::EXECUTE_TOOL)[0];
    let upstream_call = named(&spans, spans::UPSTREAM_CALL)[0];
    assert_eq!(execute.parent_span_id, caller);
    assert_eq!(upstream_call.parent_span_id, execute.span_context.span_id());
    for span in [execute, upstream_call] {
        assert_eq!(text_attr(span, spans::DOMAIN).as_deref(), Some("crm"));
        assert_eq!(
            text_attr(span, spans::TOOL_NAME).as_deref(),
            Some("headers")
        );
        assert_eq!(attr(span, spans::ERROR_CODE), None);
    }
    let expected = format!("00-{trace}-{}-01", upstream_call.span_context.span_id());
    assert_eq!(seen["traceparent"], json!([expected]), "{seen}");
    assert_eq!(seen["_meta"]["traceparent"], json!(expected), "{seen}");

    // Failures: the gateway's code on the execute span (and on the upstream call when it was
    // made); bad arguments never reach the upstream.
    for (tool, args, code, upstream_called) in [
        ("echo", json!({"message": 5}), "invalid_arguments", false),
        ("rpc_error", json!({}), "upstream_error", true),
        ("always_fails", json!({}), "tool_error", true),
        ("nothing_like_it", json!({}), "tool_not_found", false),
    ] {
        let (trace, _, parent) = caller_trace();
        call_traced(
            &client,
            "execute_tool",
            json!({"tool_name": tool, "arguments": args}),
            &parent,
        )
        .await;
        let spans = wait_for(trace, spans::EXECUTE_TOOL).await;
        let execute = named(&spans, spans::EXECUTE_TOOL)[0];
        assert_eq!(
            text_attr(execute, spans::ERROR_CODE).as_deref(),
            Some(code),
            "{tool}"
        );
        assert!(matches!(execute.status, Status::Error { .. }), "{tool}");
        let calls = named(&spans, spans::UPSTREAM_CALL);
        assert_eq!(calls.len(), usize::from(upstream_called), "{tool}");
        if let Some(call) = calls.first() {
            assert_eq!(
                text_attr(call, spans::ERROR_CODE).as_deref(),
                Some(code),
                "{tool}"
            );
        }
    }

    // refresh_registry: the upstream's listing is a child span with its tool count.
    let (trace, _, parent) = caller_trace();
    call_traced(&client, "refresh_registry", json!({}), &parent).await;
    let spans = wait_for(trace, spans::REFRESH_REGISTRY).await;
    let refresh = named(&spans, spans::REFRESH_REGISTRY)[0];
    assert_eq!(attr(refresh, spans::DOMAIN_COUNT), Some(OtelValue::I64(1)));
    assert_eq!(attr(refresh, spans::RESULT_COUNT), Some(OtelValue::I64(0)));
    let list = named(&spans, spans::UPSTREAM_LIST)[0];
    assert_eq!(list.parent_span_id, refresh.span_context.span_id());
    let listed = upstream.server.listing().len() as i64;
    assert_eq!(
        attr(list, spans::RESULT_COUNT),
        Some(OtelValue::I64(listed))
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_traceparent_header_is_the_parent_and_stdio_upstreams_get_it_in_meta() {
    exporter();
    let toml = format!(
        "[upstreams.tracedio]\ncommand = \"{STDIO_UPSTREAM}\"\nargs = [\"--name\", \"tracedio\", \"--headers-tool\"]\n"
    );
    let gateway = TestGateway::start(&toml).await;
    let (trace, caller, parent) = caller_trace();
    let client = connect_with_headers(&gateway.url(), "unused", &[("traceparent", &parent)])
        .await
        .expect("connect");
    let result = call(&client, "execute_tool", json!({"tool_name": "headers"})).await;
    let seen: Value = serde_json::from_str(&text_of(&result)).unwrap_or(Value::Null);
    let spans = wait_for(trace, spans::EXECUTE_TOOL).await;
    let execute = named(&spans, spans::EXECUTE_TOOL)[0];
    assert_eq!(execute.parent_span_id, caller);
    let upstream_call = named(&spans, spans::UPSTREAM_CALL)[0];
    let expected = format!("00-{trace}-{}-01", upstream_call.span_context.span_id());
    assert_eq!(seen["_meta"]["traceparent"], json!(expected), "{seen}");
    gateway.stop().await;
}

/// The spans of the background work, found through their `gateway.upstream.list` children,
/// which name this test's own domains.
fn list_parents(domain: &str) -> Vec<SpanData> {
    let all = exporter().get_finished_spans().unwrap_or_default();
    all.iter()
        .filter(|s| s.name == spans::UPSTREAM_LIST)
        .filter(|s| text_attr(s, spans::DOMAIN).as_deref() == Some(domain))
        .filter_map(|list| {
            all.iter()
                .find(|p| p.span_context.span_id() == list.parent_span_id)
                .cloned()
        })
        .collect()
}

fn parent_named(domain: &str, name: &str) -> Option<SpanData> {
    list_parents(domain).into_iter().find(|p| p.name == name)
}

#[tokio::test]
async fn populate_background_refresh_and_reload_have_their_spans() {
    exporter();
    let upstream = HttpUpstream::start(TestUpstream::new("bgtrace")).await;
    let added = HttpUpstream::start(TestUpstream::new("bgadded")).await;
    let toml = format!(
        "[server]\nrefresh_interval = \"1s\"\n{}",
        http_table("bgtrace", &upstream.url())
    );
    let gateway = TestGateway::start(&toml).await;
    let listed = upstream.server.listing().len() as i64;
    let wait = |domain: &'static str, name: &'static str| async move {
        until(10, || async { parent_named(domain, name).is_some() }).await;
        parent_named(domain, name)
    };
    let populate = wait("bgtrace", spans::POPULATE_ALL).await;
    let populate = populate.expect("populate span");
    assert_eq!(
        attr(&populate, spans::TOTAL_TOOLS),
        Some(OtelValue::I64(listed))
    );
    assert_eq!(
        attr(&populate, spans::DOMAIN_COUNT),
        Some(OtelValue::I64(1))
    );
    let refresh = wait("bgtrace", spans::BACKGROUND_REFRESH)
        .await
        .expect("background refresh span");
    assert_eq!(attr(&refresh, spans::RESULT_COUNT), Some(OtelValue::I64(0)));
    assert_eq!(attr(&refresh, spans::ERROR_CODE), None);
    gateway.write_config(&format!("{toml}{}", http_table("bgadded", &added.url())));
    let reload = wait("bgadded", spans::RELOAD).await.expect("reload span");
    assert_eq!(attr(&reload, spans::RESULT_COUNT), Some(OtelValue::I64(1)));
    assert_eq!(
        attr(&reload, spans::CONFIG_GENERATION),
        Some(OtelValue::I64(2))
    );
    // Seven unknown keys: a problem count no other test's rejected reload has.
    let broken: String = (1..=7).map(|i| format!("unknown_{i} = 1\n")).collect();
    gateway.write_config(&format!("[server]\n{broken}"));
    let rejected = until(10, || async {
        exporter()
            .get_finished_spans()
            .unwrap_or_default()
            .iter()
            .any(|s| {
                s.name == spans::RELOAD
                    && s.end_time > reload.end_time
                    && attr(s, spans::RESULT_COUNT) == Some(OtelValue::I64(7))
                    && text_attr(s, spans::ERROR_CODE).as_deref() == Some("config_rejected")
            })
    })
    .await;
    assert!(
        rejected,
        "a rejected reload has an error code and its problem count"
    );
    gateway.stop().await;
}
