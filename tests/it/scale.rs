//! Scale-out: two gateway replicas behind nginx (Debian's package, round robin, on 127.0.0.1):
//! one in-process, one the real binary. A client's discover → schema → execute sequence
//! succeeds across replicas in both protocol eras (2025-11-25 with `server.stateless`,
//! 2026-07-28 sessionless), both replicas serve, and SIGKILL of the binary replica mid-stream
//! fails no request (nginx retries on the other).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rmcp::model::ProtocolVersion;
use rmcp::service::ClientLifecycleMode;
use serde_json::json;

use crate::support::*;

/// nginx in front of `replicas`, in its own directory; stops when dropped.
struct Nginx {
    child: Child,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(replicas: &[std::net::SocketAddr]) -> Nginx {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = free_addr();
        let servers: String = replicas
            .iter()
            .map(|r| format!("        server {r} max_fails=1 fail_timeout=10s;\n"))
            .collect();
        let path = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nerror_log {path}/error.log warn;\npid {path}/nginx.pid;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n    access_log off;\n\
                 client_body_temp_path {path}/body;\n    proxy_temp_path {path}/proxy;\n\
                 fastcgi_temp_path {path}/fastcgi;\n    uwsgi_temp_path {path}/uwsgi;\n    scgi_temp_path {path}/scgi;\n\
                 upstream gateways {{\n{servers}        keepalive 8;\n    }}\n\
                 server {{\n        listen {addr};\n        location / {{\n\
                     proxy_pass http://gateways;\n            proxy_http_version 1.1;\n\
                     proxy_set_header Connection \"\";\n            proxy_set_header Host $host;\n\
                     proxy_buffering off;\n\
                     proxy_next_upstream error timeout http_502 http_503 non_idempotent;\n\
                     proxy_connect_timeout 2s;\n        }}\n    }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("write nginx.conf");
        let child = Command::new(nginx_binary())
            .args(["-p"])
            .arg(dir.path())
            .args(["-c", "nginx.conf"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx (apt-get install nginx; .ci/run does)");
        Nginx {
            child,
            addr,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    async fn ready(&self) {
        let addr = self.addr;
        let up = until(10, move || async move {
            tokio::net::TcpStream::connect(addr).await.is_ok()
        })
        .await;
        assert!(up, "nginx did not open {addr}");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> &'static str {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .unwrap_or("nginx")
}

/// Meta-tool calls the replica at `base` answered, from its /metrics.
async fn calls_served(base: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .unwrap_or_default();
    text.lines()
        .filter(|line| line.starts_with("gateway_meta_tool_calls_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// discover → schema → execute through `client`, checking each answer.
async fn sequence(client: &Client, message: &str) {
    let found = json_of(&call(client, "discover_tools", json!({"query": "echo"})).await);
    assert!(found.to_string().contains("echo"), "{found}");
    let schema = json_of(&call(client, "get_tool_schema", json!({"tool_name": "echo"})).await);
    assert!(schema.to_string().contains("message"), "{schema}");
    let echoed = call(
        client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": message}}),
    )
    .await;
    assert_eq!(text_of(&echoed), message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_behind_nginx_serve_both_eras_and_survive_losing_one() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let toml = format!(
        "[server]\nstateless = true\n{}",
        http_table("crm", &up.url())
    );
    let a = TestGateway::start(&toml).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, &toml).expect("write");
    let mut b = GatewayProcess::start(&config, None);
    let b_addr: std::net::SocketAddr = b
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .parse()
        .expect("replica address");
    let b_base = format!("http://{b_addr}");
    let ready = until(10, || async {
        reqwest::get(format!("{b_base}/readyz"))
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    assert!(ready, "replica B never became ready");
    let nginx = Nginx::start(&[a.running.addr, b_addr]);
    nginx.ready().await;

    // Both eras, each sequence spread over both replicas by round robin.
    let eras = [
        ClientLifecycleMode::Initialize,
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    ];
    for (n, era) in eras.into_iter().enumerate() {
        let client = connect(&nginx.url(), era).await;
        for round in 0..3 {
            sequence(&client, &format!("era {n} round {round}")).await;
        }
    }
    let (served_a, served_b) = (calls_served(&a.base()).await, calls_served(&b_base).await);
    assert!(
        served_a > 0 && served_b > 0,
        "round robin reached both replicas: {served_a} + {served_b}"
    );

    // Calls keep flowing while replica B is killed with calls in flight: nginx retries what B
    // dropped on A. Each call takes 150 ms upstream, four callers keep both replicas busy.
    let stats = up.server.stats.clone();
    let before = stats.calls.load(std::sync::atomic::Ordering::SeqCst);
    let (callers, per_caller) = (4, 6);
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let client = connect(&nginx.url(), ClientLifecycleMode::Initialize).await;
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for n in 0..per_caller {
                let args = json!({"tool_name": "slow", "arguments": {"ms": 150}});
                let call = try_call(&client, "execute_tool", args);
                match tokio::time::timeout(Duration::from_secs(10), call).await {
                    Ok(Ok(result)) if text_of(&result) == "slept 150 ms" => {}
                    other => failures.push(format!("caller {caller} call {n}: {other:?}")),
                }
            }
            failures
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    b.signal("KILL");
    assert_eq!(b.wait_exit(5), None, "SIGKILL leaves no exit code");
    let mut failures = Vec::new();
    for task in tasks {
        failures.extend(task.await.expect("join"));
    }
    assert!(
        failures.is_empty(),
        "requests failed while a replica was killed: {failures:?}"
    );
    // The upstream ran more calls than the clients made: calls in flight on B when it died
    // were retried on A (at least once), not lost.
    let ran = stats.calls.load(std::sync::atomic::Ordering::SeqCst) - before;
    assert!(
        ran > callers * per_caller,
        "no call was in flight on the killed replica ({ran} upstream calls)"
    );
    drop(nginx);
    a.stop().await;
}
