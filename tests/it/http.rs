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
    assert_eq!(body["domains"]["crm"]["tools"], 10);
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

async fn post_initialize(url: &str, host: &str) -> u16 {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    reqwest::Client::new()
        .post(url)
        .header("host", host)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body)
        .send()
        .await
        .expect("POST")
        .status()
        .as_u16()
}

#[tokio::test]
async fn host_allow_list_follows_the_bind_address() {
    let loopback = TestGateway::start_unpopulated("").await;
    assert_eq!(post_initialize(&loopback.url(), "localhost").await, 200);
    assert_eq!(
        post_initialize(&loopback.url(), "evil.example").await,
        403,
        "DNS rebinding guard"
    );
    loopback.stop().await;

    let wildcard = TestGateway::start_unpopulated("[server]\nhost = \"0.0.0.0\"\n").await;
    let url = format!("http://127.0.0.1:{}/mcp", wildcard.running.addr.port());
    assert_eq!(
        post_initialize(&url, "gateway.internal").await,
        200,
        "a wildcard bind serves any host"
    );
    wildcard.stop().await;

    let listed =
        TestGateway::start_unpopulated("[server]\nallowed_hosts = [\"mcp.example.com\"]\n").await;
    assert_eq!(post_initialize(&listed.url(), "mcp.example.com").await, 200);
    assert_eq!(post_initialize(&listed.url(), "localhost").await, 403);
    listed.stop().await;
}

#[tokio::test]
async fn healthcheck_command_reports_a_live_and_a_dead_gateway() {
    let gateway = TestGateway::start_unpopulated("").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("gateway.toml");
    // The config the probe reads names the gateway's real port, bound on every interface.
    let port = gateway.running.addr.port();
    std::fs::write(
        &config,
        format!("[server]\nhost = \"0.0.0.0\"\nport = {port}\n"),
    )
    .expect("write");
    let probe = move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
            .args(["healthcheck", "--timeout", "2s", "--config"])
            .arg(&config)
            .env_remove("GATEWAY_CONFIG")
            .output()
            .expect("run healthcheck")
    };
    let live = tokio::task::spawn_blocking(probe.clone())
        .await
        .expect("join");
    assert_eq!(
        live.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    // With --url the config is not read: an invalid file (one a running gateway would have
    // rejected on reload) does not make a live gateway unhealthy.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nport = \"x\"\n").expect("write");
    let url = format!("http://127.0.0.1:{port}/healthz");
    let by_url = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
            .args(["healthcheck", "--url", &url, "--config"])
            .arg(&bad)
            .output()
            .expect("run healthcheck")
    })
    .await
    .expect("join");
    assert_eq!(
        by_url.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&by_url.stderr)
    );
    gateway.stop().await;
    let dead = tokio::task::spawn_blocking(probe).await.expect("join");
    assert_eq!(dead.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&dead.stderr).contains("unhealthy: cannot connect"),
        "{}",
        String::from_utf8_lossy(&dead.stderr)
    );
}
