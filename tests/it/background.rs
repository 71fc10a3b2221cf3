//! Background work: list_changed re-listing, the periodic refresh, and down upstreams joining by
//! themselves.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn list_changed_from_an_upstream_triggers_a_relist() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&session_table("crm", &up.url())).await;
    let client = gateway.client().await;
    let added = call(
        &client,
        "execute_tool",
        json!({"tool_name": "add_tool", "arguments": {"name": "brand_new", "notify": true}}),
    )
    .await;
    assert_eq!(text_of(&added), "added brand_new");
    let seen = until(3, || async {
        domain_tools(&client, "crm")
            .await
            .contains(&"brand_new".to_string())
    })
    .await;
    assert!(seen, "list_changed did not lead to a re-list");
    gateway.stop().await;
}

#[tokio::test]
async fn without_a_notification_nothing_changes_until_a_refresh() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&http_table("crm", &up.url())).await;
    let client = gateway.client().await;
    up.server.push_tool("silent_tool");
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(
        !domain_tools(&client, "crm")
            .await
            .contains(&"silent_tool".to_string())
    );
    let report = json_of(&call(&client, "refresh_registry", json!({})).await);
    assert_eq!(report["refreshed"][0]["added"], json!(["silent_tool"]));
    gateway.stop().await;
}

#[tokio::test]
async fn the_periodic_refresh_picks_up_silent_changes() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let toml = format!(
        "[server]\nrefresh_interval = \"300ms\"\n{}",
        http_table("crm", &up.url())
    );
    let gateway = TestGateway::start(&toml).await;
    let client = gateway.client().await;
    up.server.push_tool("quiet_tool");
    let seen = until(3, || async {
        domain_tools(&client, "crm")
            .await
            .contains(&"quiet_tool".to_string())
    })
    .await;
    assert!(seen, "the periodic refresh did not pick up the new tool");
    gateway.stop().await;
}

#[tokio::test]
async fn a_late_upstream_joins_without_any_refresh_call() {
    let late_addr = free_addr();
    let alive = HttpUpstream::start(TestUpstream::with_tools(
        "alive",
        upstream::synthetic_tools("a", 1),
    ))
    .await;
    let toml = format!(
        "{}{}",
        http_table("alive", &alive.url()),
        http_table("late", &format!("http://{late_addr}/mcp"))
    );
    let gateway = TestGateway::start(&toml).await;
    let client = gateway.client().await;
    assert!(domain_tools(&client, "late").await.is_empty());
    let _late = HttpUpstream::start_on(late_addr, TestUpstream::with_tools("late", vec![])).await;
    // no tools is still "up": the upstream state must turn ok
    _late.server.push_tool("late_tool");
    let joined = until(8, || async {
        domain_tools(&client, "late").await == ["late_tool"]
    })
    .await;
    assert!(joined, "the late upstream never joined");
    let (_, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
    assert_eq!(ready["domains"]["late"]["state"], "ok");
    gateway.stop().await;
}
