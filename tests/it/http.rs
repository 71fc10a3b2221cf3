//! The plain HTTP routes of the thin core.

use crate::support::*;

#[tokio::test]
async fn healthz_readyz_and_unknown_routes() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&http_table("crm", &up.url())).await;
    let (status, body) = get_json(&format!("{}/healthz", gateway.base())).await;
    assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})));
    let (status, body) = get_json(&format!("{}/readyz", gateway.base())).await;
    assert_eq!(status, 200);
    assert_eq!(body["domains"]["crm"]["tools"], 8);
    let (status, body) = get_json(&format!("{}/nope", gateway.base())).await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("/mcp")));
    gateway.stop().await;
}

#[tokio::test]
async fn port_opens_before_population_finishes() {
    // A stdio upstream that never answers keeps population busy; health answers at once.
    let toml = "[upstreams.hang]\ncommand = \"sleep\"\nargs = [\"30\"]\n";
    let gateway = TestGateway::start_unpopulated(toml).await;
    let (status, _) = get_json(&format!("{}/healthz", gateway.base())).await;
    assert_eq!(status, 200);
    let (status, body) = get_json(&format!("{}/readyz", gateway.base())).await;
    assert_eq!(status, 503);
    assert_eq!(body["domains"]["hang"]["state"], "pending");
    gateway.stop().await;
}
