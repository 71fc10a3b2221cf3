//! `server.stateless = true`: 2025-11-25 clients get no session, so any replica answers any
//! request — here two gateways share one client's sequence, over raw HTTP and with rmcp's client.

use serde_json::{Value, json};

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
