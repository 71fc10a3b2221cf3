//! The hot path: answers `tools/call` in the HTTP core itself, without rmcp's per-request
//! service, SSE framing and task hand-offs: on an established session (with
//! `notifications/cancelled` for such calls), and as a stateless 2026-07-28 request. A call
//! answers as one `application/json` body; one that runs past [`JSON_WINDOW`] switches to an SSE
//! stream with keep-alive comments so proxies do not cut it. Anything else, and anything unusual
//! (other methods, batches, per-request metadata on a session, SEP-2243 headers that are not the
//! plain ones, weighted `Accept`, a `Host` the allow-list may not accept), goes to rmcp
//! unchanged, so rmcp answers it, refusals included.
//!
//! Cancellation follows each revision's transport rules. On a session a client that disconnects
//! has not cancelled: its call runs to the end (holding its upstream slot) and the answer is
//! dropped; `notifications/cancelled`, the session's DELETE and the end of the shutdown drain
//! cancel it. A 2026-07-28 client cancels by closing the response stream, so there a hang-up
//! cancels the call.

mod encode;
mod headers;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolRequestParams, ClientJsonRpcMessage, ClientNotification, ClientRequest,
    CustomNotification, GetMeta, InputResponses, ProtocolVersion, RequestId, RequestMetaObject,
};
use rmcp::transport::common::http_header::HEADER_SESSION_ID;
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use self::encode::{Body, Era, Stream, accepted, encode, json_response, sse_response};
use self::headers::Eligible;
use crate::answer::ToolAnswer;
use crate::argument_text::{ArgumentText, CallArguments};
use crate::detach_on_drop::DetachOnDrop;
use crate::fast_hash::FastHash;
use crate::gateway::Gateway;
use crate::ingress::HostAllowList;
use crate::{handler, meta_tools};

/// A call that answers within this time gets a plain JSON body; a longer one an SSE stream.
pub const JSON_WINDOW: Duration = Duration::from_secs(5);
/// rmcp closes a session whose worker saw nothing for `server.session_idle_timeout`; direct
/// calls bypass the worker, so a session that only makes direct calls pokes it at most this
/// often (or a quarter of the idle timeout, when that is shorter).
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// The no-op notification that keeps a session's rmcp worker from idling out.
const KEEP_ALIVE_METHOD: &str = "notifications/mcp-gateway/keepalive";

type CallTask = DetachOnDrop<Result<ToolAnswer, McpError>>;
/// A call's parameters, with the routed tool's arguments as the client wrote them.
type Params = (CallToolRequestParams, Option<ArgumentText>);

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
    /// The server hands out no sessions (`server.stateless`).
    stateless: bool,
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
    /// Direct calls for sessions held by `sessions` (and without sessions, 2026-07-28 ones and,
    /// when the gateway runs `server.stateless`, all), for requests whose `Host` `hosts` accepts;
    /// `stop` cancels those still running (the token that ends rmcp's streams after the drain);
    /// sessions are poked at most every `touch_every` (see [`touch_interval`]).
    pub fn new(
        gateway: Arc<Gateway>,
        sessions: Arc<LocalSessionManager>,
        hosts: HostAllowList,
        stop: CancellationToken,
        touch_every: Duration,
    ) -> DirectCalls {
        // Read once: a reload cannot change it (it needs a restart).
        let stateless = gateway.registry().settings().stateless;
        DirectCalls {
            gateway,
            sessions,
            hosts,
            stop,
            touch_every,
            stateless,
            live: RwLock::new(HashMap::default()),
        }
    }

    /// Answers the POST if it is a direct call or cancels one; otherwise returns `None` and the
    /// request goes to rmcp.
    pub async fn answer(&self, request: &Request<Bytes>) -> Option<Response<Body>> {
        let headers = request.headers();
        let eligible = headers::eligible(headers, self.stateless)?;
        if !self.hosts.allows(request.uri(), headers) {
            return None;
        }
        match (eligible, read_message(request.body())?) {
            (Eligible::Session(session_id), Direct::Call { id, params, meta }) => {
                if meta.protocol_version().is_some() {
                    return None;
                }
                let session = self.session(session_id).await?;
                touch(&self.sessions, session_id, &session);
                let task = self.spawn(session, id.clone(), params, meta, headers);
                Some(self.respond(task, id, session_id).await)
            }
            (Eligible::Session(session_id), Direct::Cancel(id)) => {
                let session = self.known_session(session_id)?;
                if !self.sessions.sessions.read().await.contains_key(session_id) {
                    return None;
                }
                let cancel = lock(&session.calls).get(&id).map(|(_, c)| c.clone())?;
                cancel.cancel();
                Some(accepted())
            }
            (Eligible::Modern(name), Direct::Call { id, params, meta }) => {
                // The body must say what the headers say, with the request metadata the
                // revision requires; rmcp answers anything else, with its refusal.
                let modern = ProtocolVersion::V_2026_07_28;
                if params.0.name != name
                    || meta.protocol_version().as_ref() != Some(&modern)
                    || !meta.missing_required_keys(&modern).is_empty()
                {
                    return None;
                }
                Some(
                    self.answer_alone(id, params, meta, headers, Era::Modern)
                        .await,
                )
            }
            (Eligible::Sessionless, Direct::Call { id, params, meta }) => {
                if meta.protocol_version().is_some() {
                    return None;
                }
                Some(
                    self.answer_alone(id, params, meta, headers, Era::Session)
                        .await,
                )
            }
            (Eligible::Modern(_) | Eligible::Sessionless, Direct::Cancel(_)) => None,
        }
    }

    /// A call without a session, answered in `era`'s shape: run in place, cancelled if the
    /// client goes away before it answers (rmcp's rule without sessions, and 2026-07-28's). Under
    /// `server.stateless` always one JSON body, as rmcp answers there.
    async fn answer_alone(
        &self,
        id: RequestId,
        params: Params,
        meta: RequestMetaObject,
        headers: &HeaderMap,
        era: Era,
    ) -> Response<Body> {
        let cancel = self.stop.child_token();
        let hang_up = cancel.clone().drop_guard();
        let mut task = run(self.gateway.clone(), params, meta, headers, cancel);
        if self.stateless {
            // Without sessions rmcp answers one plain JSON body however long the call takes
            // (`server.stateless` promises plain JSON): no switch to a stream.
            let joined = (&mut task).await;
            hang_up.disarm();
            return json_response(encode(joined, id, era));
        }
        match tokio::time::timeout(JSON_WINDOW, &mut task).await {
            Ok(joined) => {
                hang_up.disarm();
                json_response(encode(joined, id, era))
            }
            Err(_) => {
                let stream = Stream {
                    poke: None::<fn()>,
                    hang_up: Some(hang_up),
                };
                sse_response(task.detach(), id, era, stream)
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
        params: Params,
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
            call(&gateway, params, &meta, &headers, &cancel).await
        })
    }

    /// The call's answer: JSON when it ends within [`JSON_WINDOW`], else an SSE stream.
    async fn respond(&self, mut task: CallTask, id: RequestId, session_id: &str) -> Response<Body> {
        match tokio::time::timeout(JSON_WINDOW, &mut task).await {
            Ok(joined) => json_response(encode(joined, id, Era::Session)),
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
                let stream = Stream {
                    poke,
                    hang_up: None,
                };
                sse_response(task.detach(), id, Era::Session, stream)
            }
        }
    }
}

/// A stateless call, polled in place; detached onto a task of its own if the response future
/// is dropped, where `cancel` (fired by then) ends it.
fn run(
    gateway: Arc<Gateway>,
    params: Params,
    meta: RequestMetaObject,
    headers: &HeaderMap,
    cancel: CancellationToken,
) -> CallTask {
    let headers = headers.clone();
    DetachOnDrop::new(async move { call(&gateway, params, &meta, &headers, &cancel).await })
}

/// One meta-tool call with the request's cancellation, headers and `_meta`.
async fn call(
    gateway: &Arc<Gateway>,
    (params, text): Params,
    meta: &RequestMetaObject,
    headers: &HeaderMap,
    cancel: &CancellationToken,
) -> Result<ToolAnswer, McpError> {
    let context = meta_tools::CallContext {
        cancel,
        headers: Some(headers),
        meta,
        arguments_text: text.as_ref(),
    };
    handler::call_tool(gateway, params, context).await
}

/// A message the direct path answers.
#[allow(clippy::large_enum_variant)] // one per request, taken apart at once: no boxing
enum Direct {
    /// A `tools/call`, its `_meta` taken out of its parameters (as rmcp's parser does).
    Call {
        id: RequestId,
        /// With the routed tool's arguments as the client wrote them, when they may go on so.
        params: Params,
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
    id: IntegerOrString,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    params: Object<IncomingParams<'a>>,
}

/// `CallToolRequestParams`, with no key left unread; the routed tool's arguments also kept as
/// their text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IncomingParams<'a> {
    #[serde(rename = "_meta")]
    meta: Option<RequestMetaObject>,
    name: String,
    #[serde(borrow)]
    arguments: Option<CallArguments<'a>>,
    input_responses: Option<InputResponses>,
    request_state: Option<String>,
}

/// A request id written as an integer or a string. rmcp's `RequestId` also reads `1.0` or
/// `1e2` as the integer, but the gateway's ingress check refuses a float-form id (400 -32600),
/// so such a body goes that way.
struct IntegerOrString(RequestId);

impl<'de> Deserialize<'de> for IntegerOrString {
    fn deserialize<D: serde::Deserializer<'de>>(value: D) -> Result<IntegerOrString, D::Error> {
        value.deserialize_any(IdVisitor)
    }
}

struct IdVisitor;

impl serde::de::Visitor<'_> for IdVisitor {
    type Value = IntegerOrString;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an integer or a string")
    }

    fn visit_i64<E: serde::de::Error>(self, id: i64) -> Result<IntegerOrString, E> {
        Ok(IntegerOrString(RequestId::Number(id)))
    }

    fn visit_u64<E: serde::de::Error>(self, id: u64) -> Result<IntegerOrString, E> {
        i64::try_from(id)
            .map(|id| IntegerOrString(RequestId::Number(id)))
            .map_err(|_| E::custom("request id too large"))
    }

    fn visit_str<E: serde::de::Error>(self, id: &str) -> Result<IntegerOrString, E> {
        Ok(IntegerOrString(RequestId::String(id.into())))
    }
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
fn read_message(body: &Bytes) -> Option<Direct> {
    if let Ok(Object(call)) = serde_json::from_slice::<Object<IncomingCall>>(body)
        && call.jsonrpc == "2.0"
        && call.method == "tools/call"
    {
        let Object(incoming) = call.params;
        let mut params = CallToolRequestParams::new(incoming.name);
        let (arguments, text) = match incoming.arguments {
            Some(read) => (Some(read.object), read.inner_text),
            None => (None, None),
        };
        params.arguments = arguments;
        params.input_responses = incoming.input_responses;
        params.request_state = incoming.request_state;
        return Some(Direct::Call {
            id: call.id.0,
            params: (params, text.map(|raw| ArgumentText::within(body, raw))),
            meta: incoming.meta.unwrap_or_default(),
        });
    }
    // What rmcp's parser reads but the gateway's ingress check refuses is refused there.
    crate::ingress::check_json_rpc(body).ok()?;
    match serde_json::from_slice::<ClientJsonRpcMessage>(body).ok()? {
        ClientJsonRpcMessage::Request(mut call) => {
            // rmcp moves the request's `_meta` into its extensions as it parses.
            let meta = std::mem::take(call.request.get_meta_mut());
            let ClientRequest::CallToolRequest(tool_call) = call.request else {
                return None;
            };
            Some(Direct::Call {
                id: call.id,
                params: (tool_call.params, None),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the direct path makes of `body`.
    fn read(body: &[u8]) -> Option<Direct> {
        read_message(&Bytes::copy_from_slice(body))
    }

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
            r#"{"jsonrpc":"2.0","id":-5,"method":"tools/call","params":{"name":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":"a\"b\u00e9","method":"tools/call","params":{"name":"x"}}"#,
        ] {
            let Some(Direct::Call {
                id,
                params: (params, _),
                meta,
            }) = read(text.as_bytes())
            else {
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
    fn the_routed_arguments_keep_their_text_when_it_may_go_on_as_written() {
        let call = |outer: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"execute_tool","arguments":{outer}}}}}"#
            )
        };
        let inner =
            r#"{ "n": 12345678901234567890123, "x": 0.1000000000000000000001, "s": "café" }"#;
        for (outer, kept) in [
            (
                format!(r#"{{"tool_name":"t","arguments":{inner}}}"#),
                Some(inner),
            ),
            (
                format!(r#"{{"arguments":{inner},"tool_name":"t"}}"#),
                Some(inner),
            ),
            (r#"{"tool_name":"t","arguments":{}}"#.into(), Some("{}")),
            // A repeated key: the upstream might read another value than the one checked.
            (
                r#"{"tool_name":"t","arguments":{"a":1,"a":2}}"#.into(),
                None,
            ),
            (
                r#"{"tool_name":"t","arguments":{"o":[{"a":1,"a":2}]}}"#.into(),
                None,
            ),
            (
                r#"{"tool_name":"t","arguments":{"a":1},"arguments":{"a":2}}"#.into(),
                None,
            ),
            // serde_json's raw-value key: left to rmcp's parser, which reads it as it reads it.
            (
                r#"{"tool_name":"t","arguments":{"x":{"$serde_json::private::RawValue":"\"s\""}}}"#
                    .into(),
                None,
            ),
            // Not an object: checked (and refused or read) by `execute_tool` itself.
            (r#"{"tool_name":"t","arguments":"{\"a\":1}"}"#.into(), None),
            (r#"{"tool_name":"t","arguments":[1]}"#.into(), None),
            (r#"{"tool_name":"t","arguments":null}"#.into(), None),
            (r#"{"tool_name":"t"}"#.into(), None),
        ] {
            let text = call(&outer);
            let Some(Direct::Call {
                params: (params, arguments_text),
                ..
            }) = read(text.as_bytes())
            else {
                panic!("not read as a call: {text}");
            };
            assert_eq!(
                arguments_text.as_ref().map(ArgumentText::as_bytes),
                kept.map(str::as_bytes),
                "{text}"
            );
            // The parsed arguments are still what rmcp's parser makes of them.
            assert_eq!(Some(params), as_rmcp(&text).map(|(_, p, _)| p), "{text}");
        }
    }

    #[test]
    fn the_routed_arguments_nest_as_deep_as_rmcps_parser_allows() {
        let nested = |depth: usize| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"execute_tool","arguments":{{"tool_name":"t","arguments":{{"d":{}{}}}}}}}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        let deepest = (100..130)
            .filter(|&depth| as_rmcp(&nested(depth)).is_some())
            .max();
        assert!(deepest.is_some_and(|depth| depth < 129), "rmcp has a limit");
        // The one-pass read (the only one that keeps the text) takes what rmcp's parser takes.
        for depth in 100..130 {
            let text = nested(depth);
            let kept = matches!(
                read(text.as_bytes()),
                Some(Direct::Call {
                    params: (_, Some(_)),
                    ..
                })
            );
            assert_eq!(kept, as_rmcp(&text).is_some(), "at depth {depth}");
        }
    }

    #[test]
    fn anything_else_is_left_to_rmcps_parser() {
        let cancel =
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":4}}"#;
        assert!(matches!(
            read(cancel.as_bytes()),
            Some(Direct::Cancel(RequestId::Number(4)))
        ));
        for text in [
            r#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"x"}}"#,
            // Float-form ids: rmcp reads them as integers, the gateway's ingress refuses them.
            r#"{"jsonrpc":"2.0","id":1.0,"method":"tools/call","params":{"name":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":1e2,"method":"tools/call","params":{"name":"x"}}"#,
            r#"{"params":{"name":"x"},"method":"tools/call","id":2.0,"jsonrpc":"2.0","extra":1}"#,
            r#"{"jsonrpc":"2.0","id":9223372036854775808,"method":"tools/call","params":{"name":"x"}}"#,
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
                read(text.as_bytes()).is_none(),
                "taken by the direct path: {text}"
            );
        }
        let mut invalid_utf8 =
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"},"s":""#
                .to_vec();
        invalid_utf8.extend_from_slice(b"\xff\"}");
        assert!(read(&invalid_utf8).is_none());
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x"}},"d":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(read(deep.as_bytes()).is_none());
        let shallow = deep
            .replace(&"[".repeat(200), &"[".repeat(100))
            .replace(&"]".repeat(200), &"]".repeat(100));
        assert!(as_rmcp(&shallow).is_some(), "rmcp takes 100 levels");
        assert!(read(shallow.as_bytes()).is_some());
        // The same depths inside the arguments, which the one-pass read checks itself.
        let nested = |depth: usize| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x","arguments":{{"d":{}{}}}}}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        assert!(read(nested(200).as_bytes()).is_none());
        assert!(as_rmcp(&nested(123)).is_some());
        assert!(matches!(
            read(nested(123).as_bytes()),
            Some(Direct::Call { params: (params, _), .. }) if Some(&params) == as_rmcp(&nested(123)).map(|(_, p, _)| p).as_ref()
        ));
        // rmcp's parser takes 124 levels there (its buffering's depth limit), and so do we.
        assert!(as_rmcp(&nested(124)).is_some() && read(nested(124).as_bytes()).is_some());
        assert!(as_rmcp(&nested(125)).is_none(), "rmcp's depth limit");
        assert!(read(nested(125).as_bytes()).is_none());
    }
}
