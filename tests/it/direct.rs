//! The direct-call path over raw HTTP: a `tools/call` on a session answers as plain JSON (same
//! result as rmcp's path, in the session's revision's shape); requests it must not take (unknown
//! session, `Accept`, protocol version, per-request protocol metadata, `Mcp-Method`, a foreign
//! `Host`) get rmcp's answers; `notifications/cancelled` and the session's DELETE cancel a call
//! upstream, a client hanging up does not (the spec's rule); a call longer than the JSON window
//! streams SSE; direct calls keep their session past the idle timeout, idleness ends it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use crate::support::raw_session::{RawSession, message_of, tool_call};
use crate::support::*;

#[tokio::test]
async fn a_tool_call_on_a_session_answers_as_plain_json_like_rmcps_path() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&http_table("crm", &up.url())).await;
    let session = RawSession::open(&gateway.url()).await;
    let call = tool_call(
        7,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "hi"}}),
    );

    let (status, kind, body) = session.post(&call, &[]).await;
    assert_eq!((status, kind.as_str()), (200, "application/json"), "{body}");
    let direct = message_of(&kind, &body);
    assert_eq!(direct["id"], 7);
    assert_eq!(direct["result"]["content"][0]["text"], "hi", "{direct}");
    // The session negotiated 2025-06-18: no `resultType` (a 2026-07-28 field), as rmcp answers.
    assert!(direct["result"].get("resultType").is_none(), "{direct}");

    // The same call through rmcp's path (a weighted Accept sends it there) answers the same.
    let (status, kind, body) = session
        .post(
            &call,
            &[("accept", "application/json;q=0.9, text/event-stream")],
        )
        .await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "text/event-stream"),
        "{body}"
    );
    assert_eq!(message_of(&kind, &body), direct);

    // An error is a JSON-RPC error with the request's id.
    let (_, kind, body) = session.post(&tool_call(8, "echo", json!({})), &[]).await;
    let error = message_of(&kind, &body);
    assert_eq!(error["id"], 8);
    assert_eq!(error["error"]["code"], -32602, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("execute_tool"))
    );
    gateway.stop().await;
}

#[tokio::test]
async fn requests_the_direct_path_does_not_take_still_get_rmcps_answers() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&http_table("crm", &up.url())).await;
    let session = RawSession::open(&gateway.url()).await;
    let schema = tool_call(1, "get_tool_schema", json!({"tool_name": "echo"}));

    // An unknown session: 404, so the client starts a new one.
    let stale = RawSession::unopened(&gateway.url(), "no-such-session");
    assert_eq!(stale.post(&schema, &[]).await.0, 404);
    // Only JSON accepted: 406, as rmcp answers.
    assert_eq!(
        session
            .post(&schema, &[("accept", "application/json")])
            .await
            .0,
        406
    );
    // An unsupported protocol version header: 400.
    let (status, _, _) = session
        .post(&schema, &[("mcp-protocol-version", "1999-01-01")])
        .await;
    assert_eq!(status, 400);
    // Per-request protocol metadata, Mcp-Method headers and a weighted Accept are rmcp's to
    // answer (it streams SSE); the same call without them is answered directly (plain JSON).
    assert_eq!(session.post(&schema, &[]).await.1, "application/json");
    let mut with_meta = schema.clone();
    with_meta["params"]["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2025-06-18"});
    let (_, kind, _) = session.post(&with_meta, &[]).await;
    assert_ne!(
        kind, "application/json",
        "per-request protocol metadata went the direct path"
    );
    let (_, kind, body) = session.post(&schema, &[("mcp-method", "tools/call")]).await;
    assert_eq!(kind, "text/event-stream", "{body}");
    // A Host outside the allow-list (DNS rebinding) is refused, as rmcp refuses it.
    assert_eq!(
        session.post(&schema, &[("host", "evil.example")]).await.0,
        403
    );
    // tools/list is rmcp's: the four meta-tools.
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let (status, kind, body) = session.post(&list, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        message_of(&kind, &body)["result"]["tools"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );

    // After DELETE the session is gone for direct calls too.
    assert_eq!(
        session.delete().await,
        204,
        "the session is gone, not queued"
    );
    assert_eq!(session.post(&schema, &[]).await.0, 404);
    gateway.stop().await;
}

#[tokio::test]
async fn a_hang_up_does_not_cancel_but_notifications_cancelled_and_delete_do() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let stats = up.server.stats.clone();
    let gateway = TestGateway::start(&http_table("crm", &up.url())).await;
    let session = std::sync::Arc::new(RawSession::open(&gateway.url()).await);
    let slow = |id: u64, ms: u64| {
        tool_call(
            id,
            "execute_tool",
            json!({"tool_name": "slow", "arguments": {"ms": ms}}),
        )
    };

    // Hanging up is not cancelling (MCP transport spec): the call runs to its end upstream.
    let hung_up = tokio::time::timeout(
        Duration::from_millis(300),
        session.post(&slow(3, 1500), &[]),
    )
    .await;
    assert!(hung_up.is_err(), "the slow call answered early");
    assert!(
        eventually(10, || stats.calls.load(Ordering::SeqCst) == 1
            && stats.in_flight.load(Ordering::SeqCst) == 0)
        .await,
        "the call did not run to its end"
    );
    assert_eq!(
        stats.cancelled.load(Ordering::SeqCst),
        0,
        "a hang-up cancelled the call"
    );

    // notifications/cancelled on the direct path cancels it upstream; the call answers.
    let running = tokio::spawn({
        let session = session.clone();
        async move { session.post(&slow(4, 20_000), &[]).await }
    });
    assert!(eventually(5, || stats.in_flight.load(Ordering::SeqCst) == 1).await);
    let (status, _, _) = session.post(&session.cancel(4), &[]).await;
    assert_eq!(status, 202);
    assert!(
        eventually(5, || stats.cancelled.load(Ordering::SeqCst) == 1).await,
        "the upstream never saw the cancellation"
    );
    let (status, kind, body) = running.await.expect("join");
    let answer = message_of(&kind, &body);
    assert_eq!((status, answer["id"].clone()), (200, json!(4)));
    assert!(body.contains("cancelled"), "{body}");

    // Deleting the session cancels what is still running on it.
    let running = tokio::spawn({
        let session = session.clone();
        async move { session.post(&slow(5, 20_000), &[]).await }
    });
    assert!(eventually(5, || stats.in_flight.load(Ordering::SeqCst) == 1).await);
    assert_eq!(
        session.delete().await,
        204,
        "the session is gone, not queued"
    );
    assert!(
        eventually(5, || stats.cancelled.load(Ordering::SeqCst) == 2).await,
        "DELETE left the call running upstream"
    );
    let _ = running.await;
    gateway.stop().await;
}

#[tokio::test]
async fn a_call_longer_than_the_json_window_streams_its_answer_as_sse() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&http_table("crm", &up.url())).await;
    let session = RawSession::open(&gateway.url()).await;
    let ms = mcp_gateway::direct_call::JSON_WINDOW.as_millis() as u64 + 1000;
    let slow = tool_call(
        4,
        "execute_tool",
        json!({"tool_name": "slow", "arguments": {"ms": ms}}),
    );
    let (status, headers, body) = session.post_full(&slow, &[]).await;
    let kind = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert_eq!((status, kind), (200, "text/event-stream"), "{body}");
    // Proxies must pass the stream on as it comes.
    assert_eq!(
        headers
            .get("x-accel-buffering")
            .and_then(|v| v.to_str().ok()),
        Some("no")
    );
    let answer = message_of(kind, &body);
    assert_eq!(answer["id"], 4);
    assert_eq!(
        answer["result"]["content"][0]["text"],
        format!("slept {ms} ms"),
        "{answer}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn direct_calls_keep_their_session_and_idleness_ends_it() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let toml = format!(
        "[server]\nsession_idle_timeout = \"2s\"\n{}",
        http_table("crm", &up.url())
    );
    let gateway = TestGateway::start(&toml).await;
    let session = RawSession::open(&gateway.url()).await;
    let schema = tool_call(1, "get_tool_schema", json!({"tool_name": "echo"}));
    // 4 s of direct calls only (rmcp's session worker sees none of them) outlast the 2 s
    // timeout: the session is kept.
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let (status, kind, _) = session.post(&schema, &[]).await;
        assert_eq!((status, kind.as_str()), (200, "application/json"));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Quiet for longer than the timeout (plus the poke interval): the session is gone.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(session.post(&schema, &[]).await.0, 404);
    gateway.stop().await;
}
