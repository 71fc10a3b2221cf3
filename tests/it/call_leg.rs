//! `tools/call` to HTTP upstreams goes through the gateway's own POST (see `upstream::call_leg`)
//! rather than rmcp's client worker. The upstream counts the calls that arrive with the leg's
//! `gw-` request ids, so a silent fall back to rmcp fails these tests. Results must be those of
//! a direct call in both protocol eras; a call whose arguments become `Mcp-Param-*` headers is
//! left to rmcp; server requests on the call's stream are answered; an expired session is
//! renewed without running the call twice; a stream cut short is resumed; cancellation reaches
//! the upstream.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use rmcp::model::Tool;
use rmcp::service::ClientLifecycleMode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::support::raw_session::{ModernClient, RawSession, content_type, message_of, tool_call};
use crate::support::upstream::{TestUpstream, headers_tool};
use crate::support::*;

/// A gateway in front of `upstream` as domain `crm`, speaking `protocol` to it, with a static
/// header of its own.
async fn gateway_on(url: &str, protocol: &str) -> TestGateway {
    TestGateway::start(&format!(
        "{}protocol = \"{protocol}\"\nheaders = {{ x-static = \"from-config\" }}\n",
        http_table("crm", url)
    ))
    .await
}

/// The standard tools plus `extra`.
fn server_with(extra: Vec<Tool>) -> TestUpstream {
    let mut tools = TestUpstream::new("crm").listing();
    tools.extend(extra);
    TestUpstream::with_tools("crm", tools)
}

fn leg_calls(upstream: &HttpUpstream) -> usize {
    upstream.server.stats.leg_calls.load(Ordering::SeqCst)
}

fn calls(upstream: &HttpUpstream) -> usize {
    upstream.server.stats.calls.load(Ordering::SeqCst)
}

/// The `host[:port]` of `url`.
fn authority_of(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    uri.authority().map(|authority| authority.to_string())
}

#[tokio::test]
async fn http_calls_take_the_gateways_own_post_in_both_eras() {
    for protocol in ["2025-11-25", "2026-07-28"] {
        let upstream = HttpUpstream::start(server_with(vec![headers_tool(true)])).await;
        let gateway = gateway_on(&upstream.url(), protocol).await;
        // Both clients speak 2025-11-25, so results come in the same shape.
        let client = gateway.client().await;
        let direct = connect(&upstream.url(), ClientLifecycleMode::Initialize).await;
        for (tool, args) in [
            ("echo", json!({"message": "über ✓ \"quoted\""})),
            ("tiny_image", json!({})),
            ("weather_structured", json!({"city": "Oslo"})),
            ("always_fails", json!({})),
            ("add", json!({"a": 2, "b": 40})),
        ] {
            let via_gateway = call(
                &client,
                "execute_tool",
                json!({"tool_name": tool, "arguments": args}),
            )
            .await;
            let expected = call(&direct, tool, args.clone()).await;
            assert_eq!(
                via_gateway, expected,
                "{protocol}: {tool} changed on its way"
            );
        }
        // The direct client's calls are rmcp's (numbered), so they are not counted as leg calls.
        assert_eq!(
            leg_calls(&upstream),
            5,
            "{protocol}: every call took the leg"
        );

        let refused = call(&client, "execute_tool", json!({"tool_name": "rpc_error"})).await;
        assert_eq!(error_code(&refused), "upstream_error", "{protocol}");
        let details = &json_of(&refused)["details"];
        assert_eq!(details["upstream_code"], -32050, "{protocol}: {details}");
        let bad = call(
            &client,
            "execute_tool",
            json!({"tool_name": "echo", "arguments": {"message": ""}}),
        )
        .await;
        assert_eq!(error_code(&bad), "invalid_arguments", "{protocol}");
        assert_eq!(
            leg_calls(&upstream),
            7,
            "{protocol}: refusals came back on the leg"
        );

        // The session's configured header rides along; a tool whose argument becomes an
        // `Mcp-Param-*` header (2026-07-28 only) is posted by rmcp, which mirrors it.
        let before = leg_calls(&upstream);
        let seen = headers_seen(&client, "eu-west").await;
        assert_eq!(
            seen["x-static"],
            json!(["from-config"]),
            "{protocol}: {seen}"
        );
        // One Host, the upstream's (on the leg's hyper-util requests it is made once per
        // session; rmcp's own posts get reqwest's).
        let authority = authority_of(&upstream.url());
        assert_eq!(seen["host"], json!([authority]), "{protocol}: {seen}");
        if protocol == "2026-07-28" {
            assert_eq!(seen["mcp-param-region"], json!(["eu-west"]), "{seen}");
            assert_eq!(leg_calls(&upstream), before, "annotated: rmcp posts it");
        } else {
            assert_eq!(seen.get("mcp-param-region"), None, "{seen}");
            assert_eq!(leg_calls(&upstream), before + 1, "{protocol}");
        }
        gateway.stop().await;
    }
}

#[tokio::test]
async fn server_requests_on_a_calls_stream_are_answered_and_list_changed_is_heard() {
    let chatty = Tool::new(
        "chatty",
        "Pings the client, asks for its roots and adds a tool before answering",
        Arc::new(serde_json::Map::new()),
    );
    let upstream = HttpUpstream::start(server_with(vec![chatty])).await;
    let gateway = gateway_on(&upstream.url(), "2025-11-25").await;
    let client = gateway.client().await;
    let answered = call(&client, "execute_tool", json!({"tool_name": "chatty"})).await;
    assert_eq!(text_of(&answered), "pong, roots", "{answered:?}");
    assert_eq!(leg_calls(&upstream), 1);
    let registry_has = |name: &str| {
        gateway
            .running
            .gateway
            .registry()
            .tools()
            .iter()
            .any(|entry| entry.original_name() == name)
    };
    assert!(
        eventually(10, || registry_has("chatty_added")).await,
        "the tool announced during the call was never listed"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_call_on_an_expired_session_runs_once_on_a_renewed_one() {
    let upstream = HttpUpstream::start(server_with(vec![])).await;
    let gateway = gateway_on(&upstream.url(), "2025-11-25").await;
    let client = gateway.client().await;
    let echo = |message: &str| {
        let args = json!({"tool_name": "echo", "arguments": {"message": message}});
        let client = &client;
        async move { text_of(&call(client, "execute_tool", args).await) }
    };
    assert_eq!(echo("first").await, "first");
    let sessions = upstream.server.stats.sessions.load(Ordering::SeqCst);
    upstream.expire_sessions().await;
    let before = calls(&upstream);
    assert_eq!(echo("after expiry").await, "after expiry");
    assert_eq!(
        calls(&upstream),
        before + 1,
        "the refused call ran exactly once, on the new session"
    );
    assert_eq!(
        upstream.server.stats.sessions.load(Ordering::SeqCst),
        sessions + 1,
        "rmcp opened one new session"
    );
    let legged = leg_calls(&upstream);
    assert_eq!(echo("third").await, "third");
    assert_eq!(
        leg_calls(&upstream),
        legged + 1,
        "the leg posts on the renewed session"
    );
    gateway.stop().await;
}

/// What [`Proxy`] does to the `tools/call` of one tool.
#[derive(Clone)]
enum Meddle {
    /// Ends the answer stream after its first event (the priming one), as a dropped
    /// connection would.
    Cut,
    /// Answers in the upstream's stead: status, content type, body (`{id}` becomes the
    /// request's JSON-RPC id).
    Answer(u16, &'static str, &'static str),
    /// Passes the answer stream on whole but ends it this long after the upstream ended it
    /// (the last chunk of a chunked response arriving late).
    LateEnd(std::time::Duration),
    /// Answers 429 with a chunked body that ends this long after its text.
    SlowRateLimit(std::time::Duration),
    /// Passes the call on whole, keeping the request body as it arrived.
    Record(Arc<std::sync::Mutex<Vec<Bytes>>>),
}

/// A reverse proxy to an upstream that meddles with the `tools/call` of the tools it is given;
/// everything else (a resuming GET included) passes whole. Counts the calls it meddled with,
/// the GETs that resume a stream and the connections it accepted.
struct Proxy {
    url: String,
    meddled: Arc<AtomicUsize>,
    resumed: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    stop: CancellationToken,
}

type ProxyBody = BoxBody<Bytes, std::io::Error>;

/// What every connection of a proxy shares.
#[derive(Clone)]
struct ProxyState {
    upstream: String,
    rules: Arc<Vec<(&'static str, Meddle)>>,
    meddled: Arc<AtomicUsize>,
    resumed: Arc<AtomicUsize>,
    client: reqwest::Client,
}

impl Proxy {
    async fn start(upstream: String, rules: Vec<(&'static str, Meddle)>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let state = ProxyState {
            upstream,
            rules: Arc::new(rules),
            meddled: Arc::default(),
            resumed: Arc::default(),
            client: reqwest::Client::new(),
        };
        let (meddled, resumed) = (state.meddled.clone(), state.resumed.clone());
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted_count = connections.clone();
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    () = token.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => return,
                    },
                };
                accepted_count.fetch_add(1, Ordering::SeqCst);
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(forward(request, &state).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Proxy {
            url: format!("http://{addr}/mcp"),
            meddled,
            resumed,
            connections,
            stop,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into()).map_err(|e| match e {}).boxed()
}

async fn forward(
    request: hyper::Request<hyper::body::Incoming>,
    state: &ProxyState,
) -> hyper::Response<ProxyBody> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if parts.headers.contains_key("last-event-id") {
        state.resumed.fetch_add(1, Ordering::SeqCst);
    }
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let rule = (message["method"] == "tools/call")
        .then(|| {
            state
                .rules
                .iter()
                .find(|(tool, _)| message["params"]["name"] == *tool)
        })
        .flatten()
        .map(|(_, rule)| rule.clone());
    if let Some(Meddle::Answer(status, media, text)) = &rule {
        state.meddled.fetch_add(1, Ordering::SeqCst);
        let text = text.replace("{id}", &message["id"].to_string());
        return hyper::Response::builder()
            .status(*status)
            .header("content-type", *media)
            .header("retry-after", "7")
            .body(full(text))
            .unwrap_or_else(|_| hyper::Response::new(full(Bytes::new())));
    }
    if let Some(Meddle::Record(bodies)) = &rule {
        state.meddled.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut bodies) = bodies.lock() {
            bodies.push(body.clone());
        }
    }
    if let Some(Meddle::SlowRateLimit(hold)) = rule {
        state.meddled.fetch_add(1, Ordering::SeqCst);
        let text = futures::stream::once(async { Ok(Frame::data(Bytes::from("slow down"))) });
        let late_end = futures::stream::once(tokio::time::sleep(hold))
            .filter_map(|()| async { None::<Result<Frame<Bytes>, std::io::Error>> });
        return hyper::Response::builder()
            .status(429)
            .header("content-type", "text/plain")
            .header("retry-after", "7")
            .body(BodyExt::boxed(StreamBody::new(text.chain(late_end))))
            .unwrap_or_else(|_| hyper::Response::new(full(Bytes::new())));
    }
    let mut outgoing = state
        .client
        .request(parts.method, &state.upstream)
        .body(body);
    for (name, value) in &parts.headers {
        if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
            outgoing = outgoing.header(name, value);
        }
    }
    let Ok(answer) = outgoing.send().await else {
        let mut failed = hyper::Response::new(full(Bytes::new()));
        *failed.status_mut() = http::StatusCode::BAD_GATEWAY;
        return failed;
    };
    let mut response = hyper::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    let body: ProxyBody = if matches!(rule, Some(Meddle::Cut)) {
        // Up to the end of the first event, then the stream ends.
        let mut seen = Vec::new();
        let mut chunks = answer.bytes_stream();
        while let Some(Ok(chunk)) = chunks.next().await {
            seen.extend_from_slice(&chunk);
            if let Some(end) = seen.windows(2).position(|w| w == b"\n\n") {
                seen.truncate(end + 2);
                break;
            }
        }
        state.meddled.fetch_add(1, Ordering::SeqCst);
        full(seen)
    } else {
        let frames = answer
            .bytes_stream()
            .map(|chunk| chunk.map(Frame::data).map_err(std::io::Error::other));
        match rule {
            Some(Meddle::LateEnd(hold)) => {
                state.meddled.fetch_add(1, Ordering::SeqCst);
                let late_end =
                    futures::stream::once(tokio::time::sleep(hold)).filter_map(|()| async { None });
                BodyExt::boxed(StreamBody::new(frames.chain(late_end)))
            }
            _ => BodyExt::boxed(StreamBody::new(frames)),
        }
    };
    response
        .body(body)
        .unwrap_or_else(|_| hyper::Response::new(full(Bytes::new())))
}

#[tokio::test]
async fn a_calls_stream_cut_short_is_resumed_from_its_last_event() {
    let upstream = HttpUpstream::start(server_with(vec![])).await;
    let proxy = Proxy::start(upstream.url(), vec![("slow", Meddle::Cut)]).await;
    let gateway = gateway_on(&proxy.url, "2025-11-25").await;
    let client = gateway.client().await;
    // rmcp's server replays a request's stream only while the request runs, and asks clients
    // to wait 3 s (`retry: 3000`) before resuming: the call outlasts that wait with room to
    // spare on a loaded machine.
    let slept = call(
        &client,
        "execute_tool",
        json!({"tool_name": "slow", "arguments": {"ms": 6000}}),
    )
    .await;
    assert_eq!(text_of(&slept), "slept 6000 ms", "{slept:?}");
    assert_eq!(
        proxy.meddled.load(Ordering::SeqCst),
        1,
        "the stream was cut"
    );
    assert!(
        proxy.resumed.load(Ordering::SeqCst) >= 1,
        "the answer came through a resuming GET"
    );
    assert_eq!(calls(&upstream), 1, "the call was not posted again");
    assert_eq!(leg_calls(&upstream), 1);
    gateway.stop().await;
}

#[tokio::test]
async fn a_stream_whose_last_event_id_was_cleared_is_not_resumed() {
    // An empty `id` clears the last event id (the SSE standard): a stream that then ends
    // without the answer has nothing to resume from, and the call fails at once.
    let upstream = HttpUpstream::start(server_with(vec![])).await;
    let proxy = Proxy::start(
        upstream.url(),
        vec![(
            "whoami",
            Meddle::Answer(
                200,
                "text/event-stream",
                "id: 5\nretry: 100\ndata: \n\nid\n\n",
            ),
        )],
    )
    .await;
    let gateway = gateway_on(&proxy.url, "2025-11-25").await;
    let client = gateway.client().await;
    let lost = call(&client, "execute_tool", json!({"tool_name": "whoami"})).await;
    assert_eq!(error_code(&lost), "upstream_unavailable", "{lost:?}");
    assert_eq!(proxy.meddled.load(Ordering::SeqCst), 1);
    assert_eq!(proxy.resumed.load(Ordering::SeqCst), 0, "no resuming GET");
    gateway.stop().await;
}

#[tokio::test]
async fn cancelling_a_call_on_the_leg_cancels_it_upstream_in_both_eras() {
    for protocol in ["2025-11-25", "2026-07-28"] {
        let upstream = HttpUpstream::start(server_with(vec![])).await;
        let gateway = gateway_on(&upstream.url(), protocol).await;
        let client = gateway.client().await;
        let handle = start_slow_call(&client, 30_000).await;
        let stats = upstream.server.stats.clone();
        assert!(
            eventually(5, || stats.in_flight.load(Ordering::SeqCst) == 1).await,
            "{protocol}: the call never reached the upstream"
        );
        assert_eq!(leg_calls(&upstream), 1, "{protocol}");
        handle.cancel(Some("gave up".into())).await.expect("cancel");
        assert!(
            eventually(5, || stats.cancelled.load(Ordering::SeqCst) == 1).await,
            "{protocol}: the upstream never saw the cancellation"
        );
        gateway.stop().await;
    }
}

#[tokio::test]
async fn http_failures_keep_or_drop_the_session_as_rmcps_client_would() {
    let upstream = HttpUpstream::start(server_with(vec![])).await;
    let proxy = Proxy::start(
        upstream.url(),
        vec![
            ("whoami", Meddle::Answer(429, "text/plain", "slow down")),
            (
                "add",
                Meddle::Answer(
                    500,
                    "application/json",
                    r#"{"jsonrpc":"2.0","id":{id},"error":{"code":-32001,"message":"overloaded"}}"#,
                ),
            ),
            (
                "tiny_image",
                Meddle::Answer(503, "text/plain", "down for maintenance"),
            ),
        ],
    )
    .await;
    let gateway = gateway_on(&proxy.url, "2025-11-25").await;
    let client = gateway.client().await;
    let state = || async {
        let (_, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
        ready["domains"]["crm"]["state"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let sessions = || upstream.server.stats.sessions.load(Ordering::SeqCst);
    let opened = sessions();

    // A rate limit is passed on, and is no outage: same session, still healthy.
    let limited = call(&client, "execute_tool", json!({"tool_name": "whoami"})).await;
    assert_eq!(error_code(&limited), "upstream_unavailable");
    let reason = json_of(&limited)["details"]["reason"].to_string();
    assert!(
        reason.contains("429") && reason.contains("retry after 7"),
        "{reason}"
    );
    assert_eq!(state().await, "ok");

    // A JSON-RPC error in a failure's JSON body is the upstream's answer.
    let refused = call(
        &client,
        "execute_tool",
        json!({"tool_name": "add", "arguments": {"a": 1, "b": 2}}),
    )
    .await;
    assert_eq!(error_code(&refused), "upstream_error");
    assert_eq!(json_of(&refused)["details"]["upstream_code"], -32001);
    assert_eq!(state().await, "ok");
    assert_eq!(sessions(), opened, "no failure so far cost the session");

    // A plain server error drops the session: the upstream is down until it answers again.
    let failed = call(&client, "execute_tool", json!({"tool_name": "tiny_image"})).await;
    assert_eq!(error_code(&failed), "upstream_unavailable");
    let reason = json_of(&failed)["details"]["reason"].to_string();
    assert!(reason.contains("503"), "{reason}");
    // The session ended moments after it opened, so the restart backoff holds the next one
    // back for a moment.
    let mut answered = String::new();
    for _ in 0..50 {
        let echoed = call(
            &client,
            "execute_tool",
            json!({"tool_name": "echo", "arguments": {"message": "back"}}),
        )
        .await;
        answered = text_of(&echoed);
        if answered == "back" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(answered, "back");
    assert_eq!(sessions(), opened + 1, "a new session was opened");
    assert_eq!(proxy.meddled.load(Ordering::SeqCst), 3);
    gateway.stop().await;
}

#[tokio::test]
async fn a_stateless_json_upstream_is_called_with_2026_07_28_headers_and_meta() {
    let upstream = HttpUpstream::start_stateless(server_with(vec![headers_tool(false)])).await;
    let gateway = gateway_on(&upstream.url(), "2026-07-28").await;
    let client = gateway.client().await;
    let echoed = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "json"}}),
    )
    .await;
    assert_eq!(text_of(&echoed), "json");
    // rmcp's server refuses a 2026-07-28 request without its `_meta` protocol version or with
    // SEP-2243 headers that do not match the body, so these answers prove both.
    let seen = headers_seen(&client, "eu-west").await;
    assert_eq!(seen["mcp-method"], json!(["tools/call"]), "{seen}");
    assert_eq!(seen["mcp-name"], json!(["headers"]), "{seen}");
    assert_eq!(seen.get("mcp-param-region"), None, "not annotated: {seen}");
    assert_eq!(leg_calls(&upstream), 2, "both calls took the leg");
    gateway.stop().await;
}

#[tokio::test]
async fn a_rate_limit_on_rmcps_path_keeps_the_upstream_up_too() {
    // On 2026-07-28 the annotated `headers` tool is posted by rmcp (its `Mcp-Param-*` header).
    let upstream = HttpUpstream::start(server_with(vec![headers_tool(true)])).await;
    let proxy = Proxy::start(
        upstream.url(),
        vec![("headers", Meddle::Answer(429, "text/plain", "slow down"))],
    )
    .await;
    let gateway = gateway_on(&proxy.url, "2026-07-28").await;
    let client = gateway.client().await;
    let limited = call(
        &client,
        "execute_tool",
        json!({"tool_name": "headers", "arguments": {"region": "eu-west"}}),
    )
    .await;
    assert_eq!(error_code(&limited), "upstream_unavailable");
    let reason = json_of(&limited)["details"]["reason"].to_string();
    assert!(
        reason.contains("429") && reason.contains("retry after 7"),
        "{reason}"
    );
    assert_eq!(leg_calls(&upstream), 0, "rmcp posted it");
    let (_, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
    assert_eq!(ready["domains"]["crm"]["state"], "ok", "{ready}");
    let echoed = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "still up"}}),
    )
    .await;
    assert_eq!(text_of(&echoed), "still up");
    gateway.stop().await;
}

#[tokio::test]
async fn an_upstreams_result_reaches_the_client_as_the_upstream_wrote_it() {
    // Fields rmcp's types do not know, escapes and number spellings: kept as written.
    const PLAIN: &str = r#"{"content":[{"type":"text","text":"caf\u00e9 \"q\"","x-block":[1,2.50]}],"isError":false,"x-vendor":{"kept":true}}"#;
    let upstream = HttpUpstream::start(server_with(vec![])).await;
    let proxy = Proxy::start(
        upstream.url(),
        vec![
            (
                "whoami",
                Meddle::Answer(
                    200,
                    "application/json",
                    r#"{"jsonrpc":"2.0","id":{id},"result":{"content":[{"type":"text","text":"caf\u00e9 \"q\"","x-block":[1,2.50]}],"isError":false,"x-vendor":{"kept":true}}}"#,
                ),
            ),
            // Results rmcp reshapes for sessions before 2026-07-28: structured content that is
            // not an object, content absent, a `resultType`.
            (
                "tiny_image",
                Meddle::Answer(
                    200,
                    "application/json",
                    r#"{"jsonrpc":"2.0","id":{id},"result":{"content":[{"type":"text","text":"[1,2]"}],"structuredContent":[1,2]}}"#,
                ),
            ),
            (
                "always_fails",
                Meddle::Answer(
                    200,
                    "application/json",
                    r#"{"jsonrpc":"2.0","id":{id},"result":{"structuredContent":{"a":1}}}"#,
                ),
            ),
            // An SSE answer whose JSON spans several `data:` lines.
            (
                "weather_structured",
                Meddle::Answer(
                    200,
                    "text/event-stream",
                    "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{\ndata:   \"content\":[{\"type\":\"text\",\"text\":\"multi\"}],\r\ndata:   \"x-v\":true}}\n\n",
                ),
            ),
            // An SSE answer with what the SSE standard says a reader skips or takes the last
            // of: a byte order mark (kept, it would hide the first event's type and make that
            // `ping` event the answer), a comment, a field it does not know, a line without a
            // colon (a field with an empty value), a repeated `event`, CRLF line ends, and a
            // metadata-only block.
            (
                "add",
                Meddle::Answer(
                    200,
                    "text/event-stream",
                    "\u{feff}event: ping\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"BOM kept\"}]}}\r\n\r\n: hello\r\nid: 0\r\nretry: 3000\r\n\r\nx-trace: 42\r\nevent: ping\r\nevent: message\r\nnocolon\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"3\"}]}}\r\n\r\n",
                ),
            ),
            (
                "pid",
                Meddle::Answer(
                    200,
                    "application/json",
                    r#"{"jsonrpc":"2.0","id":{id},"result":{"content":[{"type":"text","text":"x"}],"resultType":"complete","x-v":[1.50]}}"#,
                ),
            ),
        ],
    )
    .await;
    let gateway = gateway_on(&proxy.url, "2025-11-25").await;
    let session = RawSession::open(&gateway.url()).await;
    let execute = |id: u64, tool: &str| tool_call(id, "execute_tool", json!({"tool_name": tool}));
    // rmcp's own path: a weighted `Accept` keeps the call off the direct path.
    let through_rmcp = [("accept", "application/json;q=0.9, text/event-stream")];

    let (status, kind, body) = session.post(&execute(1, "whoami"), &[]).await;
    assert_eq!((status, kind.as_str()), (200, "application/json"));
    assert_eq!(
        body,
        format!(r#"{{"jsonrpc":"2.0","id":1,"result":{PLAIN}}}"#)
    );
    let (_, kind, body) = session.post(&execute(2, "whoami"), &through_rmcp).await;
    let typed = message_of(&kind, &body);
    assert_eq!(
        typed["result"]["content"][0]["text"], "café \"q\"",
        "{typed}"
    );

    // Line breaks between tokens are the upstream's text too.
    let (status, kind, body) = session
        .post(
            &tool_call(
                6,
                "execute_tool",
                json!({"tool_name": "weather_structured", "arguments": {"city": "Oslo"}}),
            ),
            &[],
        )
        .await;
    assert_eq!((status, kind.as_str()), (200, "application/json"));
    assert_eq!(
        body,
        "{\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{\n  \"content\":[{\"type\":\"text\",\"text\":\"multi\"}],\n  \"x-v\":true}}"
    );

    let (status, kind, body) = session
        .post(
            &tool_call(
                7,
                "execute_tool",
                json!({"tool_name": "add", "arguments": {"a": 1, "b": 2}}),
            ),
            &[],
        )
        .await;
    assert_eq!((status, kind.as_str()), (200, "application/json"), "{body}");
    assert_eq!(
        body,
        r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"3"}]}}"#
    );

    for (id, tool) in [(3, "tiny_image"), (4, "always_fails"), (5, "pid")] {
        let (_, kind, body) = session.post(&execute(id, tool), &[]).await;
        if tool == "pid" {
            // A 2026-07-28 upstream's `resultType` is dropped from the text, nothing else.
            assert_eq!(
                body,
                r#"{"jsonrpc":"2.0","id":5,"result":{"content":[{"type":"text","text":"x"}],"x-v":[1.50]}}"#
            );
        }
        let direct = message_of(&kind, &body);
        let (_, kind, body) = session.post(&execute(id, tool), &through_rmcp).await;
        let mut typed = message_of(&kind, &body);
        if tool == "pid" {
            typed["result"]["x-v"] = json!([1.5]); // a field rmcp's types do not keep
        }
        assert_eq!(direct, typed, "{tool}");
        let result = &direct["result"];
        assert!(result["content"].is_array(), "{tool}: {direct}");
        assert!(result.get("resultType").is_none(), "{tool}: {direct}");
        assert!(
            result
                .get("structuredContent")
                .is_none_or(serde_json::Value::is_object),
            "{tool}: {direct}"
        );
    }
    assert_eq!(proxy.meddled.load(Ordering::SeqCst), 10);
    gateway.stop().await;
}

/// A server that answers every request with `307 Temporary Redirect` to `target` (method and
/// body kept), counting them.
async fn redirector(target: String) -> (String, Arc<AtomicUsize>, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/old/mcp", listener.local_addr().expect("addr"));
    let redirected = Arc::new(AtomicUsize::new(0));
    let (count, stop) = (redirected.clone(), CancellationToken::new());
    let token = stop.clone();
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = token.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => return,
                },
            };
            let (count, target) = (count.clone(), target.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| {
                    count.fetch_add(1, Ordering::SeqCst);
                    let moved = hyper::Response::builder()
                        .status(307)
                        .header("location", target.as_str())
                        .body(full(Bytes::new()))
                        .unwrap_or_else(|_| hyper::Response::new(full(Bytes::new())));
                    async move { Ok::<_, Infallible>(moved) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (url, redirected, stop)
}

#[tokio::test]
async fn an_upstream_whose_url_redirects_is_called_through_the_redirect() {
    let upstream = HttpUpstream::start(TestUpstream::with_headers_tool("crm")).await;
    let (url, redirected, stop) = redirector(upstream.url()).await;
    let gateway = gateway_on(&url, "2025-11-25").await;
    let client = gateway.client().await;
    let before = redirected.load(Ordering::SeqCst);
    for i in 0..3 {
        let message = format!("through a redirect {i}");
        let result = call(
            &client,
            "execute_tool",
            json!({"tool_name": "echo", "arguments": {"message": message}}),
        )
        .await;
        assert_eq!(result.is_error, Some(false), "{result:?}");
        assert!(text_of(&result).contains(&message), "{result:?}");
    }
    assert_eq!(leg_calls(&upstream), 3, "the leg posted every call");
    assert!(
        redirected.load(Ordering::SeqCst) >= before + 3,
        "each call went to the configured URL first"
    );
    // Where the redirect leads, the request names that host, not the configured one.
    let seen = headers_seen(&client, "eu-west").await;
    let authority = authority_of(&upstream.url());
    assert_eq!(seen["host"], json!([authority]), "{seen}");
    assert_ne!(
        authority_of(&url),
        authority,
        "the redirect leads to another port"
    );
    gateway.stop().await;
    stop.cancel();
}

#[tokio::test]
async fn a_redirect_that_does_not_repeat_the_request_sends_the_call_once() {
    // A 303 says the request was processed: posting the call again could run it twice.
    let upstream = HttpUpstream::start(TestUpstream::new("crm")).await;
    let proxy = Proxy::start(
        upstream.url(),
        vec![("echo", Meddle::Answer(303, "text/plain", "see other"))],
    )
    .await;
    let gateway = gateway_on(&proxy.url, "2025-11-25").await;
    let client = gateway.client().await;
    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "once"}}),
    )
    .await;
    assert_eq!(error_code(&result), "upstream_unavailable", "{result:?}");
    assert_eq!(
        proxy.meddled.load(Ordering::SeqCst),
        1,
        "the call was posted once"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_stream_that_ends_after_its_answer_keeps_its_connection() {
    // The last chunk of a chunked SSE answer often comes in a write of its own, just after the
    // answer. The call must not wait for it, and its connection must not be dropped for it:
    // otherwise every call pays a new connection to the upstream.
    const HOLD: std::time::Duration = std::time::Duration::from_millis(300);
    const CALLS: usize = 8;
    let upstream = HttpUpstream::start(TestUpstream::new("crm")).await;
    let proxy = Proxy::start(upstream.url(), vec![("echo", Meddle::LateEnd(HOLD))]).await;
    let gateway = gateway_on(&proxy.url, "2025-11-25").await;
    let client = gateway.client().await;
    let opened_before = proxy.connections.load(Ordering::SeqCst);
    let mut answering = std::time::Duration::ZERO;
    for n in 0..CALLS {
        let message = format!("call {n}");
        let started = std::time::Instant::now();
        let result = call(
            &client,
            "execute_tool",
            json!({"tool_name": "echo", "arguments": {"message": message}}),
        )
        .await;
        answering += started.elapsed();
        assert_eq!(text_of(&result), message, "{result:?}");
        // Past the late end, so that a connection kept open is free again.
        tokio::time::sleep(HOLD + std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(proxy.meddled.load(Ordering::SeqCst), CALLS);
    // Dropped streams would open one per call; besides the call leg's one connection, allow
    // rmcp's own (its GET stream) and a drain that a loaded machine delayed past the next call.
    let opened = proxy.connections.load(Ordering::SeqCst) - opened_before;
    assert!(
        opened <= CALLS / 2,
        "{opened} connections opened for {CALLS} calls: the streams' ends were not read"
    );
    // A call that waited for its stream's end would take HOLD at least.
    assert!(
        answering < HOLD * CALLS as u32,
        "{answering:?} for {CALLS} calls: they waited for their streams' ends"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_rate_limited_call_keeps_its_connection() {
    // A 429 is answered at once; its body (whose end comes late here) is read off the call's
    // path, so the next call goes on the same connection rather than a new one to an upstream
    // that is already overloaded.
    const CALLS: usize = 8;
    const HOLD: std::time::Duration = std::time::Duration::from_millis(100);
    let upstream = HttpUpstream::start(TestUpstream::new("crm")).await;
    let proxy = Proxy::start(upstream.url(), vec![("echo", Meddle::SlowRateLimit(HOLD))]).await;
    let gateway = gateway_on(&proxy.url, "2025-11-25").await;
    let client = gateway.client().await;
    let opened_before = proxy.connections.load(Ordering::SeqCst);
    for _ in 0..CALLS {
        let result = call(
            &client,
            "execute_tool",
            json!({"tool_name": "echo", "arguments": {"message": "hi"}}),
        )
        .await;
        assert!(text_of(&result).contains("429"), "{result:?}");
        tokio::time::sleep(HOLD + std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(proxy.meddled.load(Ordering::SeqCst), CALLS);
    let opened = proxy.connections.load(Ordering::SeqCst) - opened_before;
    assert!(
        opened <= CALLS / 2,
        "{opened} connections opened for {CALLS} rate-limited calls"
    );
    gateway.stop().await;
}

/// The `params.arguments` text of a recorded `tools/call` body, as it was written.
fn arguments_text(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Message<'a> {
        #[serde(borrow)]
        params: Params<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        arguments: &'a serde_json::value::RawValue,
    }
    let message: Message = serde_json::from_slice(body).ok()?;
    Some(message.params.arguments.get().to_string())
}

#[tokio::test]
async fn the_clients_arguments_reach_the_upstream_as_it_wrote_them() {
    // Numbers no f64 holds, spacing, escapes and key order: the upstream reads this text.
    const ARGUMENTS: &str = "{ \"b\": 0.1000000000000000000000000001,\n  \"a\": 12345678901234567890123, \"note\": \"caf\\u00e9\" }";
    let recorded = Arc::new(std::sync::Mutex::new(Vec::new()));
    for protocol in ["2025-11-25", "2026-07-28"] {
        let upstream = HttpUpstream::start(server_with(vec![])).await;
        let proxy = Proxy::start(
            upstream.url(),
            vec![("add", Meddle::Record(recorded.clone()))],
        )
        .await;
        let gateway = gateway_on(&proxy.url, protocol).await;
        let session = RawSession::open(&gateway.url()).await;
        let modern = ModernClient::new(&gateway.url());
        let call = |id: u64, arguments: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"execute_tool","arguments":{{"tool_name":"add","arguments":{arguments}}}}}}}"#
            )
        };
        let raw = |text: String| serde_json::value::RawValue::from_string(text).ok();
        let modern_call = |id: u64, arguments: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{{"name":"raw","version":"1"}},"io.modelcontextprotocol/clientCapabilities":{{}}}},"name":"execute_tool","arguments":{{"tool_name":"add","arguments":{arguments}}}}}}}"#
            )
        };
        let answers = [
            session.post(&raw(call(1, ARGUMENTS)), &[]).await,
            {
                let (status, headers, body) =
                    modern.post(&raw(modern_call(2, ARGUMENTS)), &[]).await;
                (status, content_type(&headers).to_string(), body)
            },
            // A repeated key: the upstream gets the copy the gateway checked (the last value).
            session
                .post(&raw(call(3, r#"{"a":1,"b":2,"a":40}"#)), &[])
                .await,
        ];
        let sums: Vec<_> = answers
            .iter()
            .map(|(status, kind, body)| {
                assert_eq!(*status, 200, "{protocol}: {body}");
                message_of(kind, body)["result"]["content"][0]["text"].clone()
            })
            .collect();
        // The upstream read the numbers as f64 itself; the repeated key's last value won.
        let big_sum = ("12345678901234567890123".parse::<f64>().unwrap_or_default()
            + "0.1000000000000000000000000001"
                .parse::<f64>()
                .unwrap_or_default())
        .to_string();
        assert_eq!(
            sums,
            [json!(big_sum), json!(big_sum), json!("42")],
            "{protocol}"
        );
        let bodies = recorded.lock().map(|b| b.clone()).unwrap_or_default();
        let texts: Vec<_> = bodies.iter().map(|body| arguments_text(body)).collect();
        assert_eq!(
            texts,
            [
                Some(ARGUMENTS.into()),
                Some(ARGUMENTS.into()),
                Some(r#"{"a":40,"b":2}"#.into())
            ],
            "{protocol}"
        );
        // A bad argument is still refused by the gateway, before any upstream call.
        let (_, kind, body) = session.post(&raw(call(4, r#"{"a":"x","b":2}"#)), &[]).await;
        let refused = serde_json::from_value(message_of(&kind, &body)["result"].clone());
        assert_eq!(
            refused.ok().map(|result| error_code(&result)).as_deref(),
            Some("invalid_arguments"),
            "{body}"
        );
        assert_eq!(recorded.lock().map(|b| b.len()).unwrap_or_default(), 3);
        assert!(leg_calls(&upstream) >= 3, "{protocol}: the leg posted them");
        recorded.lock().map(|mut b| b.clear()).unwrap_or_default();
        gateway.stop().await;
    }
}
