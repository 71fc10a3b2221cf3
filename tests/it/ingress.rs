//! The checks before rmcp: malformed bodies get HTTP 400 with a JSON-RPC error, oversized bodies
//! 413 and oversized heads 431, foreign `Origin`s 403, and with `[server.auth]` a missing or wrong
//! bearer token 401 with `WWW-Authenticate` (health routes stay open, tokens rotate on reload).

use mcp_gateway::reloader::{self, ConfigLoader};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

/// POSTs `body` to `/mcp` with the headers an MCP client sends, plus `extra`.
async fn post(
    url: &str,
    body: impl Into<reqwest::Body>,
    extra: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("POST");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    // An accepted initialize answers in SSE: keep the JSON of its data line.
    let json = serde_json::from_str(&text).unwrap_or_else(|_| {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .find_map(|d| serde_json::from_str(d.trim()).ok())
            .unwrap_or(Value::Null)
    });
    (status, json, headers)
}

fn rpc_code(body: &Value) -> Option<i64> {
    body["error"]["code"].as_i64()
}

#[tokio::test]
async fn malformed_and_oversized_requests_get_clear_http_errors() {
    let gateway = TestGateway::start_unpopulated(
        "[server]\nmax_body_bytes = 2048\nmax_header_bytes = 8192\n",
    )
    .await;
    let url = gateway.url();
    for (body, status, code) in [
        ("{not json", 400, -32700),
        ("", 400, -32700),
        ("[1,2]", 400, -32600),
        ("[]", 400, -32600),
        ("{}", 400, -32600),
        (r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, 400, -32600),
        (
            r#"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#,
            400,
            -32600,
        ),
    ] {
        let (got, json, _) = post(&url, body, &[]).await;
        assert_eq!(
            (got, rpc_code(&json)),
            (status, Some(code)),
            "{body:?}: {json}"
        );
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert_eq!(json["jsonrpc"], "2.0");
    }
    // Over the limit by Content-Length…
    let (status, json, _) = post(&url, "x".repeat(4096), &[]).await;
    assert_eq!(status, 413, "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("2048")),
        "{json}"
    );
    // …and streamed without one (chunked): cut off at the limit.
    let mut stream = tokio::net::TcpStream::connect(gateway.running.addr)
        .await
        .expect("connect");
    let chunk = "y".repeat(1000);
    let mut raw = String::from(
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: application/json, text/event-stream\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
    );
    for _ in 0..4 {
        raw.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    raw.push_str("0\r\n\r\n");
    stream.write_all(raw.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // A head over max_header_bytes.
    let big = "z".repeat(16 * 1024);
    let (status, _, _) = post(&url, INITIALIZE, &[("x-padding", big.as_str())]).await;
    assert_eq!(status, 431);
    // Within the limits, the same gateway still answers.
    let (status, json, _) = post(&url, INITIALIZE, &[]).await;
    assert_eq!(status, 200, "{json}");
    assert!(json["result"]["serverInfo"].is_object(), "{json}");
    gateway.stop().await;
}

#[tokio::test]
async fn foreign_origins_are_refused() {
    let gateway = TestGateway::start_unpopulated("").await;
    let url = gateway.url();
    for (origin, allowed) in [
        (None, true),
        (Some("http://localhost:6274"), true),
        (Some("http://127.0.0.1:3000"), true),
        (Some("http://evil.example"), false),
        (Some("null"), false),
        (Some("http://localhost.evil.example"), false),
    ] {
        let extra: Vec<(&str, &str)> = origin.map(|o| ("origin", o)).into_iter().collect();
        let (status, json, _) = post(&url, INITIALIZE, &extra).await;
        if allowed {
            assert_eq!(status, 200, "{origin:?}: {json}");
        } else {
            assert_eq!(status, 403, "{origin:?}: {json}");
            assert!(
                json["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("not allowed"))
            );
        }
    }
    gateway.stop().await;

    let gateway =
        TestGateway::start_unpopulated("[server]\nallowed_origins = [\"https://app.example\"]\n")
            .await;
    let url = gateway.url();
    assert_eq!(
        post(&url, INITIALIZE, &[("origin", "https://app.example")])
            .await
            .0,
        200
    );
    assert_eq!(
        post(&url, INITIALIZE, &[("origin", "http://localhost:6274")])
            .await
            .0,
        403
    );
    assert_eq!(post(&url, INITIALIZE, &[]).await.0, 200);
    gateway.stop().await;
}

#[tokio::test]
async fn bearer_tokens_guard_mcp_and_rotate_on_reload() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let table = http_table("crm", &up.url());
    let gateway = TestGateway::start_unwatched(&format!(
        "[server.auth]\nbearer_tokens = [\"alpha-token\", \"beta-token\"]\n{table}"
    ))
    .await;
    let url = gateway.url();

    let (status, json, headers) = post(&url, INITIALIZE, &[]).await;
    assert_eq!(status, 401, "{json}");
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"mcp-gateway\"");
    let (status, _, headers) = post(&url, INITIALIZE, &[("authorization", "Bearer wrong")]).await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .is_ok_and(|v| v.contains("invalid_token"))
    );
    let (status, _, _) = post(
        &url,
        INITIALIZE,
        &[("authorization", "Basic YWxwaGEtdG9rZW4=")],
    )
    .await;
    assert_eq!(status, 401, "only the Bearer scheme");
    // GET and DELETE on /mcp are guarded too; health routes are not.
    let get = reqwest::Client::new()
        .get(&url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET");
    assert_eq!(get.status().as_u16(), 401);
    assert_eq!(
        get_json(&format!("{}/healthz", gateway.base())).await.0,
        200
    );
    assert_eq!(get_json(&format!("{}/readyz", gateway.base())).await.0, 200);
    // /metrics names tools: guarded like /mcp.
    let metrics = format!("{}/metrics", gateway.base());
    assert_eq!(
        reqwest::get(&metrics).await.expect("GET").status().as_u16(),
        401
    );
    let scraped = reqwest::Client::new()
        .get(&metrics)
        .bearer_auth("alpha-token")
        .send()
        .await
        .expect("GET");
    assert_eq!(scraped.status().as_u16(), 200);

    // Either token opens a real MCP session; the gateway works through it.
    for token in ["alpha-token", "beta-token"] {
        let client = connect_with_token(&url, token)
            .await
            .expect("authorised session");
        let found = json_of(&call(&client, "discover_tools", json!({})).await);
        assert_eq!(found["total_tools"], json!(10), "{found}");
    }
    assert!(connect_with_token(&url, "gamma-token").await.is_err());

    // Rotation: the new file's tokens apply at once, without a restart.
    gateway.write_config(&format!(
        "[server.auth]\nbearer_tokens = [\"gamma-token\"]\n{table}"
    ));
    let loader = ConfigLoader {
        path: Some(gateway.path.clone()),
        env: test_env(),
        sighup: false,
    };
    reloader::reload_once(&gateway.running.gateway, &loader).await;
    assert!(
        connect_with_token(&url, "alpha-token").await.is_err(),
        "a rotated-out token is refused"
    );
    let client = connect_with_token(&url, "gamma-token")
        .await
        .expect("the new token works");
    call(&client, "discover_tools", json!({})).await;
    gateway.stop().await;
}
