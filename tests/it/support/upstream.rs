//! A real MCP server for tests and benchmarks: echo, add, an image, structured content, a tool
//! error, a JSON-RPC error, a slow cancellable call, plus any number of synthetic tools. It is
//! served in-process over HTTP by the tests ([`serve_http`]) and over stdio or HTTP by
//! `mcp-gateway-test-upstream`.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode,
    Implementation, JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};

/// A 1×1 transparent PNG.
pub const TINY_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

/// What the server observed, for assertions made on the upstream's side.
#[derive(Debug, Default)]
pub struct Stats {
    /// tools/call requests received.
    pub calls: AtomicUsize,
    /// Calls currently running.
    pub in_flight: AtomicUsize,
    /// Highest number of calls running at once.
    pub max_in_flight: AtomicUsize,
    /// Slow calls that ended because the caller cancelled them.
    pub cancelled: AtomicUsize,
    /// Handler instances created (one per session in stateful HTTP mode).
    pub sessions: AtomicUsize,
    /// tools/list requests received (one per page).
    pub lists: AtomicUsize,
    /// tools/list requests sent with `Connection: close` (over HTTP).
    pub closing_lists: AtomicUsize,
    /// tools/call requests posted by the gateway's own HTTP leg (its `gw-` string ids; rmcp's
    /// client numbers its requests).
    pub leg_calls: AtomicUsize,
}

/// The test server.
#[derive(Clone)]
pub struct TestUpstream {
    name: String,
    /// Mutable so tests can change the listing at run time (`add_tool`, [`TestUpstream::push_tool`]).
    tools: Arc<std::sync::RwLock<Vec<Tool>>>,
    /// Tools per `tools/list` page; 0 lists everything at once.
    page_size: usize,
    /// Pings the client (a server request on the answer's stream) before each listing.
    ping_on_list: bool,
    /// Counts listings and changes every tool's description with each one (a re-listing in
    /// which every definition changed).
    churn: Option<Arc<AtomicUsize>>,
    /// Shared by every clone, so the HTTP factory's per-session clones report into one place.
    pub stats: Arc<Stats>,
}

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

/// The `headers` tool (it answers with the request headers it received), its `region`
/// argument mirrored into an `Mcp-Param-Region` header when `annotated` (SEP-2243).
pub fn headers_tool(annotated: bool) -> Tool {
    let region = if annotated {
        json!({"type": "string", "x-mcp-header": "Region"})
    } else {
        json!({"type": "string"})
    };
    Tool::new(
        "headers",
        "The request headers this call arrived with",
        object(json!({"type": "object", "properties": {"region": region}})),
    )
}

fn standard_tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "echo",
            "Echo the given message back unchanged",
            object(json!({
                "type": "object", "properties": {"message": {"type": "string"}},
                "required": ["message"], "additionalProperties": false
            })),
        ),
        Tool::new(
            "add",
            "Add two numbers and return the sum",
            object(json!({
                "type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"]
            })),
        ),
        Tool::new(
            "tiny_image",
            "Return a tiny PNG image",
            object(json!({"type": "object", "properties": {}})),
        ),
        Tool::new(
            "weather_structured",
            "Return the weather as structured content",
            object(json!({
                "type": "object", "properties": {"city": {"type": "string"}}
            })),
        ),
        Tool::new(
            "always_fails",
            "A tool that reports a tool error",
            object(json!({"type": "object"})),
        ),
        Tool::new(
            "rpc_error",
            "A tool that answers with a JSON-RPC error",
            object(json!({"type": "object"})),
        ),
        Tool::new(
            "slow",
            "Sleep for ms milliseconds, honouring cancellation",
            object(json!({
                "type": "object", "properties": {"ms": {"type": "integer"}}, "required": ["ms"]
            })),
        ),
        Tool::new(
            "whoami",
            "Return this server's name",
            object(json!({"type": "object", "properties": {}})),
        ),
        Tool::new(
            "add_tool",
            "Add a tool to this server's list, optionally announcing it with list_changed",
            object(json!({
                "type": "object",
                "properties": {"name": {"type": "string"}, "notify": {"type": "boolean"}},
                "required": ["name"]
            })),
        ),
        Tool::new(
            "pid",
            "Return this server's process id",
            object(json!({"type": "object", "properties": {}})),
        ),
    ]
}

impl TestUpstream {
    /// The standard tool set.
    pub fn new(name: &str) -> TestUpstream {
        TestUpstream::with_tools(name, standard_tools())
    }

    /// Exactly these tools.
    pub fn with_tools(name: &str, tools: Vec<Tool>) -> TestUpstream {
        TestUpstream {
            name: name.to_string(),
            tools: Arc::new(std::sync::RwLock::new(tools)),
            page_size: 0,
            ping_on_list: false,
            churn: None,
            stats: Arc::new(Stats::default()),
        }
    }

    /// Changes every tool's description with each listing (numbered from 1).
    pub fn churning(mut self) -> TestUpstream {
        self.churn = Some(Arc::default());
        self
    }

    /// Pings the client before answering each `tools/list` (the answer waits for the pong).
    pub fn pinging_on_list(mut self) -> TestUpstream {
        self.ping_on_list = true;
        self
    }

    /// Lists tools `size` per page, with a cursor.
    pub fn paginated(mut self, size: usize) -> TestUpstream {
        self.page_size = size;
        self
    }

    /// The standard tools plus synthetic `{prefix}_{group}_{action}` tools.
    pub fn with_synthetic(name: &str, count: usize) -> TestUpstream {
        let mut tools = standard_tools();
        tools.extend(synthetic_tools(name, count));
        TestUpstream::with_tools(name, tools)
    }

    /// The current tool list.
    pub fn listing(&self) -> Vec<Tool> {
        self.tools.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// Adds a tool named `name` (no notification is sent).
    pub fn push_tool(&self, name: &str) {
        self.push(Tool::new(
            name.to_string(),
            format!("added at run time: {name}"),
            object(json!({"type": "object"})),
        ));
    }

    /// The standard tools plus `headers`, which answers with the request headers it received.
    pub fn with_headers_tool(name: &str) -> TestUpstream {
        let mut tools = standard_tools();
        tools.push(Tool::new(
            "headers",
            "The request headers this call arrived with",
            object(json!({"type": "object"})),
        ));
        TestUpstream::with_tools(name, tools)
    }

    /// Replaces the tool named like `tool` (no notification is sent).
    pub fn replace(&self, tool: Tool) {
        if let Ok(mut tools) = self.tools.write() {
            for listed in tools.iter_mut().filter(|t| t.name == tool.name) {
                *listed = tool.clone();
            }
        }
    }

    /// Adds `tool` (no notification is sent).
    pub fn push(&self, tool: Tool) {
        if let Ok(mut tools) = self.tools.write() {
            tools.push(tool);
        }
    }

    /// A clone counted as a new session (the HTTP factory calls this).
    pub fn session(&self) -> TestUpstream {
        self.stats.sessions.fetch_add(1, Ordering::SeqCst);
        self.clone()
    }

    async fn slow(&self, ms: u64, context: &RequestContext<RoleServer>) -> CallToolResult {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => CallToolResult::success(vec![ContentBlock::text(format!("slept {ms} ms"))]),
            () = context.ct.cancelled() => {
                self.stats.cancelled.fetch_add(1, Ordering::SeqCst);
                CallToolResult::error(vec![ContentBlock::text("cancelled")])
            }
        }
    }
}

/// `count` synthetic tools named `{group}_{action}` across a few groups.
pub fn synthetic_tools(domain: &str, count: usize) -> Vec<Tool> {
    const GROUPS: &[&str] = &[
        "contacts", "deals", "tickets", "invoices", "calendar", "files", "users", "reports",
    ];
    const ACTIONS: &[&str] = &[
        "search", "get", "list", "create", "update", "delete", "export", "archive",
    ];
    (0..count)
        .map(|i| {
            let group = GROUPS[i % GROUPS.len()];
            let action = ACTIONS[(i / GROUPS.len()) % ACTIONS.len()];
            let round = i / (GROUPS.len() * ACTIONS.len());
            let name = if round == 0 { format!("{group}_{action}") } else { format!("{group}_{action}_{round}") };
            Tool::new(
                name,
                format!("{action} {group} records in the {domain} system"),
                object(json!({
                    "type": "object",
                    "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "default": 10}},
                })),
            )
        })
        .collect()
}

fn number(args: &JsonObject, key: &str) -> Option<f64> {
    args.get(key).and_then(Value::as_f64)
}

impl ServerHandler for TestUpstream {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(self.name.clone(), "1.0.0"))
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.stats.lists.fetch_add(1, Ordering::SeqCst);
        let closing = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.headers.get(http::header::CONNECTION))
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
        if closing {
            self.stats.closing_lists.fetch_add(1, Ordering::SeqCst);
        }
        if self.ping_on_list {
            let ping = context
                .peer
                .send_request(rmcp::model::ServerRequest::PingRequest(Default::default()));
            tokio::time::timeout(Duration::from_secs(5), ping)
                .await
                .map_err(|_| McpError::internal_error("no pong", None))?
                .map_err(|e| McpError::internal_error(format!("ping: {e}"), None))?;
        }
        let mut tools = self.listing();
        if let Some(listings) = &self.churn {
            // A new listing starts at the first page; its pages share one number.
            let first_page = request.as_ref().is_none_or(|r| r.cursor.is_none());
            let number = if first_page {
                listings.fetch_add(1, Ordering::SeqCst) + 1
            } else {
                listings.load(Ordering::SeqCst)
            };
            for tool in &mut tools {
                let description = tool.description.as_deref().unwrap_or_default();
                tool.description = Some(format!("{description} (listing {number})").into());
            }
        }
        if self.page_size == 0 {
            return Ok(ListToolsResult::with_all_items(tools));
        }
        let start: usize = match request.and_then(|r| r.cursor) {
            Some(cursor) => cursor
                .parse()
                .map_err(|_| McpError::invalid_params("bad cursor", None))?,
            None => 0,
        };
        let end = (start + self.page_size).min(tools.len());
        let mut page =
            ListToolsResult::with_all_items(tools.get(start..end).unwrap_or_default().to_vec());
        page.next_cursor = (end < tools.len()).then(|| end.to_string());
        Ok(page)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.stats.calls.fetch_add(1, Ordering::SeqCst);
        if matches!(&context.id, rmcp::model::RequestId::String(id) if id.starts_with("gw-")) {
            self.stats.leg_calls.fetch_add(1, Ordering::SeqCst);
        }
        let now = self.stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let result = self.dispatch(request, &context).await;
        self.stats.in_flight.fetch_sub(1, Ordering::SeqCst);
        result.map(CallToolResponse::Complete)
    }
}

impl TestUpstream {
    async fn dispatch(
        &self,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let args = request.arguments.unwrap_or_default();
        let text = |t: String| Ok(CallToolResult::success(vec![ContentBlock::text(t)]));
        match request.name.as_ref() {
            "echo" => match args.get("message").and_then(Value::as_str) {
                Some("") => Err(McpError::invalid_params("message must not be empty", None)),
                Some(message) => text(message.to_string()),
                None => Err(McpError::invalid_params("message is required", None)),
            },
            "add" => match (number(&args, "a"), number(&args, "b")) {
                (Some(a), Some(b)) => text((a + b).to_string()),
                _ => Err(McpError::invalid_params("a and b must be numbers", None)),
            },
            "tiny_image" => Ok(CallToolResult::success(vec![
                ContentBlock::text("here is an image"),
                ContentBlock::image(TINY_PNG, "image/png"),
            ])),
            "weather_structured" => {
                let city = args.get("city").and_then(Value::as_str).unwrap_or("Paris");
                let mut result = CallToolResult::structured(
                    json!({"city": city, "temperature": 21.5, "unit": "C"}),
                );
                result.meta = None;
                Ok(result)
            }
            "always_fails" => Ok(CallToolResult::error(vec![ContentBlock::text(
                "this tool always fails",
            )])),
            "rpc_error" => Err(McpError::new(
                ErrorCode(-32050),
                "the upstream refused",
                None,
            )),
            "slow" => {
                let ms = args.get("ms").and_then(Value::as_u64).unwrap_or(100);
                Ok(self.slow(ms, context).await)
            }
            "whoami" => text(self.name.clone()),
            // Listed only by tests that need it: the request headers this call arrived with.
            "headers" if self.listing().iter().any(|t| t.name == "headers") => {
                let mut seen: serde_json::Map<String, Value> = context
                    .extensions
                    .get::<http::request::Parts>()
                    .map(|parts| {
                        [
                            "host",
                            "authorization",
                            "x-tenant-id",
                            "cookie",
                            "x-static",
                            "traceparent",
                            "tracestate",
                            "mcp-param-region",
                            "mcp-method",
                            "mcp-name",
                        ]
                        .into_iter()
                        .filter_map(|name| {
                            let values: Vec<Value> = parts
                                .headers
                                .get_all(name)
                                .iter()
                                .filter_map(|v| v.to_str().ok())
                                .map(|v| json!(v))
                                .collect();
                            (!values.is_empty()).then(|| (name.to_string(), Value::Array(values)))
                        })
                        .collect()
                    })
                    .unwrap_or_default();
                // The request's `_meta` trace context (SEP-414), on every transport.
                let meta: serde_json::Map<String, Value> = ["traceparent", "tracestate"]
                    .into_iter()
                    .filter_map(|key| Some((key.to_string(), context.meta.get(key)?.clone())))
                    .collect();
                seen.insert("_meta".into(), Value::Object(meta));
                text(Value::Object(seen).to_string())
            }
            "pid" => text(std::process::id().to_string()),
            // Listed only by tests that need it: asks the client things on the call's stream
            // (a ping, its roots), announces a new tool, then answers with what it heard.
            "chatty" if self.listing().iter().any(|t| t.name == "chatty") => {
                let ask = |request| {
                    let peer = context.peer.clone();
                    async move {
                        tokio::time::timeout(Duration::from_secs(5), peer.send_request(request))
                            .await
                    }
                };
                let pong = ask(rmcp::model::ServerRequest::PingRequest(Default::default())).await;
                let roots = ask(rmcp::model::ServerRequest::ListRootsRequest(
                    Default::default(),
                ))
                .await;
                self.push_tool("chatty_added");
                let _ = context.peer.notify_tool_list_changed().await;
                let roots = match roots {
                    Ok(Ok(rmcp::model::ClientResult::ListRootsResult(_))) => "roots".to_string(),
                    other => format!("roots failed: {other:?}"),
                };
                let pong = if matches!(pong, Ok(Ok(_))) {
                    "pong"
                } else {
                    "no pong"
                };
                text(format!("{pong}, {roots}"))
            }
            "add_tool" => {
                let name = args
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("added")
                    .to_string();
                self.push_tool(&name);
                if args.get("notify").and_then(Value::as_bool).unwrap_or(false) {
                    let _ = context.peer.notify_tool_list_changed().await;
                }
                text(format!("added {name}"))
            }
            name if self.listing().iter().any(|t| t.name == name) => text(format!("{name} ok")),
            name => Err(McpError::invalid_params(
                format!("unknown tool {name}"),
                None,
            )),
        }
    }
}

/// Serves `server` over streamable HTTP (stateful sessions) on `listener` until `stop` fires;
/// every path answers MCP.
pub fn serve_http(
    listener: tokio::net::TcpListener,
    server: TestUpstream,
    stop: tokio_util::sync::CancellationToken,
) {
    serve_http_with(listener, server, stop, false);
}

/// [`serve_http`], or with `stateless`: no sessions, every answer one `application/json` body.
pub fn serve_http_with(
    listener: tokio::net::TcpListener,
    server: TestUpstream,
    stop: tokio_util::sync::CancellationToken,
    stateless: bool,
) -> Arc<rmcp::transport::streamable_http_server::session::local::LocalSessionManager> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let sessions = Arc::new(LocalSessionManager::default());
    let service = StreamableHttpService::new(move || Ok(server.session()), sessions.clone(), {
        let config =
            StreamableHttpServerConfig::default().with_cancellation_token(stop.child_token());
        if stateless {
            config
                .with_legacy_session_mode(false)
                .with_json_response(true)
        } else {
            config
        }
    });
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((s, _)) => s,
                    Err(_) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let service = service.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let service = service.clone();
                    async move { Ok::<_, std::convert::Infallible>(service.handle(req).await) }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                tokio::select! {
                    _ = conn => {}
                    () = stop.cancelled() => {}
                }
            });
        }
    });
    sessions
}
