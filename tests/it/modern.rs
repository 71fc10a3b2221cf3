//! The direct path for stateless 2026-07-28 calls, over raw HTTP: a `tools/call` with the
//! revision's headers and request metadata answers as plain JSON, in the revision's shape
//! (`resultType` on every result, also from upstreams of older revisions), with the same
//! result as rmcp's path; requests whose headers or metadata are not the plain ones get rmcp's
//! answers, refusals included; a client that hangs up, before the JSON window ends or while
//! the answer streams, cancels its call upstream (the revision's transport rule).

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::raw_session::{ModernClient, content_type, message_of, modern_call};
use crate::support::*;

/// Weighted `Accept`: the direct path leaves the request to rmcp.
const TO_RMCP: (&str, &str) = ("accept", "application/json;q=0.9, text/event-stream");

async fn answer(
    client: &ModernClient,
    call: &Value,
    extra: &[(&str, &str)],
) -> (u16, String, Value) {
    let (status, headers, body) = client.post(call, extra).await;
    let kind = content_type(&headers).to_string();
    let message = message_of(&kind, &body);
    assert!(
        !message.is_null(),
        "no JSON-RPC message: {status} {kind} {body:?}"
    );
    (status, kind, message)
}

#[tokio::test]
async fn a_2026_call_answers_as_plain_json_like_rmcps_path_in_its_revisions_shape() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    for stateless in [false, true] {
        answers_like_rmcp(&up, stateless).await;
    }
}

/// The checks of the test above against a gateway with `server.stateless` as given (rmcp's path
/// answers plain JSON there too).
async fn answers_like_rmcp(up: &HttpUpstream, stateless: bool) {
    // Pinned to the older revision: its results carry no `resultType`.
    let toml = format!(
        "[server]\nstateless = {stateless}\n{}protocol = \"2025-11-25\"\n",
        http_table("crm", &up.url())
    );
    let gateway = TestGateway::start(&toml).await;
    let rmcp_kind = if stateless {
        "application/json"
    } else {
        "text/event-stream"
    };
    let client = ModernClient::new(&gateway.url());
    let echo = modern_call(
        7,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "hi"}}),
    );

    let (status, kind, direct) = answer(&client, &echo, &[]).await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "application/json"),
        "{direct}"
    );
    assert_eq!(direct["id"], 7);
    assert_eq!(direct["result"]["content"][0]["text"], "hi", "{direct}");
    assert_eq!(direct["result"]["resultType"], "complete", "{direct}");
    let (status, kind, through_rmcp) = answer(&client, &echo, &[TO_RMCP]).await;
    assert_eq!((status, kind.as_str()), (200, rmcp_kind));
    assert_eq!(through_rmcp, direct, "rmcp's path answers the same");

    // Structured content, an image, a tool error and an upstream's JSON-RPC error are passed
    // on in the same shape on both paths.
    for (id, tool, arguments) in [
        (8, "weather_structured", json!({"city": "Oslo"})),
        (9, "tiny_image", json!({})),
        (10, "always_fails", json!({})),
        (11, "rpc_error", json!({})),
    ] {
        let call = modern_call(
            id,
            "execute_tool",
            json!({"tool_name": tool, "arguments": arguments}),
        );
        let (status, kind, direct) = answer(&client, &call, &[]).await;
        assert_eq!(
            (status, kind.as_str()),
            (200, "application/json"),
            "{direct}"
        );
        assert_eq!(direct["result"]["resultType"], "complete", "{direct}");
        assert_eq!(answer(&client, &call, &[TO_RMCP]).await.2, direct, "{tool}");
    }

    // A JSON-RPC error: status 200, the request's id, the same error as rmcp's.
    let not_a_meta_tool = modern_call(12, "echo", json!({}));
    let (status, kind, error) = answer(&client, &not_a_meta_tool, &[]).await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "application/json"),
        "{error}"
    );
    assert_eq!(
        (error["id"].clone(), error["error"]["code"].clone()),
        (json!(12), json!(-32602))
    );
    assert_eq!(answer(&client, &not_a_meta_tool, &[TO_RMCP]).await.2, error);
    gateway.stop().await;
}

#[tokio::test]
async fn a_2026_request_that_is_not_plain_gets_rmcps_answer() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&http_table("crm", &up.url())).await;
    let client = ModernClient::new(&gateway.url());
    let schema = modern_call(1, "get_tool_schema", json!({"tool_name": "echo"}));

    // Headers that disagree with the body, or are missing: 400 and -32020 (header mismatch).
    for extra in [
        [("mcp-name", "execute_tool")],
        [("mcp-name", "")],
        [("mcp-method", "tools/list")],
        [("mcp-method", "")],
    ] {
        let (status, _, refusal) = answer(&client, &schema, &extra).await;
        assert_eq!(
            (status, refusal["error"]["code"].clone()),
            (400, json!(-32020)),
            "{extra:?}: {refusal}"
        );
    }
    // Request metadata without the client's capabilities: 400 and -32602.
    let mut bare = schema.clone();
    bare["params"]["_meta"]
        .as_object_mut()
        .map(|meta| meta.remove("io.modelcontextprotocol/clientCapabilities"));
    let (status, _, refusal) = answer(&client, &bare, &[]).await;
    assert_eq!(
        (status, refusal["error"]["code"].clone()),
        (400, json!(-32602)),
        "{refusal}"
    );
    // Metadata of another revision than the header's: 400 and -32020.
    let mut other = schema.clone();
    other["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2025-11-25");
    let (status, _, refusal) = answer(&client, &other, &[]).await;
    assert_eq!(
        (status, refusal["error"]["code"].clone()),
        (400, json!(-32020)),
        "{refusal}"
    );
    // A float-form id: the gateway's ingress refuses it (400 and -32600).
    let mut float_id = schema.clone();
    float_id["id"] = json!(1.0);
    let (status, _, refusal) = answer(&client, &float_id, &[]).await;
    assert_eq!(
        (status, refusal["error"]["code"].clone()),
        (400, json!(-32600)),
        "{refusal}"
    );
    // A Host outside the allow-list (DNS rebinding) is refused, as rmcp refuses it.
    assert_eq!(
        client.post(&schema, &[("host", "evil.example")]).await.0,
        403
    );
    // The plain request is answered directly.
    let (status, kind, found) = answer(&client, &schema, &[]).await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "application/json"),
        "{found}"
    );
    assert_eq!(found["result"]["resultType"], "complete");
    gateway.stop().await;
}

#[tokio::test]
async fn a_2026_client_that_hangs_up_cancels_its_call() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let stats = up.server.stats.clone();
    let gateway = TestGateway::start(&http_table("crm", &up.url())).await;
    let client = ModernClient::new(&gateway.url());
    let slow = |id: u64, ms: u64| {
        modern_call(
            id,
            "execute_tool",
            json!({"tool_name": "slow", "arguments": {"ms": ms}}),
        )
    };

    // Closing the request before the answer is the 2026-07-28 cancellation.
    let hung_up = tokio::time::timeout(
        Duration::from_millis(300),
        client.post(&slow(3, 20_000), &[]),
    )
    .await;
    assert!(hung_up.is_err(), "the slow call answered early");
    assert!(
        eventually(5, || stats.cancelled.load(Ordering::SeqCst) == 1
            && stats.in_flight.load(Ordering::SeqCst) == 0)
        .await,
        "the upstream never saw the cancellation"
    );

    // Past the JSON window the answer streams; closing the stream cancels too.
    let window = mcp_gateway::direct_call::JSON_WINDOW;
    let streaming = reqwest::Client::new()
        .post(gateway.url())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "execute_tool")
        .json(&slow(4, 20_000))
        .send()
        .await
        .expect("POST");
    assert_eq!(content_type(streaming.headers()), "text/event-stream");
    assert!(
        stats.in_flight.load(Ordering::SeqCst) == 1,
        "the call ended early"
    );
    drop(streaming);
    assert!(
        eventually(5, || stats.cancelled.load(Ordering::SeqCst) == 2).await,
        "closing the stream after {window:?} left the call running upstream"
    );

    // A call that ends inside the stream answers on it, in the revision's shape.
    let ms = window.as_millis() as u64 + 500;
    let (status, headers, body) = client.post(&slow(5, ms), &[]).await;
    let kind = content_type(&headers);
    assert_eq!((status, kind), (200, "text/event-stream"), "{body}");
    let answer = message_of(kind, &body);
    assert_eq!(answer["id"], 5);
    assert_eq!(answer["result"]["resultType"], "complete", "{answer}");
    assert_eq!(
        answer["result"]["content"][0]["text"],
        format!("slept {ms} ms")
    );
    assert_eq!(stats.cancelled.load(Ordering::SeqCst), 2);
    gateway.stop().await;
}
