//! Per-upstream limits: a hanging call ends as `upstream_timeout` within the timeout + 10% and is
//! cancelled upstream; calls beyond `max_concurrency` queue, then get `upstream_busy`; a result
//! over `max_result_bytes` is dropped as `result_too_large` while the session stays usable; a
//! reload changes limits without reconnecting; other upstreams are untouched throughout.

use std::sync::atomic::Ordering;
use std::time::Instant;

use mcp_gateway::reloader::{self, ConfigLoader};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_hanging_call_times_out_on_time_and_is_cancelled_upstream() {
    let slow = HttpUpstream::start(TestUpstream::new("slow")).await;
    let fine = HttpUpstream::start(TestUpstream::new("fine")).await;
    let gateway = TestGateway::start_unwatched(&format!(
        "{}call_timeout = \"1s\"\n{}",
        session_table("slow", &slow.url()),
        session_table("fine", &fine.url())
    ))
    .await;
    let client = gateway.client().await;
    let started = Instant::now();
    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "slow_slow", "arguments": {"ms": 30000}}),
    )
    .await;
    let wall = started.elapsed();
    assert_eq!(error_code(&result), "upstream_timeout");
    let elapsed = json_of(&result)["details"]["elapsed_ms"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        (1000..=1100).contains(&elapsed),
        "timed out after {elapsed} ms, not 1 s + 10%"
    );
    assert!(wall.as_millis() < 5000, "the caller waited {wall:?}");
    assert!(
        eventually(5, || slow.server.stats.cancelled.load(Ordering::SeqCst)
            == 1)
        .await,
        "the upstream saw the cancellation"
    );
    // The other upstream keeps the default (60 s) and answers.
    let ok = call(
        &client,
        "execute_tool",
        json!({"tool_name": "fine_slow", "arguments": {"ms": 1500}}),
    )
    .await;
    assert_eq!(ok.is_error, Some(false), "{ok:?}");

    // A reload shortens the timeout without a new session.
    let sessions = slow.server.stats.sessions.load(Ordering::SeqCst);
    gateway.write_config(&format!(
        "{}call_timeout = \"500ms\"\n{}",
        session_table("slow", &slow.url()),
        session_table("fine", &fine.url())
    ));
    let loader = ConfigLoader {
        path: Some(gateway.path.clone()),
        env: test_env(),
        sighup: false,
    };
    reloader::reload_once(&gateway.running.gateway, &loader).await;
    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "slow_slow", "arguments": {"ms": 30000}}),
    )
    .await;
    let elapsed = json_of(&result)["details"]["elapsed_ms"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        (500..=550).contains(&elapsed),
        "{elapsed} ms, not 500 ms + 10%"
    );
    assert_eq!(
        slow.server.stats.sessions.load(Ordering::SeqCst),
        sessions,
        "no reconnect"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn calls_beyond_max_concurrency_queue_then_get_upstream_busy() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let other = HttpUpstream::start(TestUpstream::new("other")).await;
    let gateway = TestGateway::start(&format!(
        "{}max_concurrency = 2\nqueue_timeout = \"200ms\"\n{}",
        http_table("crm", &up.url()),
        http_table("other", &other.url())
    ))
    .await;
    let client = gateway.client().await;
    let calls = (0..4).map(|_| {
        call(
            &client,
            "execute_tool",
            json!({"tool_name": "crm_slow", "arguments": {"ms": 1000}}),
        )
    });
    let other_call = call(
        &client,
        "execute_tool",
        json!({"tool_name": "other_echo", "arguments": {"message": "hi"}}),
    );
    let (results, other_result) = tokio::join!(futures::future::join_all(calls), other_call);
    let busy: Vec<_> = results
        .iter()
        .filter(|r| r.is_error == Some(true))
        .collect();
    assert_eq!(busy.len(), 2, "{results:?}");
    for result in &busy {
        let body = json_of(result);
        assert_eq!(body["code"], "upstream_busy", "{body}");
        assert_eq!(body["details"]["max_concurrency"], 2);
        assert!(
            body["details"]["waited_ms"]
                .as_u64()
                .is_some_and(|w| w >= 200),
            "{body}"
        );
    }
    assert_eq!(
        up.server.stats.max_in_flight.load(Ordering::SeqCst),
        2,
        "never more than 2 upstream"
    );
    assert_eq!(
        other_result.is_error,
        Some(false),
        "another upstream is not limited by this one"
    );
    // Slots come back: the next call runs.
    let again = call(
        &client,
        "execute_tool",
        json!({"tool_name": "crm_slow", "arguments": {"ms": 10}}),
    )
    .await;
    assert_eq!(again.is_error, Some(false), "{again:?}");
    gateway.stop().await;
}

#[tokio::test]
async fn an_oversized_result_is_dropped_and_the_session_stays_usable() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&format!(
        "[server]\nmax_result_bytes = 10000\n{}",
        session_table("crm", &up.url())
    ))
    .await;
    let client = gateway.client().await;
    let big = "x".repeat(20_000);
    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": big}}),
    )
    .await;
    assert_eq!(error_code(&result), "result_too_large");
    let details = &json_of(&result)["details"];
    assert_eq!(details["limit"], 10000);
    assert!(
        details["bytes"].as_u64().is_some_and(|b| b > 20_000),
        "{details}"
    );
    let small = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "hi"}}),
    )
    .await;
    assert_eq!(text_of(&small), "hi");
    assert_eq!(
        up.server.stats.sessions.load(Ordering::SeqCst),
        1,
        "the same session"
    );
    gateway.stop().await;
}
