//! `server.stateless = true`: 2025-11-25 clients get no session, so any replica answers any
//! request — here two gateways share one client's sequence, over raw HTTP and with rmcp's client;
//! calls are answered on the direct path as rmcp's path answers them, and a hang-up cancels.

use serde_json::{Value, json};

use crate::support::raw_session::post_with_defaults;
use crate::support::*;

/// POSTs a JSON-RPC message without a session: (status, session id header, JSON-RPC answer).
async fn post(url: &str, body: &Value) -> (u16, Option<String>, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(body)
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let text = response.text().await.unwrap_or_default();
    let json = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|data| !data.is_empty())
        .unwrap_or(&text);
    (
        status,
        session,
        serde_json::from_str(json).unwrap_or(Value::Null),
    )
}

fn rpc_call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
}

#[tokio::test]
async fn stateless_replicas_answer_any_request_of_a_2025_11_25_client() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let toml = format!(
        "[server]\nstateless = true\n{}",
        http_table("crm", &up.url())
    );
    let (a, b) = (
        TestGateway::start(&toml).await,
        TestGateway::start(&toml).await,
    );

    // initialize on replica A: answered, and no session to stick to.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    let (status, session, answer) = post(&a.url(), &init).await;
    assert_eq!(status, 200);
    assert_eq!(session, None, "a stateless gateway handed out a session");
    assert_eq!(answer["result"]["protocolVersion"], "2025-11-25");

    // discover on B, schema on A, execute on B: each replica answers on its own.
    let (_, _, found) = post(
        &b.url(),
        &rpc_call(2, "discover_tools", json!({"query": "echo"})),
    )
    .await;
    assert!(
        found["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("echo")),
        "{found}"
    );
    let (_, _, schema) = post(
        &a.url(),
        &rpc_call(3, "get_tool_schema", json!({"tool_name": "echo"})),
    )
    .await;
    assert!(
        schema["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("message")),
        "{schema}"
    );
    let run = rpc_call(
        4,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "hi"}}),
    );
    let (_, _, echoed) = post(&b.url(), &run).await;
    assert_eq!(echoed["result"]["content"][0]["text"], "hi", "{echoed}");

    // rmcp's own client (initialize, then calls) works against a stateless gateway too.
    let client = a.client().await;
    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "again"}}),
    )
    .await;
    assert_eq!(text_of(&result), "again");
    a.stop().await;
    b.stop().await;
}

/// POSTs `body` without a session, `extra` headers overriding the defaults (an empty value
/// leaves the header out): (status, response headers, answer).
async fn post_raw(
    url: &str,
    body: &Value,
    extra: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let defaults = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let (status, headers, text) =
        post_with_defaults(&reqwest::Client::new(), url, body, &defaults, extra).await;
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn without_sessions_a_call_is_answered_directly_as_rmcp_answers_it_and_a_hang_up_cancels_it()
{
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let stats = up.server.stats.clone();
    let toml = format!(
        "[server]\nstateless = true\n{}",
        http_table("crm", &up.url())
    );
    let gateway = TestGateway::start(&toml).await;
    // A weighted Accept sends the call to rmcp's path, which answers plain JSON here too but
    // streams it (no stated length); the direct path states the length.
    let to_rmcp = [("accept", "application/json;q=0.9, text/event-stream")];
    for (id, tool, arguments) in [
        (1, "echo", json!({"message": "hi"})),
        (2, "weather_structured", json!({"city": "Oslo"})),
        (3, "always_fails", json!({})),
        (4, "rpc_error", json!({})),
    ] {
        let call = rpc_call(
            id,
            "execute_tool",
            json!({"tool_name": tool, "arguments": arguments}),
        );
        let (status, headers, direct) = post_raw(&gateway.url(), &call, &[]).await;
        assert_eq!(status, 200, "{direct}");
        assert!(
            headers.contains_key("content-length"),
            "not the direct path: {tool}"
        );
        assert_eq!(direct["id"], id);
        assert!(direct["result"].get("resultType").is_none(), "{direct}");
        let (status, headers, through_rmcp) = post_raw(&gateway.url(), &call, &to_rmcp).await;
        assert_eq!(status, 200);
        assert!(
            !headers.contains_key("content-length"),
            "not rmcp's path: {tool}"
        );
        assert_eq!(through_rmcp, direct, "{tool}");
    }
    // An error for a call that names no meta-tool, as rmcp answers it.
    let wrong = rpc_call(5, "echo", json!({}));
    let (_, headers, direct) = post_raw(&gateway.url(), &wrong, &[]).await;
    assert!(
        headers.contains_key("content-length"),
        "not the direct path"
    );
    assert_eq!(direct["error"]["code"], -32602, "{direct}");
    assert_eq!(post_raw(&gateway.url(), &wrong, &to_rmcp).await.2, direct);

    // Every revision before 2026-07-28, and none named (rmcp's default, 2025-03-26), gets the
    // same legacy shape; per-request protocol metadata is rmcp's to answer.
    let echo = rpc_call(
        7,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "hi"}}),
    );
    let (_, _, expected) = post_raw(&gateway.url(), &echo, &to_rmcp).await;
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", ""] {
        let (status, headers, answer) =
            post_raw(&gateway.url(), &echo, &[("mcp-protocol-version", version)]).await;
        assert_eq!(status, 200, "{version}: {answer}");
        assert!(
            headers.contains_key("content-length"),
            "{version}: not direct"
        );
        assert_eq!(answer, expected, "{version}");
    }
    let mut with_meta = echo.clone();
    with_meta["params"]["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2025-11-25"});
    let (_, headers, _) = post_raw(&gateway.url(), &with_meta, &[]).await;
    assert!(
        !headers.contains_key("content-length"),
        "metadata went direct"
    );

    // A call longer than the sessions' JSON window still answers as one JSON body, as rmcp
    // answers without sessions.
    let ms = mcp_gateway::direct_call::JSON_WINDOW.as_millis() as u64 + 500;
    let long = rpc_call(
        8,
        "execute_tool",
        json!({"tool_name": "slow", "arguments": {"ms": ms}}),
    );
    let (status, headers, answer) = post_raw(&gateway.url(), &long, &[]).await;
    let kind = headers.get("content-type").and_then(|v| v.to_str().ok());
    assert_eq!((status, kind), (200, Some("application/json")), "{answer}");
    assert_eq!(
        answer["result"]["content"][0]["text"],
        format!("slept {ms} ms")
    );

    // Without a session a hang-up is the only way to cancel, as on rmcp's path.
    let slow = rpc_call(
        6,
        "execute_tool",
        json!({"tool_name": "slow", "arguments": {"ms": 20_000}}),
    );
    let hung_up = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        post_raw(&gateway.url(), &slow, &[]),
    )
    .await;
    assert!(hung_up.is_err(), "the slow call answered early");
    assert!(
        eventually(5, || stats
            .cancelled
            .load(std::sync::atomic::Ordering::SeqCst)
            == 1)
        .await,
        "the upstream never saw the cancellation"
    );
    gateway.stop().await;
}

#[test]
#[allow(
    clippy::result_large_err,
    reason = "figment::Jail's closure returns figment's Error"
)]
fn stateless_is_a_validated_boolean_from_file_or_environment() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("bad.toml", "[server]\nstateless = \"sometimes\"\n")?;
        let problems = match mcp_gateway::config::Config::load(Some("bad.toml".as_ref())) {
            Ok(config) => panic!("accepted {config:?}"),
            Err(error) => error
                .problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        };
        assert!(
            problems
                .iter()
                .any(|p| p.contains("server.stateless") && p.contains("expected true or false")),
            "{problems:?}"
        );
        jail.set_env("GATEWAY_SERVER__STATELESS", "1");
        let config = mcp_gateway::config::Config::load(None).expect("valid");
        assert!(config.server.stateless);
        Ok(())
    });
}
