//! Third-party MCP peers (installed pinned by `scripts/setup-peers`): the official Python SDK
//! (both protocol eras) and TypeScript SDK as clients; server-everything (stdio and streamable
//! HTTP), server-memory and mcp-server-time as upstreams, their results compared with direct
//! calls; and the MCP conformance suite's server scenarios against its committed baseline.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use rmcp::service::ClientLifecycleMode;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::support::*;

/// `tests/peers`, where the npm peers live.
fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// A peer executable, or a panic saying how to install the peers.
fn peer(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup-peers (the README's test command does)",
        path.display()
    );
    path
}

fn npm_bin(name: &str) -> PathBuf {
    peer(peers_dir().join("node_modules/.bin").join(name))
}

fn venv_bin(name: &str) -> PathBuf {
    peer(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/peers-venv/bin")
            .join(name),
    )
}

/// Runs a peer process to its end (bounded), returning its output.
async fn run(command: &mut Command) -> Output {
    command.kill_on_drop(true).current_dir(peers_dir());
    match tokio::time::timeout(Duration::from_secs(120), command.output()).await {
        Ok(output) => output.expect("start peer"),
        Err(_) => panic!("peer {command:?} took over 120 s"),
    }
}

/// The JSON object a client script printed, checked for the four meta-tools and the sequence.
fn client_report(output: &Output, message: &str) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client failed: {stdout}\n{stderr}");
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|error| panic!("client printed no JSON ({error}): {stdout}\n{stderr}"));
    assert_eq!(
        report["tools"],
        json!([
            "discover_tools",
            "get_tool_schema",
            "execute_tool",
            "refresh_registry"
        ])
    );
    let discover: Value =
        serde_json::from_str(report["discover"].as_str().unwrap_or("")).unwrap_or(Value::Null);
    assert_eq!(discover["results"][0]["name"], "echo", "{report}");
    let schema: Value =
        serde_json::from_str(report["schema"].as_str().unwrap_or("")).unwrap_or(Value::Null);
    assert_eq!(
        schema["parameters"]["required"],
        json!(["message"]),
        "{report}"
    );
    assert_eq!(report["execute"], message, "{report}");
    // Nothing the client complained about on its way out (e.g. the session's DELETE).
    assert!(!stderr.contains("failed"), "{stderr}");
    report
}

#[tokio::test]
async fn the_official_python_and_typescript_sdks_use_every_meta_tool() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&http_table("crm", &up.url())).await;
    let python = venv_bin("python");
    for (mode, protocol) in [("legacy", "2025-11-25"), ("2026-07-28", "2026-07-28")] {
        let output =
            run(Command::new(&python).args(["python_client.py", &gateway.url(), mode])).await;
        let report = client_report(&output, "from the Python SDK");
        assert_eq!(report["protocol"], protocol, "{report}");
    }
    // A stateless gateway (no sessions for 2025-11-25 clients) serves the Python SDK as well.
    let stateless = TestGateway::start(&format!(
        "[server]\nstateless = true\n{}",
        http_table("crm", &up.url())
    ))
    .await;
    let output =
        run(Command::new(&python).args(["python_client.py", &stateless.url(), "legacy"])).await;
    client_report(&output, "from the Python SDK");
    stateless.stop().await;
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    let output = run(Command::new(node).args(["ts_client.mjs", &gateway.url()])).await;
    let report = client_report(&output, "from the TypeScript SDK");
    assert_eq!(report["server"]["name"], "mcp-gateway");
    assert!(
        report["session"].is_string(),
        "the TypeScript SDK speaks 2025-11-25 with a session: {report}"
    );
    gateway.stop().await;
}

/// server-everything in its streamable HTTP mode on a free port; killed when dropped.
struct EverythingHttp {
    child: tokio::process::Child,
    url: String,
}

impl EverythingHttp {
    async fn start() -> EverythingHttp {
        let addr = free_addr();
        let child = Command::new(npm_bin("mcp-server-everything"))
            .arg("streamableHttp")
            .env("PORT", addr.port().to_string())
            .current_dir(peers_dir())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start server-everything");
        let up = until(30, || async move {
            tokio::net::TcpStream::connect(addr).await.is_ok()
        })
        .await;
        assert!(up, "server-everything did not listen on {addr}");
        EverythingHttp {
            child,
            url: format!("http://127.0.0.1:{}/mcp", addr.port()),
        }
    }
}

impl Drop for EverythingHttp {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_upstreams_serve_through_the_gateway_unchanged() {
    let everything_http = EverythingHttp::start().await;
    let memory_file = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[upstreams.everything]\ncommand = {}\nargs = [\"stdio\"]\n\
         [upstreams.everything_http]\nurl = {}\n\
         [upstreams.memory]\ncommand = {}\nenv = {{ MEMORY_FILE_PATH = {} }}\n\
         [upstreams.time]\ncommand = {}\nargs = [\"--local-timezone\", \"UTC\"]\n",
        toml_str(&npm_bin("mcp-server-everything").display().to_string()),
        toml_str(&everything_http.url),
        toml_str(&npm_bin("mcp-server-memory").display().to_string()),
        toml_str(
            &memory_file
                .path()
                .join("memory.jsonl")
                .display()
                .to_string()
        ),
        toml_str(&venv_bin("mcp-server-time").display().to_string()),
    );
    let gateway = TestGateway::start(&toml).await;
    let client = gateway.client().await;
    let direct = connect(&everything_http.url, ClientLifecycleMode::Initialize).await;

    // server-everything's text, image and structured-content tools, over stdio and over HTTP,
    // answer exactly what the same server answers directly.
    let cases = [
        ("echo", json!({"message": "through the gateway"})),
        ("get-tiny-image", json!({})),
        ("get-structured-content", json!({"location": "New York"})),
    ];
    for (tool, args) in cases {
        let expected = call(&direct, tool, args.clone()).await;
        for domain in ["everything", "everything_http"] {
            // Both domains list the same tools, so their names carry the domain prefix.
            let routed = call(
                &client,
                "execute_tool",
                json!({"tool_name": format!("{domain}_{tool}"), "arguments": args}),
            )
            .await;
            assert_eq!(
                routed, expected,
                "{domain}_{tool} changed on its way through"
            );
        }
    }
    let image = call(&direct, "get-tiny-image", json!({})).await;
    let image_json = serde_json::to_value(&image).expect("serialise");
    assert!(image_json.to_string().contains("image/png"), "{image_json}");
    let weather = call(
        &direct,
        "get-structured-content",
        json!({"location": "New York"}),
    )
    .await;
    assert_eq!(
        weather
            .structured_content
            .as_ref()
            .map(|s| s["temperature"].clone()),
        Some(json!(33))
    );

    // server-memory keeps what it is told; mcp-server-time (Python) tells the time.
    let created = call(
        &client,
        "execute_tool",
        json!({"tool_name": "create_entities", "arguments": {"entities": [
            {"name": "Alice", "entityType": "person", "observations": ["CTO"]}]}}),
    )
    .await;
    assert_ne!(created.is_error, Some(true), "{created:?}");
    let graph = call(
        &client,
        "execute_tool",
        json!({"tool_name": "read_graph", "arguments": {}}),
    )
    .await;
    let graph_text = serde_json::to_value(&graph).expect("serialise").to_string();
    assert!(
        graph_text.contains("Alice") && graph_text.contains("CTO"),
        "{graph_text}"
    );
    let now = call(
        &client,
        "execute_tool",
        json!({"tool_name": "get_current_time", "arguments": {"timezone": "UTC"}}),
    )
    .await;
    let now_text = serde_json::to_value(&now).expect("serialise").to_string();
    assert!(
        now_text.contains("UTC") && now_text.contains("datetime"),
        "{now_text}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_conformance_suite_passes_but_for_its_committed_baseline() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&http_table("crm", &up.url())).await;
    let output = run(Command::new(npm_bin("conformance")).args([
        "server",
        "--url",
        &gateway.url(),
        "--expected-failures",
        "conformance-baseline.yml",
    ]))
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "new conformance failures (or baseline entries that now pass):\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for scenario in [
        "server-initialize",
        "ping",
        "tools-list",
        "dns-rebinding-protection",
    ] {
        assert!(
            stdout.contains(&format!("✓ {scenario}:")),
            "{scenario} did not pass:\n{stdout}"
        );
    }
    gateway.stop().await;
}

fn toml_str(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}
