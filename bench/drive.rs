//! The load drivers: sequential latency and fixed-duration throughput over any [`Caller`] —
//! rmcp's client sessions over streamable HTTP (or a stdio child), or the lean client
//! (`lean.rs`) — the same code for every target. Every result is checked, so an error never
//! counts as a fast call.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, JsonObject,
    ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::lean::LeanClient;

/// A client session.
pub type Client = RunningService<RoleClient, ClientConfig>;

/// Longest any single call may take before the run counts it as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn client_info() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("mcp-gateway-bench", env!("CARGO_PKG_VERSION")),
    )
}

/// Longest a session may take to open or to close.
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens a 2025-11-25 session (initialize + `Mcp-Session-Id`) with `url`, over a pooled
/// keep-alive HTTP client as real clients use (rmcp's default client opens a connection per
/// request).
pub async fn connect(url: &str) -> Result<Client, String> {
    let http = crate::procs::http_client()?;
    let config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            url.to_string(),
        );
    let transport = StreamableHttpClientTransport::with_client(http, config);
    tokio::time::timeout(SESSION_TIMEOUT, client_info().serve(transport))
        .await
        .map_err(|_| format!("connect {url}: no session within {SESSION_TIMEOUT:?}"))?
        .map_err(|e| format!("connect {url}: {e}"))
}

/// Opens a sessionless 2026-07-28 client with `url` (`server/discover`, then every request
/// carries its own protocol metadata and SEP-2243 headers), over the same pooled client.
pub async fn connect_modern(url: &str) -> Result<Client, String> {
    let http = crate::procs::http_client()?;
    let config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            url.to_string(),
        );
    let transport = StreamableHttpClientTransport::with_client(http, config);
    let lifecycle = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    let session = client_info().serve_with_lifecycle(transport, lifecycle);
    let client = tokio::time::timeout(SESSION_TIMEOUT, session)
        .await
        .map_err(|_| format!("discover {url}: no answer within {SESSION_TIMEOUT:?}"))?
        .map_err(|e| format!("discover {url}: {e}"))?;
    let version = client.peer_info().map(|info| info.protocol_version.clone());
    if version != Some(ProtocolVersion::V_2026_07_28) {
        return Err(format!(
            "discover {url}: negotiated {version:?}, not 2026-07-28"
        ));
    }
    Ok(client)
}

/// Starts `command` as a stdio MCP server and opens a session with it.
pub async fn connect_stdio(command: tokio::process::Command) -> Result<Client, String> {
    let transport = rmcp::transport::TokioChildProcess::new(command)
        .map_err(|e| format!("spawn stdio server: {e}"))?;
    tokio::time::timeout(SESSION_TIMEOUT, client_info().serve(transport))
        .await
        .map_err(|_| format!("stdio session: none within {SESSION_TIMEOUT:?}"))?
        .map_err(|e| format!("stdio session: {e}"))
}

/// Closes a session, bounded.
pub async fn close(mut client: Client) {
    let _ = client.close_with_timeout(Duration::from_secs(2)).await;
}

/// One call as the client sends it, and the text a correct answer contains.
#[derive(Clone)]
pub struct Call {
    tool: String,
    arguments: JsonObject,
    expect: Option<String>,
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

impl Call {
    /// `tool(arguments)` straight at an upstream.
    pub fn direct(tool: &str, arguments: Value) -> Call {
        Call {
            tool: tool.into(),
            arguments: object(arguments),
            expect: None,
        }
    }

    /// The same call through a gateway's `execute_tool`.
    pub fn executed(tool: &str, arguments: Value) -> Call {
        Call::direct(
            "execute_tool",
            json!({"tool_name": tool, "arguments": arguments}),
        )
    }

    /// Requires the answer's text to contain `text`.
    pub fn expecting(mut self, text: &str) -> Call {
        self.expect = Some(text.into());
        self
    }

    /// The tool called.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// The call's arguments.
    pub fn arguments(&self) -> &JsonObject {
        &self.arguments
    }

    /// Makes the call once; an error result or a wrong answer is an error.
    pub async fn run(&self, client: &Client) -> Result<(), String> {
        let params =
            CallToolRequestParams::new(self.tool.clone()).with_arguments(self.arguments.clone());
        let result = tokio::time::timeout(CALL_TIMEOUT, client.peer().call_tool(params))
            .await
            .map_err(|_| format!("{} took longer than {CALL_TIMEOUT:?}", self.tool))?
            .map_err(|e| format!("{}: {e}", self.tool))?;
        let text = || {
            result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
                .collect()
        };
        self.judge(result.is_error == Some(true), text)
    }

    /// Checks a tool result as JSON (the lean client's answers) as [`Call::run`] checks rmcp's.
    pub fn check(&self, result: &Value) -> Result<(), String> {
        let text = || {
            result
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|c| c.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|c| c.get("text").and_then(Value::as_str))
                .collect()
        };
        self.judge(result.get("isError") == Some(&Value::Bool(true)), text)
    }

    /// An error result fails, and so does a text without the expected part (read only if
    /// something is expected).
    fn judge(&self, is_error: bool, text: impl Fn() -> String) -> Result<(), String> {
        if is_error {
            return Err(format!("{} failed: {}", self.tool, text()));
        }
        if let Some(expect) = &self.expect {
            let text = text();
            if !text.contains(expect.as_str()) {
                return Err(format!("{}: expected {expect:?} in {text:?}", self.tool));
            }
        }
        Ok(())
    }
}

/// A client session the load is driven through: rmcp's client, or the lean one.
pub trait Caller: Sized + Send + Sync + 'static {
    /// Opens a 2025-11-25 session with `url`.
    fn open(url: &str) -> impl Future<Output = Result<Self, String>> + Send;
    /// Makes `call` once, checking the answer.
    fn call(&self, call: &Call) -> impl Future<Output = Result<(), String>> + Send;
    /// Ends the session (bounded).
    fn close(self) -> impl Future<Output = ()> + Send;
}

impl Caller for Client {
    fn open(url: &str) -> impl Future<Output = Result<Self, String>> + Send {
        connect(url)
    }

    fn call(&self, call: &Call) -> impl Future<Output = Result<(), String>> + Send {
        call.run(self)
    }

    fn close(self) -> impl Future<Output = ()> + Send {
        close(self)
    }
}

impl Caller for LeanClient {
    fn open(url: &str) -> impl Future<Output = Result<Self, String>> + Send {
        LeanClient::connect(url)
    }

    fn call(&self, call: &Call) -> impl Future<Output = Result<(), String>> + Send {
        self.run(call)
    }

    async fn close(self) {
        self.end().await
    }
}

/// Latencies (ms) of `n` sequential calls over one session.
pub async fn sequential(client: &impl Caller, call: &Call, n: usize) -> Result<Vec<f64>, String> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        client.call(call).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

/// Latencies (ms) of sequential calls cycling through `calls`, `n` in all.
pub async fn sequential_mix(client: &Client, calls: &[Call], n: usize) -> Result<Vec<f64>, String> {
    let mut samples = Vec::with_capacity(n);
    for call in calls.iter().cycle().take(n) {
        let started = Instant::now();
        call.run(client).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

/// Calls per second completed inside a `duration` window with `clients` sessions, each
/// calling back to back (every session is open before the window starts; calls still running
/// at its end are not counted). Fails on the first wrong answer.
pub async fn throughput<C: Caller>(
    clients: &[Arc<C>],
    call: &Call,
    duration: Duration,
) -> Result<f64, String> {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = tokio::task::JoinSet::new();
    for client in clients {
        let (client, call, done) = (client.clone(), call.clone(), done.clone());
        workers.spawn(async move {
            while Instant::now() < deadline {
                client.call(&call).await?;
                if Instant::now() <= deadline {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<(), String>(())
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.map_err(|e| format!("worker: {e}"))??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / duration.as_secs_f64())
}

/// `count` sessions with `url`, opened one after another.
pub async fn sessions<C: Caller>(url: &str, count: usize) -> Result<Vec<Arc<C>>, String> {
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count {
        clients.push(Arc::new(C::open(url).await?));
    }
    Ok(clients)
}

/// Closes every session at once (bounded), so servers are not left holding them.
pub async fn close_all<C: Caller>(clients: Vec<Arc<C>>) {
    let closing = clients
        .into_iter()
        .filter_map(|client| Arc::try_unwrap(client).ok())
        .map(C::close);
    let _ = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(closing)).await;
}

/// Makes `total` calls spread over `clients` sessions as fast as they go; returns calls/s.
pub async fn fixed_count<C: Caller>(
    clients: &[Arc<C>],
    call: &Call,
    total: u64,
) -> Result<f64, String> {
    let issued = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    let started = Instant::now();
    for client in clients {
        let (client, call, issued) = (client.clone(), call.clone(), issued.clone());
        workers.spawn(async move {
            while issued.fetch_add(1, Ordering::Relaxed) < total {
                client.call(&call).await?;
            }
            Ok::<(), String>(())
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.map_err(|e| format!("worker: {e}"))??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
