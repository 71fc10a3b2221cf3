//! The hot path: answers `tools/call` on an established session (and `notifications/cancelled`
//! for such calls) in the HTTP core itself, without rmcp's per-session worker, SSE framing and
//! task hand-offs. A call answers as one `application/json` body; one that runs past
//! [`JSON_WINDOW`] switches to an SSE stream with keep-alive comments so proxies do not cut it.
//! Anything else, and anything unusual (other methods, batches, 2026-07-28 per-request metadata,
//! `Mcp-Method` headers, weighted `Accept`, a `Host` the allow-list may not accept), goes to rmcp
//! unchanged, so rmcp answers it, refusals included.
//!
//! As the MCP transport spec asks, a client that disconnects has not cancelled: its call runs to
//! the end (holding its upstream slot) and the answer is dropped. `notifications/cancelled`, the
//! session's DELETE and the end of the shutdown drain cancel it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientJsonRpcMessage,
    ClientNotification, ClientRequest, CustomNotification, GetMeta, InputResponses, JsonObject,
    RequestId, RequestMetaObject, ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::common::http_header::{
    HEADER_MCP_METHOD, HEADER_MCP_NAME, HEADER_MCP_PROTOCOL_VERSION, HEADER_SESSION_ID,
};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::answer::ToolAnswer;
use crate::detach_on_drop::{DetachOnDrop, Panicked};
use crate::fast_hash::FastHash;
use crate::gateway::Gateway;
use crate::ingress::HostAllowList;
use crate::{handler, meta_tools};

/// A call that answers within this time gets a plain JSON body; a longer one an SSE stream.
pub const JSON_WINDOW: Duration = Duration::from_secs(5);
/// Interval of SSE keep-alive comments on a long call's stream.
const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// rmcp closes a session whose worker saw nothing for `server.session_idle_timeout`; direct
/// calls bypass the worker, so a session that only makes direct calls pokes it at most this
/// often (or a quarter of the idle timeout, when that is shorter).
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// The no-op notification that keeps a session's rmcp worker from idling out.
const KEEP_ALIVE_METHOD: &str = "notifications/mcp-gateway/keepalive";
/// Protocol revisions served with sessions (2026-07-28 requests go to rmcp's stateless path).
const SESSION_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

type Body = BoxBody<Bytes, Infallible>;
type CallTask = DetachOnDrop<Result<ToolAnswer, McpError>>;

/// Direct calls in flight on one session, and when its rmcp worker was last poked.
struct SessionCalls {
    /// Request id → (the call's sequence number, its cancellation). The ids are the client's
    /// choice: keyed SipHash, not [`FastHash`].
    calls: Mutex<HashMap<RequestId, (u64, CancellationToken)>>,
    next: AtomicU64,
    touched: Mutex<Option<Instant>>,
    /// How often the session's rmcp worker is poked at most.
    touch_every: Duration,
}

/// Serves direct calls; one per server, shared by its connections.
pub struct DirectCalls {
    gateway: Arc<Gateway>,
    sessions: Arc<LocalSessionManager>,
    hosts: HostAllowList,
    /// Cancels every direct call: the server's drain is over.
    stop: CancellationToken,
    /// See [`touch_interval`].
    touch_every: Duration,
    live: RwLock<HashMap<Arc<str>, Arc<SessionCalls>, FastHash>>,
}

/// Removes a finished call from its session's table (its own entry only: a client that reuses
/// a request id must not lose the other call's entry).
struct CallEntry {
    session: Arc<SessionCalls>,
    id: RequestId,
    seq: u64,
}

impl Drop for CallEntry {
    fn drop(&mut self) {
        let mut calls = lock(&self.session.calls);
        if calls.get(&self.id).is_some_and(|(seq, _)| *seq == self.seq) {
            calls.remove(&self.id);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl DirectCalls {
    /// Direct calls for sessions held by `sessions`, for requests whose `Host` `hosts` accepts;
    /// `stop` cancels those still running (the token that ends rmcp's streams after the drain);
    /// sessions are poked at most every `touch_every` (see [`touch_interval`]).
    pub fn new(
        gateway: Arc<Gateway>,
        sessions: Arc<LocalSessionManager>,
        hosts: HostAllowList,
        stop: CancellationToken,
        touch_every: Duration,
    ) -> DirectCalls {
        DirectCalls {
            gateway,
            sessions,
            hosts,
            stop,
            touch_every,
            live: RwLock::new(HashMap::default()),
        }
    }

    /// Answers the POST if it is a direct call or cancels one; otherwise returns `None` and the
    /// request goes to rmcp.
    pub async fn answer(&self, request: &Request<Bytes>) -> Option<Response<Body>> {
        let headers = request.headers();
        let session_id = eligible_session(headers)?;
        if !self.hosts.allows(request.uri(), headers) {
            return None;
        }
        match read_message(request.body())? {
            Direct::Call { id, params, meta } => {
                if meta.protocol_version().is_some() {
                    return None;
                }
                let session = self.session(session_id).await?;
                touch(&self.sessions, session_id, &session);
                let task = self.spawn(session, id.clone(), params, meta, headers);
                Some(self.respond(task, id, session_id).await)
            }
            Direct::Cancel(id) => {
                let session = self.known_session(session_id)?;
                if !self.sessions.sessions.read().await.contains_key(session_id) {
                    return None;
                }
                let cancel = lock(&session.calls).get(&id).map(|(_, c)| c.clone())?;
                cancel.cancel();
                Some(accepted())
            }
        }
    }

    /// The client deleted session `headers` names (rmcp accepted the DELETE): its direct calls
    /// still running are cancelled, as rmcp cancels its own.
    pub fn ended(&self, headers: &HeaderMap) {
        let Some(id) = headers.get(HEADER_SESSION_ID).and_then(|v| v.to_str().ok()) else {
            return;
        };
        if let Some(session) = write(&self.live).remove(id) {
            for (_, cancel) in lock(&session.calls).values() {
                cancel.cancel();
            }
        }
    }

    /// Drops the state of sessions rmcp no longer has (expired or closed).
    pub async fn sweep(&self) {
        let open = self.sessions.sessions.read().await;
        write(&self.live).retain(|id, _| open.contains_key(id.as_ref()));
    }

    fn known_session(&self, id: &str) -> Option<Arc<SessionCalls>> {
        read(&self.live).get(id).cloned()
    }

    /// The session's call table, if rmcp holds the session.
    async fn session(&self, id: &str) -> Option<Arc<SessionCalls>> {
        if !self.sessions.sessions.read().await.contains_key(id) {
            write(&self.live).remove(id);
            return None;
        }
        if let Some(session) = self.known_session(id) {
            return Some(session);
        }
        let session = Arc::new(SessionCalls {
            calls: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            // Poked at the first call: the worker's idle clock restarts from there.
            touched: Mutex::new(None),
            touch_every: self.touch_every,
        });
        Some(
            write(&self.live)
                .entry(Arc::from(id))
                .or_insert(session)
                .clone(),
        )
    }

    /// The call, registered for cancellation until it ends. The request's own task runs it; if
    /// the response future is dropped (the client went away), it runs on to the end on a task
    /// of its own.
    fn spawn(
        &self,
        session: Arc<SessionCalls>,
        id: RequestId,
        params: CallToolRequestParams,
        meta: RequestMetaObject,
        headers: &HeaderMap,
    ) -> CallTask {
        let cancel = self.stop.child_token();
        let seq = session.next.fetch_add(1, Ordering::Relaxed);
        lock(&session.calls).insert(id.clone(), (seq, cancel.clone()));
        let entry = CallEntry { session, id, seq };
        let gateway = self.gateway.clone();
        let headers = headers.clone();
        DetachOnDrop::new(async move {
            let _entry = entry;
            let context = meta_tools::CallContext {
                cancel: &cancel,
                headers: Some(&headers),
                meta: &meta,
            };
            handler::call_tool(&gateway, params, context).await
        })
    }

    /// The call's answer: JSON when it ends within [`JSON_WINDOW`], else an SSE stream.
    async fn respond(&self, mut task: CallTask, id: RequestId, session_id: &str) -> Response<Body> {
        match tokio::time::timeout(JSON_WINDOW, &mut task).await {
            Ok(joined) => json_response(encode(joined, id)),
            Err(_) => {
                // The stream's keep-alive also keeps the session: a call may outlast rmcp's
                // idle timeout.
                let poke = self.known_session(session_id).map(|session| {
                    let (sessions, session_id) =
                        (self.sessions.clone(), Arc::<str>::from(session_id));
                    move || touch(&sessions, &session_id, &session)
                });
                // On a task of its own from here: a stream is polled only as fast as the client
                // reads it (HTTP/2 flow control), and the call must not wait on that.
                sse_response(task.detach(), id, poke)
            }
        }
    }
}

/// A message the direct path answers.
#[allow(clippy::large_enum_variant)] // one per request, taken apart at once: no boxing
enum Direct {
    /// A `tools/call`, its `_meta` taken out of its parameters (as rmcp's parser does).
    Call {
        id: RequestId,
        params: CallToolRequestParams,
        meta: RequestMetaObject,
    },
    /// `notifications/cancelled` for this request.
    Cancel(RequestId),
}

/// A `tools/call` read in one pass, every value checked as rmcp's parser checks it (strings and
/// their escapes, UTF-8, number range, depth from the top). A key it does not know (`result`,
/// `error`, anything else) or an array where an object belongs sends the body to rmcp's parser
/// instead. rmcp's message types are untagged enums, which buffer the whole message, arguments
/// included, and copy it while they try each variant.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncomingCall<'a> {
    #[serde(borrow)]
    jsonrpc: Cow<'a, str>,
    id: RequestId,
    #[serde(borrow)]
    method: Cow<'a, str>,
    params: Object<IncomingParams>,
}

/// `CallToolRequestParams`, with no key left unread.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IncomingParams {
    #[serde(rename = "_meta")]
    meta: Option<RequestMetaObject>,
    name: String,
    arguments: Option<JsonObject>,
    input_responses: Option<InputResponses>,
    request_state: Option<String>,
}

/// `T` read from a JSON object only (a derived struct would also read an array).
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(value: D) -> Result<Object<T>, D::Error> {
        value.deserialize_map(ObjectVisitor(std::marker::PhantomData))
    }
}

struct ObjectVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, entries: A) -> Result<Object<T>, A::Error> {
        T::deserialize(serde::de::value::MapAccessDeserializer::new(entries)).map(Object)
    }
}

/// The message in `body`, if the direct path answers it.
fn read_message(body: &[u8]) -> Option<Direct> {
    if let Ok(Object(call)) = serde_json::from_slice::<Object<IncomingCall>>(body)
        && call.jsonrpc == "2.0"
        && call.method == "tools/call"
    {
        let Object(incoming) = call.params;
        let mut params = CallToolRequestParams::new(incoming.name);
        params.arguments = incoming.arguments;
        params.input_responses = incoming.input_responses;
        params.request_state = incoming.request_state;
        return Some(Direct::Call {
            id: call.id,
            params,
            meta: incoming.meta.unwrap_or_default(),
        });
    }
    match serde_json::from_slice::<ClientJsonRpcMessage>(body).ok()? {
        ClientJsonRpcMessage::Request(mut call) => {
            // rmcp moves the request's `_meta` into its extensions as it parses.
            let meta = std::mem::take(call.request.get_meta_mut());
            let ClientRequest::CallToolRequest(tool_call) = call.request else {
                return None;
            };
            Some(Direct::Call {
                id: call.id,
                params: tool_call.params,
                meta,
            })
        }
        ClientJsonRpcMessage::Notification(notification) => {
            let ClientNotification::CancelledNotification(cancelled) = notification.notification
            else {
                return None;
            };
            Some(Direct::Cancel(cancelled.params.request_id?))
        }
        _ => None,
    }
}

/// How often a session's rmcp worker is poked at most, for sessions closed after `idle`: a
/// quarter of it, at most a minute. rmcp's own idle clock is set this much longer than `idle`,
/// so a client quiet for less than `idle` always finds its session.
pub fn touch_interval(idle: Duration) -> Duration {
    TOUCH_EVERY.min(idle / 4)
}

/// Pokes the session's rmcp worker when it has not been poked for its `touch_every`.
fn touch(sessions: &Arc<LocalSessionManager>, id: &str, session: &SessionCalls) {
    {
        let mut touched = lock(&session.touched);
        if touched.is_some_and(|at| at.elapsed() < session.touch_every) {
            return;
        }
        *touched = Some(Instant::now());
    }
    let poke = ClientJsonRpcMessage::notification(ClientNotification::CustomNotification(
        CustomNotification::new(KEEP_ALIVE_METHOD, None),
    ));
    let (sessions, id) = (sessions.clone(), Arc::from(id));
    tokio::spawn(async move {
        if let Err(error) = sessions.accept_message(&id, poke).await {
            tracing::debug!(%error, "session keep-alive failed");
        }
    });
}

/// The session id, when the headers qualify for the direct path.
fn eligible_session(headers: &HeaderMap) -> Option<&str> {
    if headers.contains_key(HEADER_MCP_METHOD) || headers.contains_key(HEADER_MCP_NAME) {
        return None;
    }
    if let Some(version) = headers.get(HEADER_MCP_PROTOCOL_VERSION) {
        let version = version.to_str().ok()?;
        if !SESSION_VERSIONS.contains(&version) {
            return None;
        }
    }
    if !accepts_json_and_sse(headers) || !is_json_content(headers) {
        return None;
    }
    let mut ids = headers.get_all(HEADER_SESSION_ID).iter();
    let id = ids.next()?.to_str().ok()?;
    ids.next().is_none().then_some(id)
}

/// `Accept` lists both `application/json` and `text/event-stream`, with no quality weights or
/// quoted parameters (those are left to rmcp's full parser).
fn accepts_json_and_sse(headers: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        if value.contains('"') {
            return false;
        }
        for entry in value.split(',') {
            let mut parts = entry.split(';');
            let essence = parts.next().unwrap_or("").trim();
            if parts.any(|p| p.trim_start().to_ascii_lowercase().starts_with("q=")) {
                return false;
            }
            json |= essence.eq_ignore_ascii_case("application/json");
            sse |= essence.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && sse
}

fn is_json_content(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let essence = v.split(';').next().unwrap_or("");
            essence.trim().eq_ignore_ascii_case("application/json")
        })
}

/// The JSON-RPC answer to call `id`, serialised. An upstream's result goes out as the text it
/// came in, where rmcp's shaping for the session's revision would not change it.
fn encode(answer: Result<Result<ToolAnswer, McpError>, Panicked>, id: RequestId) -> Bytes {
    if let Ok(Ok(answer)) = &answer
        && let Some(text) = answer.legacy_text()
        && let Some(bytes) = envelope(&id, text)
    {
        return bytes;
    }
    let message = match answer.map(|answer| answer.map(ToolAnswer::into_response)) {
        // The gateway never asks upstreams for tasks (it declares no task capability), so a
        // task here comes from an upstream breaking the protocol: refuse it as rmcp would.
        Ok(Ok(CallToolResponse::Task(_))) => ServerJsonRpcMessage::error(
            McpError::missing_required_client_capability(
                ClientCapabilities::builder().enable_tasks().build(),
            ),
            Some(id),
        ),
        // Sessions negotiated a revision before 2026-07-28: answer in its shape, as rmcp does.
        Ok(Ok(CallToolResponse::InputRequired(_))) => ServerJsonRpcMessage::error(
            McpError::invalid_request(
                "InputRequiredResult requires negotiated protocol version 2026-07-28 or newer",
                None,
            ),
            Some(id),
        ),
        Ok(Ok(response)) => {
            let mut result = ServerResult::from(response);
            result.strip_result_type_for_legacy_peer();
            result.strip_non_object_output_for_legacy_peer();
            ServerJsonRpcMessage::response(result, id)
        }
        Ok(Err(error)) => ServerJsonRpcMessage::error(error, Some(id)),
        Err(panicked) => {
            tracing::error!(error = %panicked, "tool call failed inside the gateway");
            ServerJsonRpcMessage::error(
                McpError::internal_error("the tool call failed inside the gateway", None),
                Some(id),
            )
        }
    };
    match serde_json::to_vec(&message) {
        Ok(bytes) => Bytes::from(bytes),
        Err(error) => {
            tracing::error!(%error, "cannot serialise a tool call answer");
            Bytes::from_static(
                br#"{"jsonrpc":"2.0","error":{"code":-32603,"message":"cannot serialise the answer"}}"#,
            )
        }
    }
}

/// `{"jsonrpc":"2.0","id":…,"result":…}` around a result's JSON text.
fn envelope(id: &RequestId, result: &RawValue) -> Option<Bytes> {
    let mut bytes = Vec::with_capacity(result.get().len() + 48);
    bytes.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    serde_json::to_writer(&mut bytes, id).ok()?;
    bytes.extend_from_slice(br#","result":"#);
    bytes.extend_from_slice(result.get().as_bytes());
    bytes.push(b'}');
    Some(Bytes::from(bytes))
}

/// `message` as one SSE event. An upstream's text may hold line breaks between its tokens;
/// each line becomes a `data:` line of its own (the client joins them with `\n`, still JSON).
fn sse_event(message: &[u8]) -> Bytes {
    let mut event = Vec::with_capacity(message.len() + 16);
    for line in message.split(|&b| b == b'\n') {
        event.extend_from_slice(b"data: ");
        event.extend(line.iter().filter(|&&b| b != b'\r'));
        event.push(b'\n');
    }
    event.push(b'\n');
    Bytes::from(event)
}

fn json_response(body: Bytes) -> Response<Body> {
    let length = HeaderValue::from(body.len());
    let mut response = Response::new(Full::new(body).boxed());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Stated, because the server's in-flight wrapper around the body hides its size.
    headers.insert(header::CONTENT_LENGTH, length);
    response
}

fn accepted() -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()).boxed());
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

/// A long call's answer: an SSE stream of keep-alive comments (each also running `poke`), then
/// the answer as one event. A client that goes away drops the stream, not the call.
fn sse_response(
    task: tokio::task::JoinHandle<Result<Result<ToolAnswer, McpError>, Panicked>>,
    id: RequestId,
    poke: Option<impl Fn() + Send + Sync + 'static>,
) -> Response<Body> {
    let frames = futures::stream::unfold(Some((task, id, poke)), |state| async move {
        let (mut task, id, poke) = state?;
        tokio::select! {
            joined = &mut task => {
                let joined = joined.unwrap_or_else(|error| Err(Panicked(error.to_string())));
                let event = sse_event(&encode(joined, id));
                Some((Ok::<_, Infallible>(Frame::data(event)), None))
            }
            () = tokio::time::sleep(SSE_KEEP_ALIVE) => {
                if let Some(poke) = &poke {
                    poke();
                }
                Some((Ok(Frame::data(Bytes::from_static(b":\n\n"))), Some((task, id, poke))))
            }
        }
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx would otherwise hold back the keep-alive comments.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// What rmcp's parser makes of `text`, in the direct path's terms.
    fn as_rmcp(text: &str) -> Option<(RequestId, CallToolRequestParams, RequestMetaObject)> {
        match serde_json::from_str::<ClientJsonRpcMessage>(text).ok()? {
            ClientJsonRpcMessage::Request(mut call) => {
                let meta = std::mem::take(call.request.get_meta_mut());
                let ClientRequest::CallToolRequest(tool_call) = call.request else {
                    return None;
                };
                Some((call.id, tool_call.params, meta))
            }
            _ => None,
        }
    }

    #[test]
    fn a_tool_call_reads_as_rmcp_reads_it() {
        for text in [
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"execute_tool","arguments":{"tool_name":"echo","arguments":{"message":"caf\u00e9"}}}}"#,
            r#"{"params":{"_meta":{"progressToken":"p1","traceparent":"00-ab-cd-01"},"name":"discover_tools"},"method":"tools/call","id":"s-1","jsonrpc":"2.0","extra":true}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_tool","arguments":{},"inputResponses":{},"requestState":"st"}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        ] {
            let Some(Direct::Call { id, params, meta }) = read_message(text.as_bytes()) else {
                panic!("not read as a call: {text}");
            };
            let (rmcp_id, rmcp_params, rmcp_meta) = as_rmcp(text).expect("rmcp reads it");
            assert_eq!(id, rmcp_id, "{text}");
            assert_eq!(params, rmcp_params, "{text}");
            assert_eq!(meta.0, rmcp_meta.0, "{text}");
            assert!(params.meta.is_none());
        }
    }

    #[test]
    fn an_answer_with_line_breaks_is_one_sse_event_of_several_data_lines() {
        let text = b"{\"result\":\r\n  {\"content\":\n[]}}";
        let event = sse_event(text);
        let event = std::str::from_utf8(&event).expect("UTF-8");
        assert!(event.ends_with("\n\n") && !event[..event.len() - 2].contains("\n\n"));
        let data: Vec<&str> = event
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .collect();
        assert_eq!(data.len(), 3, "{event:?}");
        let joined: Value = serde_json::from_str(&data.join("\n")).expect("JSON");
        assert_eq!(joined, serde_json::json!({"result": {"content": []}}));
    }

    #[test]
    fn anything_else_is_left_to_rmcps_parser() {
        let cancel =
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":4}}"#;
        assert!(matches!(
            read_message(cancel.as_bytes()),
            Some(Direct::Cancel(RequestId::Number(4)))
        ));
        for text in [
            r#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"x"}}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}]"#,
            r#"["2.0",1,"tools/call",{"name":"discover_tools"}]"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[null,"discover_tools",null,null,null]}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"},"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"},"error":null}"#,
            // Values the fast read skips, which rmcp's parser checks.
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","note":"\udc00"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"},"n":1e400}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":"\udc00"}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"n":-1e999}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            "not json",
        ] {
            assert!(
                read_message(text.as_bytes()).is_none(),
                "taken by the direct path: {text}"
            );
        }
        let mut invalid_utf8 =
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"},"s":""#
                .to_vec();
        invalid_utf8.extend_from_slice(b"\xff\"}");
        assert!(read_message(&invalid_utf8).is_none());
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x"}},"d":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(read_message(deep.as_bytes()).is_none());
        let shallow = deep
            .replace(&"[".repeat(200), &"[".repeat(100))
            .replace(&"]".repeat(200), &"]".repeat(100));
        assert!(as_rmcp(&shallow).is_some(), "rmcp takes 100 levels");
        assert!(read_message(shallow.as_bytes()).is_some());
        // The same depths inside the arguments, which the one-pass read checks itself.
        let nested = |depth: usize| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x","arguments":{{"d":{}{}}}}}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        assert!(read_message(nested(200).as_bytes()).is_none());
        assert!(as_rmcp(&nested(123)).is_some());
        assert!(matches!(
            read_message(nested(123).as_bytes()),
            Some(Direct::Call { params, .. }) if Some(&params) == as_rmcp(&nested(123)).map(|(_, p, _)| p).as_ref()
        ));
        // rmcp's parser takes 124 levels there (its buffering's depth limit), and so do we.
        assert!(as_rmcp(&nested(124)).is_some() && read_message(nested(124).as_bytes()).is_some());
        assert!(as_rmcp(&nested(125)).is_none(), "rmcp's depth limit");
        assert!(read_message(nested(125).as_bytes()).is_none());
    }
}
