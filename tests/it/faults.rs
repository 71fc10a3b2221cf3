//! Faults stay local: an upstream killed under load fails only its own in-flight calls, promptly,
//! and rejoins; an upstream that answers garbage, or never answers, is marked down with a clear
//! reason while the others serve; a 10,000-tool upstream is served whole; 64 concurrent clients
//! see no failed call to a healthy upstream while every call to a broken one fails.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// An HTTP server on 127.0.0.1 that answers every request with `reply` (or never, if `None`).
async fn hostile_server(reply: Option<&'static str>) -> (String, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = tokio::select! {
                () = token.cancelled() => return,
                accepted = listener.accept() => match accepted { Ok(pair) => pair, Err(_) => return },
            };
            let token = token.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 65536];
                let _ = stream.read(&mut buffer).await;
                match reply {
                    Some(body) => {
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.write_all(response.as_bytes()).await;
                    }
                    // Hold the connection open, saying nothing, until the test ends.
                    None => token.cancelled().await,
                }
            });
        }
    });
    (format!("http://{addr}/mcp"), stop)
}

#[tokio::test]
async fn garbage_and_silent_upstreams_are_contained() {
    let good = HttpUpstream::start(TestUpstream::new("good")).await;
    let (garbage, stop_garbage) = hostile_server(Some("this is { not json")).await;
    let (silent, stop_silent) = hostile_server(None).await;
    let started = Instant::now();
    let gateway = TestGateway::start(&format!(
        "[server]\nconnect_timeout = \"1s\"\ndiscovery_timeout = \"1s\"\n{}{}{}",
        http_table("good", &good.url()),
        http_table("garbage", &garbage),
        http_table("silent", &silent)
    ))
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "population waited {:?}",
        started.elapsed()
    );
    let (status, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["domains"]["good"]["state"], "ok");
    for domain in ["garbage", "silent"] {
        assert_eq!(ready["domains"][domain]["state"], "down", "{ready}");
        let error = ready["domains"][domain]["error"].as_str().unwrap_or("");
        assert!(!error.is_empty(), "{domain} down without a reason: {ready}");
    }
    assert!(
        ready["domains"]["silent"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("1s")),
        "the silent upstream's reason names the timeout: {ready}"
    );
    let client = gateway.client().await;
    let echoed = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "still here"}}),
    )
    .await;
    assert_eq!(text_of(&echoed), "still here");
    let found = json_of(&call(&client, "discover_tools", json!({})).await);
    let garbage_entry = found["domains"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == "garbage"))
        .cloned();
    assert_eq!(
        garbage_entry.map(|d| d["available"].clone()),
        Some(json!(false)),
        "{found}"
    );
    stop_garbage.cancel();
    stop_silent.cancel();
    gateway.stop().await;
}

#[tokio::test]
async fn an_upstream_killed_under_load_fails_only_its_calls_promptly_and_rejoins() {
    let healthy = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&format!(
        "{}{}",
        http_table("crm", &healthy.url()),
        stdio_table("util", "util")
    ))
    .await;
    let client = gateway.client().await;
    let pid: u32 = text_of(&call(&client, "execute_tool", json!({"tool_name": "util_pid"})).await)
        .parse()
        .expect("pid");
    let doomed = (0..8).map(|_| {
        call(
            &client,
            "execute_tool",
            json!({"tool_name": "util_slow", "arguments": {"ms": 20000}}),
        )
    });
    let healthy_calls = (0..40).map(|i| {
        let message = format!("m{i}");
        let client = &client;
        async move {
            tokio::time::sleep(Duration::from_millis(10 * i)).await;
            call(
                client,
                "execute_tool",
                json!({"tool_name": "crm_echo", "arguments": {"message": message}}),
            )
            .await
        }
    });
    let killer = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let killed = Instant::now();
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("kill");
        killed
    };
    let started = Instant::now();
    let (doomed, healthy_results, killed) = tokio::join!(
        futures::future::join_all(doomed),
        futures::future::join_all(healthy_calls),
        killer
    );
    let waited = started.elapsed();
    for result in &doomed {
        assert_eq!(error_code(result), "upstream_unavailable", "{result:?}");
    }
    assert!(
        waited < Duration::from_secs(10) && killed.elapsed() < Duration::from_secs(10),
        "in-flight calls failed promptly, not at the 60 s timeout ({waited:?})"
    );
    for (i, result) in healthy_results.iter().enumerate() {
        assert_eq!(text_of(result), format!("m{i}"), "{result:?}");
    }
    // It rejoins: a new child answers.
    let rejoined = until(10, || async {
        let result = call(&client, "execute_tool", json!({"tool_name": "util_pid"})).await;
        result.is_error != Some(true) && text_of(&result) != pid.to_string()
    })
    .await;
    assert!(rejoined, "the stdio upstream was not restarted");
    gateway.stop().await;
}

#[tokio::test]
async fn a_ten_thousand_tool_upstream_is_served_whole() {
    let big =
        HttpUpstream::start(TestUpstream::with_synthetic("big", 10_000).paginated(1000)).await;
    let gateway = TestGateway::start(&http_table("big", &big.url())).await;
    let (_, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
    assert_eq!(
        ready["domains"]["big"]["tools"], 10_010,
        "{}",
        ready["domains"]
    );
    let client = gateway.client().await;
    let found = json_of(
        &call(
            &client,
            "discover_tools",
            json!({"query": "export invoices"}),
        )
        .await,
    );
    let first = found["results"][0]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        first.contains("invoices") && first.contains("export"),
        "{found}"
    );
    let schema = json_of(&call(&client, "get_tool_schema", json!({"tool_name": first})).await);
    assert_eq!(schema["name"], first);
    gateway.stop().await;
}

#[tokio::test]
async fn sixty_four_clients_see_no_failure_from_a_healthy_upstream_beside_a_broken_one() {
    const CLIENTS: usize = 64;
    const CALLS: usize = 10;
    let healthy = HttpUpstream::start(TestUpstream::new("crm")).await;
    let broken = HttpUpstream::start(TestUpstream::new("broken")).await;
    let gateway = TestGateway::start(&format!(
        "{}{}",
        http_table("crm", &healthy.url()),
        http_table("broken", &broken.url())
    ))
    .await;
    // Listed, then gone: its tools stay routable and every call to them fails.
    broken.stop();
    drop(broken);
    let url = gateway.url();
    let clients = (0..CLIENTS).map(|c| {
        let url = url.clone();
        tokio::spawn(async move {
            let client = connect(&url, rmcp::service::ClientLifecycleMode::Initialize).await;
            let mut failures = Vec::new();
            for i in 0..CALLS {
                let message = format!("c{c}-{i}");
                let healthy = call(
                    &client,
                    "execute_tool",
                    json!({"tool_name": "crm_echo", "arguments": {"message": message}}),
                )
                .await;
                if text_of(&healthy) != message {
                    failures.push(format!("{healthy:?}"));
                }
                let broken = call(
                    &client,
                    "execute_tool",
                    json!({"tool_name": "broken_echo", "arguments": {"message": "x"}}),
                )
                .await;
                if broken.is_error != Some(true) {
                    failures.push(format!("a stopped upstream answered: {broken:?}"));
                }
            }
            failures
        })
    });
    let results = futures::future::join_all(clients).await;
    let failures: Vec<String> = results
        .into_iter()
        .flat_map(|r| r.unwrap_or_else(|e| vec![e.to_string()]))
        .collect();
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert_eq!(
        healthy
            .server
            .stats
            .calls
            .load(std::sync::atomic::Ordering::SeqCst),
        CLIENTS * CALLS
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_flapping_stdio_upstream_is_restarted_with_backoff_not_in_a_loop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let starts = dir.path().join("starts");
    let stdio = env!("CARGO_BIN_EXE_mcp-gateway-test-upstream");
    let healthy = HttpUpstream::start(TestUpstream::new("crm")).await;
    // Each start is logged, and the child dies 300 ms after it starts.
    let script = format!(
        "echo start >> {}; (sleep 0.3; kill -9 $$) & exec {stdio} --name flap",
        starts.display()
    );
    let gateway = TestGateway::start(&format!(
        "{}[upstreams.flap]\ncommand = \"sh\"\nargs = [\"-c\", {}]\n",
        http_table("crm", &healthy.url()),
        toml::Value::from(script)
    ))
    .await;
    let client = gateway.client().await;
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut held = None;
    let mut healthy_failures = 0;
    while Instant::now() < deadline {
        let flap = call(
            &client,
            "execute_tool",
            json!({"tool_name": "flap_echo", "arguments": {"message": "x"}}),
        )
        .await;
        if flap.is_error == Some(true) {
            let body = json_of(&flap);
            // "… next attempt in N ms": look at /readyz while the hold surely lasts.
            let wait_ms = body["details"]["reason"]
                .as_str()
                .and_then(|r| r.split("next attempt in ").nth(1))
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse::<u64>().ok());
            if held.is_none() && wait_ms.is_some_and(|ms| ms >= 200) {
                let (_, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
                let flap = &ready["domains"]["flap"];
                assert_eq!(flap["state"], "down", "{ready}");
                assert!(
                    flap["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("next attempt")),
                    "{ready}"
                );
                held = Some(body);
            }
        }
        let ok = call(
            &client,
            "execute_tool",
            json!({"tool_name": "crm_echo", "arguments": {"message": "y"}}),
        )
        .await;
        if text_of(&ok) != "y" {
            healthy_failures += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let count = std::fs::read_to_string(&starts)
        .unwrap_or_default()
        .lines()
        .count();
    assert!(
        (2..=5).contains(&count),
        "{count} starts in 4 s: restarts are not backed off"
    );
    let held = held.expect("a call during the backoff says when the next attempt is");
    assert_eq!(held["code"], "upstream_unavailable", "{held}");
    assert_eq!(healthy_failures, 0, "the healthy upstream was affected");
    gateway.stop().await;
}
