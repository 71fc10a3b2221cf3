//! The hot path: answers `tools/call` on an established session (and `notifications/cancelled`
//! for such calls) in the HTTP core itself, without rmcp's per-session worker, SSE framing and
//! task hand-offs. A call answers as one `application/json` body; one that runs past
//! [`JSON_WINDOW`] switches to an SSE stream with keep-alive comments so proxies do not cut it.
//! Anything else, and anything unusual (other methods, batches, 2026-07-28 per-request metadata,
//! `Mcp-Method` headers, weighted `Accept`), goes to rmcp unchanged.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResponse, ClientCapabilities, ClientJsonRpcMessage, ClientNotification, ClientRequest,
    CustomNotification, GetMeta, RequestId, ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use tokio_util::sync::CancellationToken;

use crate::gateway::Gateway;
use crate::{handler, meta_tools};

/// A call that answers within this time gets a plain JSON body; a longer one an SSE stream.
pub const JSON_WINDOW: Duration = Duration::from_secs(5);
/// Interval of SSE keep-alive comments on a long call's stream.
const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// rmcp closes a session whose worker saw nothing for 5 minutes; direct calls bypass the worker,
/// so a session that only makes direct calls pokes it at most this often.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// The no-op notification that keeps a session's rmcp worker from idling out.
const KEEP_ALIVE_METHOD: &str = "notifications/mcp-gateway/keepalive";
/// Protocol revisions served with sessions (2026-07-28 requests go to rmcp's stateless path).
const SESSION_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

type Body = BoxBody<Bytes, Infallible>;

/// Direct calls in flight on one session, and when its rmcp worker was last poked.
struct SessionCalls {
    calls: Mutex<HashMap<RequestId, CancellationToken>>,
    touched: Mutex<Option<Instant>>,
}

/// Serves direct calls; one per server, shared by its connections.
pub struct DirectCalls {
    gateway: Arc<Gateway>,
    sessions: Arc<LocalSessionManager>,
    /// Cancels every direct call: the server's drain is over.
    stop: CancellationToken,
    live: RwLock<HashMap<Arc<str>, Arc<SessionCalls>>>,
}

/// Removes a finished call from its session's table, and cancels it if it is still running
/// (the client went away).
struct CallGuard {
    session: Arc<SessionCalls>,
    id: RequestId,
    cancel: CancellationToken,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.cancel.cancel();
        lock(&self.session.calls).remove(&self.id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DirectCalls {
    /// Direct calls for sessions held by `sessions`; `stop` cancels those still running (the
    /// same token ends rmcp's streams once the shutdown drain is over).
    pub fn new(
        gateway: Arc<Gateway>,
        sessions: Arc<LocalSessionManager>,
        stop: CancellationToken,
    ) -> DirectCalls {
        DirectCalls {
            gateway,
            sessions,
            stop,
            live: RwLock::new(HashMap::new()),
        }
    }

    /// Answers the POST if it is a direct call or cancels one; otherwise returns `None` and the
    /// request goes to rmcp.
    pub async fn answer(&self, headers: &HeaderMap, body: &Bytes) -> Option<Response<Body>> {
        let session_id = eligible_session(headers)?;
        let message: ClientJsonRpcMessage = serde_json::from_slice(body).ok()?;
        match message {
            ClientJsonRpcMessage::Request(mut request) => {
                // rmcp moves the request's `_meta` into its extensions as it parses.
                let meta = std::mem::take(request.request.get_meta_mut());
                let ClientRequest::CallToolRequest(call) = request.request else {
                    return None;
                };
                let params = call.params;
                if meta.protocol_version().is_some() {
                    return None;
                }
                let session = self.session(session_id).await?;
                self.touch(session_id, &session);
                Some(self.call(session, request.id, params, meta, headers).await)
            }
            ClientJsonRpcMessage::Notification(notification) => {
                let ClientNotification::CancelledNotification(cancelled) =
                    notification.notification
                else {
                    return None;
                };
                let id = cancelled.params.request_id?;
                let session = self.known_session(session_id)?;
                let cancel = lock(&session.calls).get(&id).cloned()?;
                cancel.cancel();
                Some(accepted())
            }
            _ => None,
        }
    }

    /// Forgets a session the client deleted.
    pub fn forget(&self, headers: &HeaderMap) {
        if let Some(id) = headers
            .get(rmcp::transport::common::http_header::HEADER_SESSION_ID)
            .and_then(|v| v.to_str().ok())
        {
            write(&self.live).remove(id);
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
            // Poked at the first call: the worker's idle clock restarts from there.
            touched: Mutex::new(None),
        });
        Some(
            write(&self.live)
                .entry(Arc::from(id))
                .or_insert(session)
                .clone(),
        )
    }

    /// Pokes the session's rmcp worker when it has not seen traffic for [`TOUCH_EVERY`].
    fn touch(&self, id: &str, session: &SessionCalls) {
        {
            let mut touched = lock(&session.touched);
            if touched.is_some_and(|at| at.elapsed() < TOUCH_EVERY) {
                return;
            }
            *touched = Some(Instant::now());
        }
        let poke = ClientJsonRpcMessage::notification(ClientNotification::CustomNotification(
            CustomNotification::new(KEEP_ALIVE_METHOD, None),
        ));
        let (sessions, id) = (self.sessions.clone(), Arc::from(id));
        tokio::spawn(async move {
            if let Err(error) = sessions.accept_message(&id, poke).await {
                tracing::debug!(%error, "session keep-alive failed");
            }
        });
    }

    async fn call(
        &self,
        session: Arc<SessionCalls>,
        id: RequestId,
        params: rmcp::model::CallToolRequestParams,
        meta: rmcp::model::RequestMetaObject,
        headers: &HeaderMap,
    ) -> Response<Body> {
        let cancel = self.stop.child_token();
        lock(&session.calls).insert(id.clone(), cancel.clone());
        let guard = CallGuard {
            session,
            id: id.clone(),
            cancel: cancel.clone(),
        };
        let gateway = self.gateway.clone();
        let headers = headers.clone();
        // Its own task: a client that goes away drops this future, and the guard then cancels
        // the call, which tells the upstream.
        let mut task = tokio::spawn(async move {
            let context = meta_tools::CallContext {
                cancel: &cancel,
                headers: Some(&headers),
                meta: &meta,
            };
            handler::call_tool(&gateway, params, context).await
        });
        let answer = match tokio::time::timeout(JSON_WINDOW, &mut task).await {
            Ok(joined) => joined,
            Err(_) => return sse_response(task, id, guard),
        };
        drop(guard);
        json_response(encode(answer, id))
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// The session id, when the headers qualify for the direct path.
fn eligible_session(headers: &HeaderMap) -> Option<&str> {
    use rmcp::transport::common::http_header::{
        HEADER_MCP_METHOD, HEADER_MCP_NAME, HEADER_MCP_PROTOCOL_VERSION, HEADER_SESSION_ID,
    };
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

/// `Accept` lists both `application/json` and `text/event-stream`, with no quality weights
/// (weighted lists are left to rmcp's full parser).
fn accepts_json_and_sse(headers: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            return false;
        };
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

/// The JSON-RPC answer to call `id`, serialised.
fn encode(
    answer: Result<Result<CallToolResponse, McpError>, tokio::task::JoinError>,
    id: RequestId,
) -> Bytes {
    let message = match answer {
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
        Err(join) => {
            tracing::error!(error = %join, "tool call task failed");
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

/// A long call's answer: an SSE stream of keep-alive comments, then the answer as one event.
/// Dropping the body (the client went away) drops the guard, which cancels the call.
fn sse_response(
    task: tokio::task::JoinHandle<Result<CallToolResponse, McpError>>,
    id: RequestId,
    guard: CallGuard,
) -> Response<Body> {
    enum State {
        Waiting(
            tokio::task::JoinHandle<Result<CallToolResponse, McpError>>,
            RequestId,
            CallGuard,
        ),
        Done,
    }
    let frames = futures::stream::unfold(State::Waiting(task, id, guard), |state| async move {
        let State::Waiting(mut task, id, guard) = state else {
            return None;
        };
        tokio::select! {
            joined = &mut task => {
                drop(guard);
                let mut event = b"data: ".to_vec();
                event.extend_from_slice(&encode(joined, id));
                event.extend_from_slice(b"\n\n");
                Some((Ok(Frame::data(Bytes::from(event))), State::Done))
            }
            () = tokio::time::sleep(SSE_KEEP_ALIVE) => {
                Some((Ok(Frame::data(Bytes::from_static(b":\n\n"))), State::Waiting(task, id, guard)))
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
    response
}
