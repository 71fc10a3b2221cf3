//! Test utilities: serve a [`TestUpstream`] over HTTP, start a gateway from TOML, and talk MCP to
//! it with real rmcp clients.

#![allow(dead_code)]

pub mod catalog;
pub mod collector;
pub mod process;
pub mod raw_session;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mcp_gateway::app::{self, Running};
use mcp_gateway::config::{Config, EnvLookup};
use mcp_gateway::reloader::ConfigLoader;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use process::GatewayProcess;
pub use upstream::TestUpstream;

/// The stdio test server binary built by cargo for these tests.
pub const STDIO_UPSTREAM: &str = env!("CARGO_BIN_EXE_mcp-gateway-test-upstream");

/// An upstream served over streamable HTTP on 127.0.0.1; stops when dropped.
pub struct HttpUpstream {
    /// Its address.
    pub addr: SocketAddr,
    /// The server (its stats are shared with every session).
    pub server: TestUpstream,
    stop: CancellationToken,
    sessions: Arc<LocalSessionManager>,
}

impl HttpUpstream {
    /// Serves `server` on a free port.
    pub async fn start(server: TestUpstream) -> HttpUpstream {
        HttpUpstream::start_on("127.0.0.1:0".parse().expect("literal address"), server).await
    }

    /// Serves `server` on a free port without sessions, answering every request with JSON.
    pub async fn start_stateless(server: TestUpstream) -> HttpUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind test upstream");
        let addr = listener.local_addr().expect("local addr");
        let stop = CancellationToken::new();
        let sessions = upstream::serve_http_with(listener, server.clone(), stop.clone(), true);
        HttpUpstream {
            addr,
            server,
            stop,
            sessions,
        }
    }

    /// Serves `server` on `addr` (to bring an upstream up on a port the gateway already knows).
    pub async fn start_on(addr: SocketAddr, server: TestUpstream) -> HttpUpstream {
        let listener = TcpListener::bind(addr).await.expect("bind test upstream");
        let addr = listener.local_addr().expect("local addr");
        let stop = CancellationToken::new();
        let sessions = upstream::serve_http_with(listener, server.clone(), stop.clone(), false);
        HttpUpstream {
            addr,
            server,
            stop,
            sessions,
        }
    }

    /// The MCP endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Stops serving (open connections are dropped).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Forgets every session, as a restarted or idle-expiring server does: requests naming one
    /// get 404.
    pub async fn expire_sessions(&self) {
        self.sessions.sessions.write().await.clear();
    }
}

impl Drop for HttpUpstream {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A TOML `[upstreams.NAME]` table for an HTTP upstream.
pub fn http_table(domain: &str, url: &str) -> String {
    format!("[upstreams.{domain}]\nurl = \"{url}\"\n")
}

/// A TOML `[upstreams.NAME]` table for the stdio test server.
pub fn stdio_table(domain: &str, name: &str) -> String {
    format!(
        "[upstreams.{domain}]\ncommand = \"{STDIO_UPSTREAM}\"\nargs = [\"--name\", \"{name}\"]\n"
    )
}

/// The only variable tests set: a free port.
pub fn test_env() -> EnvLookup {
    EnvLookup::from_pairs([("GATEWAY_SERVER__PORT", "0")])
}

/// Writes `toml` as `gateway.toml` in a new temp directory (removed when the guard drops).
pub fn config_file(toml: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, toml).expect("write config");
    (dir, path)
}

/// Loads a config from TOML text (written to a temp file); the only variable is a free port.
pub fn config_from(toml: &str) -> Config {
    let (_dir, path) = config_file(toml);
    Config::load_with(Some(&path), &test_env()).unwrap_or_else(|e| panic!("{e}"))
}

/// A running gateway for one test, serving the config file in its own temp directory (which
/// the reloader watches).
pub struct TestGateway {
    /// The running app.
    pub running: Running,
    /// The config file.
    pub path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TestGateway {
    /// Starts a gateway on a free port and waits for the first population.
    pub async fn start(toml: &str) -> TestGateway {
        let gateway = TestGateway::start_unpopulated(toml).await;
        gateway.wait_populated().await;
        gateway
    }

    /// Starts a gateway with no reloader (tests that drive `reload_once` themselves must not
    /// race the file watcher), and waits for population.
    pub async fn start_unwatched(toml: &str) -> TestGateway {
        let (dir, path) = config_file(toml);
        let config = Config::load_with(Some(&path), &test_env()).unwrap_or_else(|e| panic!("{e}"));
        let running = app::start(config, None).await.expect("start gateway");
        let gateway = TestGateway {
            running,
            path,
            _dir: dir,
        };
        gateway.wait_populated().await;
        gateway
    }

    /// Starts a gateway without waiting for population.
    pub async fn start_unpopulated(toml: &str) -> TestGateway {
        let (dir, path) = config_file(toml);
        let config = Config::load_with(Some(&path), &test_env()).unwrap_or_else(|e| panic!("{e}"));
        let loader = ConfigLoader {
            path: Some(path.clone()),
            env: test_env(),
            sighup: false,
        };
        let running = app::start(config, Some(loader))
            .await
            .expect("start gateway");
        TestGateway {
            running,
            path,
            _dir: dir,
        }
    }

    /// Rewrites the config file in place.
    pub fn write_config(&self, toml: &str) {
        std::fs::write(&self.path, toml).expect("write config");
    }

    /// Replaces the config file by writing a temp file and renaming it over (as editors do).
    pub fn rename_config(&self, toml: &str) {
        let temp = self.path.with_extension("toml.tmp");
        std::fs::write(&temp, toml).expect("write temp config");
        std::fs::rename(&temp, &self.path).expect("rename config");
    }

    /// Waits (bounded) until the first population finished.
    pub async fn wait_populated(&self) {
        for _ in 0..400 {
            if self.running.gateway.is_populated() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("gateway did not populate within 10 s");
    }

    /// The MCP endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.running.addr)
    }

    /// Base URL for plain HTTP routes.
    pub fn base(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    /// A 2025-11-25 client (initialize + session).
    pub async fn client(&self) -> Client {
        connect(&self.url(), ClientLifecycleMode::Initialize).await
    }

    /// A 2026-07-28 client (no initialize, no session).
    pub async fn modern_client(&self) -> Client {
        connect(
            &self.url(),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
    }

    /// Shuts down and waits for the drain and upstream close, which must finish in time.
    pub async fn stop(self) {
        self.running.shutdown.cancel();
        let finished = tokio::time::timeout(Duration::from_secs(20), self.running.done).await;
        assert!(
            finished.is_ok(),
            "the gateway did not shut down within 20 s"
        );
    }
}

/// A client session with the gateway.
pub type Client = RunningService<RoleClient, ClientConfig>;

/// Connects an rmcp client to `url` with the given lifecycle.
pub async fn connect(url: &str, lifecycle: ClientLifecycleMode) -> Client {
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("it", "1.0"),
    );
    let transport = StreamableHttpClientTransport::from_uri(url.to_string());
    match lifecycle {
        ClientLifecycleMode::Initialize => info.serve(transport).await.expect("initialize"),
        other => info
            .serve_with_lifecycle(transport, other)
            .await
            .expect("discover"),
    }
}

/// Calls a tool and returns its result (panics on a protocol error).
/// The request headers (and `_meta` trace context) the upstream's `headers` tool saw on a call
/// through the gateway with `region` as its argument.
pub async fn headers_seen(client: &Client, region: &str) -> Value {
    let args = serde_json::json!({"tool_name": "headers", "arguments": {"region": region}});
    let result = call(client, "execute_tool", args).await;
    serde_json::from_str(&text_of(&result)).expect("headers as JSON")
}

/// Starts `execute_tool(slow)` for `ms` milliseconds as a request the test can cancel.
pub async fn start_slow_call(client: &Client, ms: u64) -> rmcp::service::RequestHandle<RoleClient> {
    let mut args = serde_json::Map::new();
    args.insert("tool_name".into(), serde_json::json!("slow"));
    args.insert("arguments".into(), serde_json::json!({"ms": ms}));
    let request = rmcp::model::ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(
        rmcp::model::CallToolRequestParams::new("execute_tool").with_arguments(args),
    ));
    client
        .peer()
        .send_cancellable_request(request, rmcp::service::PeerRequestOptions::no_options())
        .await
        .expect("send")
}

pub async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    try_call(client, tool, args)
        .await
        .unwrap_or_else(|e| panic!("{tool} failed: {e}"))
}

/// Calls a tool, returning protocol errors.
pub async fn try_call(
    client: &Client,
    tool: &str,
    args: Value,
) -> Result<CallToolResult, rmcp::service::ServiceError> {
    let mut params = CallToolRequestParams::new(tool.to_string());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    client.peer().call_tool(params).await
}

/// The JSON object of a gateway result: `structuredContent`, checked to equal the text.
pub fn json_of(result: &CallToolResult) -> Value {
    let structured = result
        .structured_content
        .clone()
        .expect("structuredContent");
    let text = text_of(result);
    let parsed: Value = serde_json::from_str(&text).expect("content[0] is JSON");
    assert_eq!(parsed, structured, "text and structuredContent differ");
    structured
}

/// The text of `content[0]`.
pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .expect("text content")
}

/// The error code of a gateway error result.
pub fn error_code(result: &CallToolResult) -> String {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected an error result: {result:?}"
    );
    json_of(result)["code"].as_str().expect("code").to_string()
}

/// Polls `check` every 20 ms for at most `secs` seconds.
pub async fn eventually(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let rounds = secs * 50;
    for _ in 0..rounds {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// GET a plain route; returns status and JSON body.
pub async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("GET");
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// Polls the async `check` every 50 ms for at most `secs` seconds.
pub async fn until<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..secs * 20 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check().await
}

/// The `name` of every object in the array `value[key]`.
fn names_in(value: &Value, key: &str) -> Vec<String> {
    value[key]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|x| x["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The domain names `discover_tools()` lists.
pub async fn domains(client: &Client) -> Vec<String> {
    names_in(
        &json_of(&call(client, "discover_tools", serde_json::json!({})).await),
        "domains",
    )
}

/// The exposed tool names of one domain.
pub async fn domain_tools(client: &Client, domain: &str) -> Vec<String> {
    let args = serde_json::json!({"domain": domain});
    names_in(
        &json_of(&call(client, "discover_tools", args).await),
        "tools",
    )
}

/// A loopback address nothing listens on (yet): for upstreams that start late.
pub fn free_addr() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
    probe.local_addr().expect("probe address")
}

/// Whether process `pid` is running (not gone, not a zombie).
pub fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// A TOML `[upstreams.NAME]` table for an HTTP upstream pinned to the session era (so the
/// upstream can count sessions).
pub fn session_table(domain: &str, url: &str) -> String {
    format!("{}protocol = \"2025-11-25\"\n", http_table(domain, url))
}

/// The semantic ranker's model: `MCP_GATEWAY_MODEL_DIR`, else `models/all-MiniLM-L6-v2` as
/// `scripts/fetch-model` installs it (which `.ci/run` runs).
#[cfg(feature = "semantic")]
pub fn model_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("MCP_GATEWAY_MODEL_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2"),
        std::path::PathBuf::from,
    );
    assert!(
        dir.join("model.safetensors").is_file(),
        "no embedding model in {}: run scripts/fetch-model",
        dir.display()
    );
    dir
}

/// Opens an MCP session (2025-11-25 `initialize`) sending `Authorization: Bearer <token>`.
pub async fn connect_with_token(url: &str, token: &str) -> Result<Client, String> {
    connect_with_headers(url, token, &[]).await
}

/// As [`connect_with_token`], also sending `extra` headers on every request.
pub async fn connect_with_headers(
    url: &str,
    token: &str,
    extra: &[(&str, &str)],
) -> Result<Client, String> {
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("it", "1.0"),
    );
    let config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            url.to_string(),
        )
        .auth_header(token.to_string())
        .custom_headers(
            extra
                .iter()
                .filter_map(|(name, value)| {
                    Some((
                        http::HeaderName::from_bytes(name.as_bytes()).ok()?,
                        http::HeaderValue::from_str(value).ok()?,
                    ))
                })
                .collect(),
        );
    let transport = StreamableHttpClientTransport::from_config(config);
    info.serve(transport).await.map_err(|e| e.to_string())
}
