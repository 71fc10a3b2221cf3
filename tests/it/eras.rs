//! Both protocol eras downstream: a 2025-11-25 client (initialize + session) and a 2026-07-28
//! client (server/discover, sessionless), against upstreams of either era.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn legacy_and_modern_clients_both_work() {
    let crm = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&format!(
        "{}{}",
        http_table("crm", &crm.url()),
        stdio_table("util", "u")
    ))
    .await;

    let legacy = gateway.client().await;
    let info = legacy.peer().peer_info().expect("server info");
    assert_eq!(info.protocol_version.as_str(), "2025-11-25");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("mcp-gateway")
    );
    let instructions = info.instructions.clone().unwrap_or_default();
    assert!(
        instructions.contains("- crm (10 tools)") && instructions.contains("execute_tool"),
        "{instructions}"
    );

    let modern = gateway.modern_client().await;
    let tools = modern.peer().list_all_tools().await.expect("tools/list");
    assert_eq!(tools.len(), 4);
    for client in [&legacy, &modern] {
        let found = json_of(&call(client, "discover_tools", json!({"query": "add numbers"})).await);
        assert!(
            found["results"][0]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("add"))
        );
        let result = call(
            client,
            "execute_tool",
            json!({"tool_name": "crm_add", "arguments": {"a": 1, "b": 2}}),
        )
        .await;
        assert_eq!(text_of(&result), "3");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn upstream_protocol_can_be_pinned() {
    let crm = HttpUpstream::start(TestUpstream::new("crm")).await;
    for protocol in ["2025-11-25", "2026-07-28", "auto"] {
        let toml = format!(
            "{}protocol = \"{protocol}\"\n",
            http_table("crm", &crm.url())
        );
        let gateway = TestGateway::start(&toml).await;
        let client = gateway.client().await;
        let result = call(
            &client,
            "execute_tool",
            json!({"tool_name": "echo", "arguments": {"message": protocol}}),
        )
        .await;
        assert_eq!(text_of(&result), protocol);
        gateway.stop().await;
    }
}
