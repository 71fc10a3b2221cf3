//! The binary as a service: SIGTERM drains an in-flight call and leaves no child behind;
//! SIGHUP reloads; systemd notifications (READY, RELOADING + MONOTONIC_USEC, STOPPING); planted
//! secrets never appear in its logs (at debug level), `check` output, errors or `/readyz`.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use crate::support::raw_session::{RawSession, message_of, tool_call};
use crate::support::*;

#[tokio::test]
async fn sigterm_drains_an_in_flight_call_then_exits_zero_without_orphans() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let (_dir, config) = config_file(&format!(
        "{}{}",
        http_table("crm", &up.url()),
        stdio_table("util", "util")
    ));
    let mut process = GatewayProcess::start(&config, None);
    let client = connect(&process.url, rmcp::service::ClientLifecycleMode::Initialize).await;
    let populated = until(10, || async {
        domain_tools(&client, "util")
            .await
            .contains(&"util_pid".to_string())
            && domain_tools(&client, "crm")
                .await
                .contains(&"crm_slow".to_string())
    })
    .await;
    assert!(populated, "gateway never populated");
    let child_pid: u32 =
        text_of(&call(&client, "execute_tool", json!({"tool_name": "util_pid"})).await)
            .parse()
            .expect("pid");

    let slow = tokio::spawn(async move {
        let result = call(
            &client,
            "execute_tool",
            json!({"tool_name": "crm_slow", "arguments": {"ms": 1500}}),
        )
        .await;
        text_of(&result)
    });
    let stats = up.server.stats.clone();
    assert!(eventually(5, || stats.in_flight.load(Ordering::SeqCst) == 1).await);
    process.signal("TERM");
    let text = tokio::time::timeout(Duration::from_secs(10), slow)
        .await
        .expect("call finished")
        .expect("task");
    assert_eq!(text, "slept 1500 ms", "the in-flight call was cut");
    assert_eq!(stats.cancelled.load(Ordering::SeqCst), 0);
    let code = tokio::task::spawn_blocking(move || process.wait_exit(15))
        .await
        .expect("wait");
    assert_eq!(code, Some(0));
    assert!(
        eventually(5, || !process_alive(child_pid)).await,
        "stdio child {child_pid} outlived the gateway"
    );
}

fn next_message(socket: &UnixDatagram) -> String {
    let mut buffer = [0u8; 4096];
    let n = socket
        .recv(&mut buffer)
        .expect("a systemd notification in time");
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_systemd_is_told_every_step() {
    let first = HttpUpstream::start(TestUpstream::new("first")).await;
    let second = HttpUpstream::start(TestUpstream::with_tools(
        "second",
        upstream::synthetic_tools("s", 1),
    ))
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, http_table("first", &first.url())).expect("write");
    let mut process = GatewayProcess::start(&config, Some(&socket_path));

    let ready = tokio::task::block_in_place(|| next_message(&socket));
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");

    std::fs::write(
        &config,
        format!(
            "{}{}",
            http_table("first", &first.url()),
            http_table("second", &second.url())
        ),
    )
    .expect("write");
    process.signal("HUP");
    let reloading = tokio::task::block_in_place(|| next_message(&socket));
    assert!(reloading.lines().any(|l| l == "RELOADING=1"), "{reloading}");
    let usec = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .expect("MONOTONIC_USEC");
    assert!(usec.parse::<u64>().is_ok_and(|n| n > 0));
    let reloaded = tokio::task::block_in_place(|| next_message(&socket));
    assert!(reloaded.lines().any(|l| l == "READY=1"), "{reloaded}");

    let client = connect(&process.url, rmcp::service::ClientLifecycleMode::Initialize).await;
    assert!(
        until(3, || async {
            domains(&client).await == ["first", "second"]
        })
        .await
    );

    process.signal("TERM");
    // a file-watch reload may have been queued too: skip to STOPPING
    let stopping = tokio::task::block_in_place(|| {
        (0..5)
            .map(|_| next_message(&socket))
            .find(|m| m.lines().any(|l| l == "STOPPING=1"))
    });
    assert!(stopping.is_some(), "no STOPPING=1");
    let code = tokio::task::spawn_blocking(move || process.wait_exit(15))
        .await
        .expect("wait");
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_reload_logs_one_error_line_per_problem() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("gateway.toml");
    let good = http_table("crm", &up.url());
    std::fs::write(&config, &good).expect("write");
    let mut process = GatewayProcess::start(&config, None);
    let client = connect(&process.url, rmcp::service::ClientLifecycleMode::Initialize).await;
    assert!(
        until(10, || async {
            !domain_tools(&client, "crm").await.is_empty()
        })
        .await
    );
    std::fs::write(
        &config,
        format!("{good}colour = 1\n[upstreams.Bad]\nurl = \"x\"\n"),
    )
    .expect("write");
    process.signal("HUP");
    let errors = tokio::task::block_in_place(|| process.lines_matching("config rejected:", 10));
    assert!(errors.iter().all(|l| l.contains("ERROR")), "{errors:#?}");
    let paths: Vec<&str> = errors
        .iter()
        .filter_map(|l| l.split("path=").nth(1)?.split_whitespace().next())
        .collect();
    assert!(
        paths.contains(&"upstreams.crm.colour") && paths.contains(&"upstreams.Bad"),
        "{errors:#?}"
    );
    // SIGHUP and the file watcher may both reload: each rejection logs every problem once
    assert_eq!(errors.len() % 3, 0, "{errors:#?}");
    process.signal("TERM");
    assert_eq!(
        tokio::task::spawn_blocking(move || process.wait_exit(15))
            .await
            .expect("wait"),
        Some(0)
    );
}

#[tokio::test]
async fn sigint_after_the_shutdown_timeout_cuts_the_call_and_still_exits_zero() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let (_dir, config) = config_file(&format!(
        "[server]\nshutdown_timeout = \"1s\"\n{}",
        http_table("crm", &up.url())
    ));
    let mut process = GatewayProcess::start(&config, None);
    let client = connect(&process.url, rmcp::service::ClientLifecycleMode::Initialize).await;
    assert!(
        until(10, || async {
            !domain_tools(&client, "crm").await.is_empty()
        })
        .await
    );
    let slow = tokio::spawn(async move {
        try_call(
            &client,
            "execute_tool",
            json!({"tool_name": "slow", "arguments": {"ms": 20_000}}),
        )
        .await
    });
    let stats = up.server.stats.clone();
    assert!(eventually(5, || stats.in_flight.load(Ordering::SeqCst) == 1).await);
    let started = std::time::Instant::now();
    process.signal("INT");
    let code = tokio::task::spawn_blocking(move || process.wait_exit(15))
        .await
        .expect("wait");
    assert_eq!(code, Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "shutdown took {:?}",
        started.elapsed()
    );
    // the gateway is gone, so the call was cut: the upstream saw it cancelled (the client's own
    // reconnect attempts are its business)
    assert!(
        eventually(5, || stats.cancelled.load(Ordering::SeqCst) == 1).await,
        "the upstream call was not cancelled"
    );
    slow.abort();
}

/// Every secret planted in the config below; none may appear anywhere the gateway writes.
const PLANTED: &[&str] = &[
    "PLANTED-URLPASS-1",
    "PLANTED-QUERY-2",
    "PLANTED-HEADER-3",
    "PLANTED-DEADPASS-4",
    "PLANTED-DEADQ-5",
    "PLANTED-DEADBEARER-6",
    "PLANTED-ENV-7",
    "PLANTED-REGTOKEN-8",
    "PLANTED-INBOUND-9",
];

fn assert_clean(place: &str, text: &str) {
    for secret in PLANTED {
        assert!(
            !text.contains(secret),
            "{secret} leaked into {place}:\n{text}"
        );
    }
}

#[tokio::test]
async fn planted_secrets_never_leak_into_logs_check_errors_or_readyz() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let dead = free_addr();
    let url = up
        .url()
        .replacen("http://", "http://user:PLANTED-URLPASS-1@", 1);
    let stdio = env!("CARGO_BIN_EXE_mcp-gateway-test-upstream");
    let (_dir, config) = config_file(&format!(
        r#"[server]
registry_auth_token = "PLANTED-REGTOKEN-8"
[server.auth]
bearer_tokens = ["PLANTED-INBOUND-9"]

[upstreams.crm]
url = "{url}?api_key=PLANTED-QUERY-2"
headers = {{ x-api-key = "PLANTED-HEADER-3" }}

[upstreams.dead]
url = "http://user:PLANTED-DEADPASS-4@{dead}/mcp?token=PLANTED-DEADQ-5"
headers = {{ authorization = "Bearer PLANTED-DEADBEARER-6" }}

[upstreams.child]
command = "sh"
args = ["-c", "echo \"starting with key $SECRET_KEY\" >&2; exec {stdio} --name child"]
env = {{ SECRET_KEY = "PLANTED-ENV-7" }}
"#
    ));

    let check = Command::new(crate::support::process::BINARY)
        .args(["check", "--config"])
        .arg(&config)
        .env_clear()
        .output()
        .expect("run check");
    assert!(check.status.success());
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(shown.contains("<redacted>"), "{shown}");
    assert_clean(
        "check output",
        &format!("{shown}{}", String::from_utf8_lossy(&check.stderr)),
    );

    let mut process = GatewayProcess::start_with(&config, None, &[("RUST_LOG", "debug")]);
    let client = connect_with_token(&process.url, "PLANTED-INBOUND-9")
        .await
        .expect("authorised session");
    let base = process.url.trim_end_matches("/mcp").to_string();
    let populated = until(15, || async {
        let tools = domain_tools(&client, "child").await;
        !tools.is_empty() && !domain_tools(&client, "crm").await.is_empty()
    })
    .await;
    assert!(populated, "gateway never populated");
    let (_, readyz) = get_json(&format!("{base}/readyz")).await;
    assert_eq!(readyz["domains"]["dead"]["state"], "down", "{readyz}");
    assert_clean("/readyz", &readyz.to_string());

    let echoed = call(
        &client,
        "execute_tool",
        json!({"tool_name": "crm_echo", "arguments": {"message": "hi"}}),
    )
    .await;
    assert_eq!(echoed.is_error, Some(false), "{echoed:?}");
    for args in [
        json!({"tool_name": "crm_always_fails"}),
        json!({"tool_name": "crm_rpc_error"}),
        json!({"tool_name": "nope"}),
    ] {
        let result = call(&client, "execute_tool", args).await;
        assert_clean("an error result", &format!("{result:?}"));
    }
    let refreshed = call(&client, "refresh_registry", json!({})).await;
    let refreshed = format!("{refreshed:?}");
    assert!(refreshed.contains("dead"), "{refreshed}");
    assert_clean("refresh_registry", &refreshed);
    // A client with a wrong token is refused; its token is not logged either.
    assert!(
        connect_with_token(&process.url, "PLANTED-WRONG-TOKEN")
            .await
            .is_err()
    );

    process.signal("TERM");
    let code = tokio::task::spawn_blocking(move || {
        let code = process.wait_exit(15);
        let mut lines = Vec::new();
        while let Ok(line) = process.lines.recv_timeout(Duration::from_millis(200)) {
            lines.push(line);
        }
        (code, lines)
    })
    .await
    .expect("join");
    let (code, lines) = code;
    assert_eq!(code, Some(0));
    let log = lines.join("\n");
    assert!(
        log.contains("starting with key <redacted>"),
        "the child's stderr line, scrubbed:\n{log}"
    );
    assert!(log.contains("dead"), "the dead upstream was logged:\n{log}");
    assert_clean("the log", &log);
    assert!(!log.contains("PLANTED-WRONG-TOKEN"), "{log}");
}

#[tokio::test]
async fn json_logs_have_one_line_per_request_with_domain_tool_outcome_and_duration() {
    let lines = two_logged_calls("[telemetry]\nlog_format = \"json\"\n", "\"request\"").await;
    let requests: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["meta_tool"] == "execute_tool")
        .collect();
    assert_eq!(requests.len(), 2, "{lines:#?}");
    assert_eq!(requests[0]["level"], "INFO");
    assert_eq!(requests[0]["domain"], "crm");
    assert_eq!(requests[0]["tool"], "echo");
    assert_eq!(requests[0]["outcome"], "ok");
    assert!(requests[0]["duration_ms"].as_f64().is_some_and(|d| d > 0.0));
    assert_eq!(requests[1]["outcome"], "tool_not_found");
    assert_eq!(requests[1]["domain"], "");
    assert_eq!(requests[1]["tool"], ODD_NAME, "a string, as it came");
}

/// A tool name a log line must escape: quotes, a line break, a control character.
const ODD_NAME: &str = "nope \"quoted\"\nnext\u{1b}[31m";

/// A gateway process (config `telemetry` prepended to one upstream's table) that routes one
/// `echo` call and fails one call to [`ODD_NAME`]; the lines of its log holding `marker`.
async fn two_logged_calls(telemetry: &str, marker: &str) -> Vec<String> {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let (_dir, config) = config_file(&format!("{telemetry}{}", http_table("crm", &up.url())));
    let process = GatewayProcess::start(&config, None);
    let client = connect(&process.url, rmcp::service::ClientLifecycleMode::Initialize).await;
    assert!(
        until(10, || async {
            !domain_tools(&client, "crm").await.is_empty()
        })
        .await
    );
    call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "hi"}}),
    )
    .await;
    call(&client, "execute_tool", json!({"tool_name": ODD_NAME})).await;
    process.lines_matching(marker, 5)
}

#[tokio::test]
async fn text_logs_have_one_line_per_request_with_its_fields_quoted_and_escaped() {
    let lines = two_logged_calls("", "mcp_gateway::request").await;
    // Each field as `str`'s `Debug` writes it: quoted, and escaped where it must be.
    let ok = r#" INFO mcp_gateway::request: request meta_tool="execute_tool" domain="crm" tool="echo" outcome="ok" duration_ms="#;
    let odd = format!(
        r#" INFO mcp_gateway::request: request meta_tool="execute_tool" domain="" tool={ODD_NAME:?} outcome="tool_not_found" duration_ms="#
    );
    assert!(
        odd.contains(r#"tool="nope \"quoted\"\nnext\u{1b}[31m""#),
        "{odd}"
    );
    for wanted in [ok, odd.as_str()] {
        assert_eq!(
            lines.iter().filter(|line| line.contains(wanted)).count(),
            1,
            "{wanted}\n{lines:#?}"
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Runs the binary on one upstream with `env`, makes traced `execute_tool` calls, sends
/// SIGTERM, waits for the exit, and returns what the upstream's `headers` tool saw.
async fn traced_run(env: &[(&str, &str)], trace_id: &str) -> serde_json::Value {
    let up = HttpUpstream::start(TestUpstream::with_headers_tool("crm")).await;
    let (_dir, config) = config_file(&http_table("crm", &up.url()));
    let mut process = GatewayProcess::start_with(&config, None, env);
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let client = connect_with_headers(&process.url, "unused", &[("traceparent", &traceparent)])
        .await
        .expect("connect");
    assert!(
        until(10, || async {
            !domain_tools(&client, "crm").await.is_empty()
        })
        .await,
        "the upstream's tools appear"
    );
    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "traced"}}),
    )
    .await;
    assert_eq!(text_of(&result), "traced");
    let seen = call(&client, "execute_tool", json!({"tool_name": "headers"})).await;
    process.signal("TERM");
    assert_eq!(process.wait_exit(20), Some(0), "clean exit after the flush");
    serde_json::from_str(&text_of(&seen)).unwrap_or_default()
}

// Multi-threaded: the collector must answer while this thread waits for the exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_collector_and_are_flushed_on_sigterm() {
    let collector = collector::Collector::start().await;
    let endpoint = format!("http://{}", collector.addr);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let seen = traced_run(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "gateway-under-test"),
        ],
        trace_id,
    )
    .await;
    // The upstream is in the caller's trace, under the gateway's span (not the caller's).
    let header = seen["traceparent"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(header.starts_with(&format!("00-{trace_id}-")), "{seen}");
    assert!(!header.contains("00f067aa0ba902b7"), "{seen}");
    assert_eq!(seen["_meta"]["traceparent"], json!(header));
    let received = collector.received();
    assert!(!received.is_empty(), "spans were exported before the exit");
    for request in &received {
        assert_eq!(request.path, "/v1/traces");
        assert_eq!(request.content_type, "application/x-protobuf");
    }
    let body: Vec<u8> = received.iter().flat_map(|r| r.body.clone()).collect();
    for name in [
        "gateway.populate_all",
        "gateway.upstream.list",
        "gateway.execute_tool",
        "gateway.upstream.call",
        "gateway-under-test",
    ] {
        assert!(contains(&body, name.as_bytes()), "{name} was exported");
    }
    // The caller's trace id (16 raw bytes in OTLP protobuf): the gateway joined its trace.
    assert!(
        contains(&body, &hex_bytes(trace_id)),
        "the caller's trace id"
    );
}

// Multi-threaded: the collector must answer while this thread waits for the exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_otlp_endpoint_nothing_tries_to_connect() {
    // The default OTLP/HTTP port: a gateway falling back to the SDK's default would come here.
    let default_port = tokio::net::TcpListener::bind("127.0.0.1:4318")
        .await
        .ok()
        .map(collector::Collector::serve);
    let switched_off = collector::Collector::start().await;
    let endpoint = format!("http://{}", switched_off.addr);
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    // Service name and sampler alone enable nothing; an endpoint with the exporter set to
    // `none` (or the SDK disabled) sends nothing either.
    let runs: [&[(&str, &str)]; 3] = [
        &[
            ("OTEL_SERVICE_NAME", "quiet"),
            ("OTEL_TRACES_SAMPLER", "always_on"),
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_TRACES_EXPORTER", "none"),
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SDK_DISABLED", "true"),
        ],
    ];
    let caller = format!("00-{trace_id}-00f067aa0ba902b7-01");
    for env in runs {
        // With tracing off, the caller's context reaches the upstream unchanged.
        let seen = traced_run(env, trace_id).await;
        assert_eq!(seen["traceparent"], json!([caller]), "{env:?}: {seen}");
        assert_eq!(
            seen["_meta"]["traceparent"],
            json!(caller),
            "{env:?}: {seen}"
        );
    }
    assert_eq!(switched_off.connections(), 0);
    match default_port {
        Some(collector) => assert_eq!(collector.connections(), 0),
        None => eprintln!("127.0.0.1:4318 is in use here: the default-port check is skipped"),
    }
}

// Multi-threaded: the process helpers block this thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_collector_fails_no_request_and_does_not_hold_the_exit() {
    // Refused connections (nothing listens) and a collector that accepts and never answers.
    let refused = format!("http://{}", free_addr());
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_url = format!("http://{}", silent.local_addr().expect("addr"));
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    for endpoint in [refused, silent_url] {
        let started = std::time::Instant::now();
        traced_run(
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)],
            "5bf92f3577b34da6a3ce929d0e0e4736",
        )
        .await;
        // The flush gives up after FLUSH_TIMEOUT (5 s); the calls themselves never waited.
        let took = started.elapsed();
        assert!(took < Duration::from_secs(12), "{endpoint}: {took:?}");
    }
    held.abort();
}

// Multi-threaded: the process helpers block this thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_export_speaks_http2_to_the_collector() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let preface = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let (mut stream, _) = listener.accept().await.ok()?;
        let mut bytes = vec![0u8; 24];
        stream.read_exact(&mut bytes).await.ok()?;
        Some(bytes)
    });
    traced_run(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
        ],
        "6bf92f3577b34da6a3ce929d0e0e4736",
    )
    .await;
    let received = tokio::time::timeout(Duration::from_secs(5), preface)
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    assert_eq!(
        received.as_deref(),
        Some(&b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..]),
        "the exporter opened an HTTP/2 (gRPC) connection"
    );
}

#[tokio::test]
async fn worker_threads_sets_the_runtimes_threads_over_tokio_worker_threads() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let table = http_table("crm", &up.url());
    let (_dir, config) = config_file(&format!("[server]\nworker_threads = 3\n{table}"));
    let configured = GatewayProcess::start_with(&config, None, &[("TOKIO_WORKER_THREADS", "1")]);
    assert!(
        configured.listening.contains("worker_threads=3"),
        "{}",
        configured.listening
    );
    let (_dir, config) = config_file(&table);
    let from_env = GatewayProcess::start_with(&config, None, &[("TOKIO_WORKER_THREADS", "1")]);
    assert!(
        from_env.listening.contains("worker_threads=1"),
        "{}",
        from_env.listening
    );
    let client = connect(
        &from_env.url,
        rmcp::service::ClientLifecycleMode::Initialize,
    )
    .await;
    assert!(
        until(10, || async {
            !domain_tools(&client, "crm").await.is_empty()
        })
        .await,
        "one runtime thread serves"
    );
}

/// CPU time (ns, from `schedstat`) of each thread of process `pid`, by thread id, with its name.
#[cfg(target_os = "linux")]
fn thread_cpu(pid: u32) -> std::collections::HashMap<String, (String, u64)> {
    let mut spent = std::collections::HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return spent;
    };
    for task in tasks.flatten() {
        let read = |file: &str| std::fs::read_to_string(task.path().join(file)).ok();
        let (Some(name), Some(schedstat)) = (read("comm"), read("schedstat")) else {
            continue;
        };
        let nanos = schedstat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        let id = task.file_name().to_string_lossy().into_owned();
        spent.insert(id, (name.trim().to_string(), nanos));
    }
    spent
}

/// The calls of one client connection are served by one thread: over many routed calls on one
/// connection, one connection worker does the gateway's work and every other thread of the
/// process next to none (on a shared work-stealing runtime the work was spread over all its
/// workers, each waking the other).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connections_calls_are_served_by_one_thread() {
    const CALLS: u64 = 600;
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let table = http_table("crm", &up.url());
    let (_dir, config) = config_file(&format!("[server]\nworker_threads = 2\n{table}"));
    let gateway = GatewayProcess::start(&config, None);
    let pid = gateway.child.id();
    let session = RawSession::open(&gateway.url).await;
    let echo = |id: u64| {
        tool_call(
            id,
            "execute_tool",
            json!({"tool_name": "echo", "arguments": {"message": format!("m{id}")}}),
        )
    };
    assert!(
        until(10, || async {
            let (_, kind, body) = session.post(&echo(0), &[]).await;
            message_of(&kind, &body)["result"]["isError"] != json!(true) && body.contains("m0")
        })
        .await,
        "echo never became callable"
    );
    let mut connection = session.connection().await;
    let before = thread_cpu(pid);
    for id in 1..=CALLS {
        let (status, kind, body) = connection.post(&echo(id)).await;
        assert_eq!(status, 200, "{body}");
        let answer = message_of(&kind, &body);
        assert_eq!(answer["id"], json!(id), "{body}");
        assert!(body.contains(&format!("m{id}")), "{body}");
    }
    let after = thread_cpu(pid);
    // By thread name: a worker's blocking threads (if any) carry its name.
    let mut by_name: std::collections::BTreeMap<String, u64> = Default::default();
    for (id, (name, nanos)) in &after {
        let earlier = before.get(id).map_or(0, |(_, n)| *n);
        *by_name.entry(name.clone()).or_default() += nanos.saturating_sub(earlier);
    }
    let workers: Vec<&String> = by_name
        .keys()
        .filter(|name| name.starts_with("mcp-conn-") && !name.ends_with("-main"))
        .collect();
    assert_eq!(workers, ["mcp-conn-0", "mcp-conn-1"], "{by_name:?}");
    let Some((busiest, most)) = by_name.iter().max_by_key(|(_, nanos)| **nanos) else {
        panic!("no threads read");
    };
    assert!(
        workers.contains(&busiest),
        "a connection worker did the most: {by_name:?}"
    );
    assert!(*most >= 20_000_000, "too little work to judge: {by_name:?}");
    let elsewhere: u64 = by_name.values().sum::<u64>() - most;
    assert!(
        elsewhere * 4 <= *most,
        "the other threads ran {elsewhere} ns against {most} ns: {by_name:?}"
    );
}
