//! The binary as a service: SIGTERM drains an in-flight call and leaves no child behind;
//! SIGHUP reloads; systemd notifications (READY, RELOADING + MONOTONIC_USEC, STOPPING).

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use crate::support::*;

const BINARY: &str = env!("CARGO_BIN_EXE_mcp-gateway");

/// A gateway process and the address it listens on.
struct Process {
    child: Child,
    url: String,
    lines: mpsc::Receiver<String>,
    _stderr: std::thread::JoinHandle<()>,
}

impl Process {
    fn start(config: &std::path::Path, notify_socket: Option<&std::path::Path>) -> Process {
        let mut command = Command::new(BINARY);
        command
            .args(["run", "--config"])
            .arg(config)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEWAY_SERVER__PORT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(socket) = notify_socket {
            command.env("NOTIFY_SOCKET", socket);
        }
        let mut child = command.spawn().expect("spawn mcp-gateway");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[gateway] {line}");
                let _ = tx.send(line);
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let addr = loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
                .expect("listening line");
            if let Some(rest) = line.split("addr=").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        };
        Process {
            child,
            url: format!("http://{addr}/mcp"),
            lines: rx,
            _stderr: reader,
        }
    }

    /// Log lines matching `wanted` within `secs` seconds (stops at the first quiet second).
    fn lines_matching(&self, wanted: &str, secs: u64) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        let mut found = Vec::new();
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left.min(Duration::from_secs(1))) {
                Ok(line) if line.contains(wanted) => found.push(line),
                Ok(_) => {}
                Err(_) if !found.is_empty() => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        found
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    fn wait_exit(&mut self, secs: u64) -> Option<i32> {
        for _ in 0..secs * 20 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sigterm_drains_an_in_flight_call_then_exits_zero_without_orphans() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let (_dir, config) = config_file(&format!(
        "{}{}",
        http_table("crm", &up.url()),
        stdio_table("util", "util")
    ));
    let mut process = Process::start(&config, None);
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
    let mut process = Process::start(&config, Some(&socket_path));

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
    let mut process = Process::start(&config, None);
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
    let mut process = Process::start(&config, None);
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
