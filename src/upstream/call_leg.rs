//! `tools/call` to a streamable HTTP upstream, posted by the gateway's own HTTP client on the
//! session rmcp negotiated. rmcp's client would carry each call through its service loop, its
//! transport worker and a task per response stream (about 200 µs of CPU and five task
//! hand-offs per call on the bench machine); here the calling task posts, reads the JSON or SSE
//! answer and returns it, as rmcp would have parsed it.
//!
//! What rmcp's path does on the way is done here too: the request carries the same headers
//! (session, protocol version, token, SEP-2243 `Mcp-Method`/`Mcp-Name`) and the same `_meta`
//! (a progress token; on 2026-07-28 sessions the protocol version, client info and
//! capabilities); a server request on the stream (ping, sampling, roots, elicitation) is
//! answered by the session's own client handler; `tools/list_changed` on the stream is
//! reported; a stream that ends early is resumed from its last event id; a cancelled call is
//! cancelled upstream (`notifications/cancelled`, or closing the stream on sessionless
//! 2026-07-28 sessions). HTTP failures are read as rmcp's client reads them: a JSON-RPC error in
//! a JSON body is the upstream's answer (never on 401/403), any other failure drops the session
//! — except a rate limit (429), which is passed on with its `Retry-After` and keeps it.
//!
//! A call rmcp must post itself is left to it: a tool whose arguments become `Mcp-Param-*`
//! headers, a name that would need Base64 in a header, and a call the upstream refused because
//! its session expired (rmcp re-initialises and posts it again; the upstream never ran it).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use memchr::memmem;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, CancelledNotification, CancelledNotificationParam,
    ClientJsonRpcMessage, ClientNotification, ErrorData, JsonObject, ProtocolVersion, RequestId,
    RequestMetaObject, ServerJsonRpcMessage, ServerNotification, ServerRequest, ServerResult,
};
use rmcp::service::RequestContext;
use rmcp::{Peer, RoleClient, Service};
use serde_json::value::RawValue;

use super::client::UpstreamClient;
use super::http_post::{self, Envelope, EventBytes, ReadError, Target};
use super::leg_http::{LegHttp, LegResponse};
use super::session::{SessionCell, SessionHeaders};
use crate::argument_text::ArgumentText;

/// Resumptions in a row (GET with `Last-Event-ID`) that bring no new event before the call
/// counts as lost. A resumption that brings one starts the count again: a server may close a
/// long call's stream any number of times (SSE polling), bounded by the call's timeout.
const MAX_RESUMES: u32 = 3;
/// Wait before resuming when the upstream set no `retry:` (rmcp's client waits about as long).
const RESUME_DELAY: Duration = Duration::from_millis(500);
/// Shortest wait before resuming, whatever `retry:` says (no GET storm on `retry: 0`).
const MIN_RESUME_DELAY: Duration = Duration::from_millis(100);
/// Bytes of a 429's body read so that its connection can be pooled again; a longer one closes it.
const RATE_LIMIT_BODY_LIMIT: usize = 64 * 1024;
/// How long the gateway's answer to a server request, or its cancellation, may take.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// SEP-2243's method header.
const METHOD_HEADER: HeaderName = HeaderName::from_static("mcp-method");
/// SEP-2243's name header.
const NAME_HEADER: HeaderName = HeaderName::from_static("mcp-name");

/// The upstream's answer to a call: its result (a tool result with the JSON text it was read
/// from, which the gateway can send on as it came), or the JSON-RPC error it returned.
pub(super) type Answer = Result<super::Reply, ErrorData>;

/// A call that produced no answer.
#[derive(Debug)]
pub(super) enum LegFailure {
    /// The upstream refused the call because its session expired; it did not run it.
    NotTaken,
    /// The connection failed or the stream ended for good without an answer.
    Lost(String),
    /// The upstream answered with an HTTP error and no JSON-RPC error.
    Refused(String),
    /// The answer (or one event of its stream) passed `limit` bytes.
    TooLarge {
        /// Bytes received when reading stopped.
        bytes: usize,
    },
}

/// The call leg of one HTTP connection: its HTTP client, the session rmcp negotiated (as its
/// posts carried it) and its client handler.
pub(crate) struct CallLeg {
    /// The client of calls made off the connection workers.
    client: LegHttp,
    /// One client per connection worker, built alike with the leg: a pooled upstream
    /// connection is served by the runtime that opened it, so a worker's calls keep to its own
    /// (`connection_workers.rs`). Calls from elsewhere use `client`.
    clients: Box<[LegHttp]>,
    /// The runtime the session was opened on: control messages go from there, so they outlive
    /// the connection worker that asked for them.
    home: Option<tokio::runtime::Handle>,
    session: SessionCell,
    handler: UpstreamClient,
    /// The `_meta` entries rmcp's peer stamps on every request of a 2026-07-28 session
    /// (protocol version, client info, capabilities), serialised once for the version first
    /// negotiated.
    modern_stamp: OnceLock<(ProtocolVersion, Stamp)>,
    /// Set once the upstream answered hyper's client with a 307 or 308 redirect: from then on
    /// reqwest posts, following redirects as rmcp's transport does.
    redirected: AtomicBool,
    next_id: AtomicU64,
    /// Largest answer (or answer event) read, as rmcp's transport is configured.
    limit: usize,
}

/// A call ready to post: its id, its body and its headers.
pub(super) struct Prepared {
    id: RequestId,
    body: Bytes,
    session: std::sync::Arc<SessionHeaders>,
    /// SEP-2243 headers and the forwarded ones.
    headers: HeaderMap,
    /// Cancelled with `notifications/cancelled` (else by dropping the stream).
    cancel_by_message: bool,
}

/// A call's parameters, and the text of their arguments as the client wrote them, when that
/// text is to be posted in place of the parsed arguments.
pub(super) type CallParams<'a> = (&'a mut CallToolRequestParams, Option<&'a ArgumentText>);

/// `_meta` entries serialised once: their keys, and their text as the inside of a JSON object
/// (`"k":v,"k":v`, empty when there are none).
struct Stamp {
    keys: Vec<String>,
    text: String,
}

impl Stamp {
    fn new(entries: &JsonObject) -> Option<Stamp> {
        let object = serde_json::to_string(entries).ok()?;
        let text = object.strip_prefix('{')?.strip_suffix('}')?.to_string();
        Some(Stamp {
            keys: entries.keys().cloned().collect(),
            text,
        })
    }

    /// No entries.
    fn empty() -> Stamp {
        Stamp {
            keys: Vec::new(),
            text: String::new(),
        }
    }
}

/// The JSON-RPC text of a `tools/call` with id `id`: `params` with, in its `_meta`, `stamp`'s
/// entries (which win over the same keys in `params`) and the id as progress token, as rmcp's
/// peer stamps them. The stamp goes in as text, so its values are neither copied nor
/// serialised again on every call; so does `arguments_text`, when given, in place of
/// `params`' arguments.
fn request_body(
    id: &RequestId,
    (params, arguments_text): CallParams<'_>,
    stamp: &Stamp,
) -> Option<Vec<u8>> {
    const PROGRESS: &str = "progressToken";
    let meta = params.meta.take();
    let arguments = arguments_text.and_then(|_| params.arguments.take());
    let rest = serde_json::to_vec(&*params);
    params.meta = meta;
    if arguments.is_some() {
        params.arguments = arguments;
    }
    let rest = rest.ok()?;
    let arguments_text = arguments_text.map_or(&[][..], ArgumentText::as_bytes);
    let id = serde_json::to_string(id).ok()?;
    let mut body = Vec::with_capacity(
        rest.len() + arguments_text.len() + stamp.text.len() + 2 * id.len() + 96,
    );
    body.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    body.extend_from_slice(id.as_bytes());
    body.extend_from_slice(br#","method":"tools/call","params":{"_meta":{"#);
    body.extend_from_slice(stamp.text.as_bytes());
    let mut first = stamp.text.is_empty();
    let own = params.meta.as_ref().map(|meta| &meta.0.0);
    for (key, value) in own.into_iter().flatten() {
        if key == PROGRESS || stamp.keys.iter().any(|stamped| stamped == key) {
            continue;
        }
        if !std::mem::take(&mut first) {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, key).ok()?;
        body.push(b':');
        serde_json::to_writer(&mut body, value).ok()?;
    }
    if !first {
        body.push(b',');
    }
    body.extend_from_slice(br#""progressToken":"#);
    body.extend_from_slice(id.as_bytes());
    body.push(b'}');
    // `rest` is the other parameters' object: `{}` or `{"name":…}`.
    let inner = rest.get(1..rest.len().checked_sub(1)?)?;
    if !inner.is_empty() {
        body.push(b',');
        body.extend_from_slice(inner);
    }
    if !arguments_text.is_empty() {
        body.extend_from_slice(br#","arguments":"#);
        body.extend_from_slice(arguments_text);
    }
    body.extend_from_slice(b"}}");
    Some(body)
}

impl CallLeg {
    /// The leg of a connection whose HTTP client records its session into `session`.
    /// `per_worker`: one client per connection worker, built alike.
    pub(super) fn new(
        client: LegHttp,
        per_worker: Vec<LegHttp>,
        session: SessionCell,
        handler: UpstreamClient,
        limit: usize,
    ) -> CallLeg {
        CallLeg {
            client,
            clients: per_worker.into_boxed_slice(),
            home: tokio::runtime::Handle::try_current().ok(),
            session,
            handler,
            modern_stamp: OnceLock::new(),
            redirected: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            limit,
        }
    }

    /// The calling connection worker's HTTP client, else the shared one.
    fn client(&self) -> &LegHttp {
        crate::connection_workers::current_worker()
            .and_then(|index| self.clients.get(index))
            .unwrap_or(&self.client)
    }

    /// The call as this leg would post it, or `None` when rmcp must post it: no negotiated
    /// session seen yet, a tool `annotated` for `Mcp-Param-*` headers, or a name no header can
    /// carry bare. `forwarded` are the caller's headers (and the trace context) for this call.
    /// The body carries the `_meta` rmcp's peer would stamp; `params` itself is left as it was
    /// (rmcp stamps its own if it posts the call after all).
    pub(super) fn prepare(
        &self,
        peer: &Peer<RoleClient>,
        call: CallParams<'_>,
        forwarded: HeaderMap,
        annotated: &HashSet<Box<str>>,
    ) -> Option<Prepared> {
        let session = self.session.current()?;
        let version = peer.peer_info()?.protocol_version.clone();
        let modern = !version.has_initialize();
        let mut headers = forwarded;
        if modern {
            let name = HeaderValue::from_str(&call.0.name)
                .ok()
                .filter(|_| header_safe(&call.0.name))?;
            if annotated.contains(call.0.name.as_ref()) {
                return None;
            }
            headers.insert(METHOD_HEADER, HeaderValue::from_static("tools/call"));
            headers.insert(NAME_HEADER, name);
        }
        let id = format!("gw-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let id = RequestId::String(id.into());
        // What rmcp's peer stamps on every request: a progress token and, on sessions without
        // `initialize`, the protocol version, client info and capabilities.
        let body = if modern {
            let (stamped, stamp) = self.modern_stamp.get_or_init(|| {
                let stamp = Stamp::new(&self.stamp_for(version.clone()));
                (version.clone(), stamp.unwrap_or_else(Stamp::empty))
            });
            if *stamped == version && !stamp.keys.is_empty() {
                request_body(&id, call, stamp)?
            } else {
                request_body(&id, call, &Stamp::new(&self.stamp_for(version))?)?
            }
        } else {
            request_body(&id, call, &Stamp::empty())?
        };
        let body = Bytes::from(body);
        // rmcp cancels by dropping the stream on sessionless 2026-07-28 sessions only.
        let cancel_by_message = !modern || session.target().session_id.is_some();
        Some(Prepared {
            id,
            body,
            session,
            headers,
            cancel_by_message,
        })
    }

    /// The `_meta` entries rmcp's peer stamps on a request of a 2026-07-28 session: the
    /// protocol version, client info and capabilities, written by rmcp's own setters.
    fn stamp_for(&self, version: ProtocolVersion) -> JsonObject {
        let info = self.handler.info();
        let mut meta = RequestMetaObject::default();
        meta.set_protocol_version(version);
        meta.set_client_info(info.client_info.clone());
        meta.set_client_capabilities(info.capabilities.clone());
        meta.0.0
    }

    /// Sends the request `build` makes. hyper's client posts until the upstream answers a
    /// request with a 307 or 308 redirect (which keeps the method and body, and means the
    /// upstream ran nothing); that request is then sent again by reqwest, which follows it as
    /// rmcp's transport does, and so is every later one. Any other answer, another 3xx
    /// included (a 303 says the request was processed), is returned as it came.
    ///
    /// hyper-util's client gets the session's `Host` header made once (`host`), so it does not
    /// format the same one for every request; reqwest writes its own on each hop, as a redirect
    /// to another host needs.
    async fn send(
        &self,
        host: Option<&HeaderValue>,
        build: impl Fn() -> Result<http::Request<Bytes>, String>,
    ) -> Result<LegResponse, String> {
        let client = self.client();
        let plain = client.has_plain() && !self.redirected.load(Ordering::Relaxed);
        // Made and moved in one expression: a named request would be kept in the future too.
        let host = host.filter(|_| plain);
        let response = client.send(with_host(build()?, host), plain).await?;
        if !(plain && redirects_as_sent(&response)) {
            return Ok(response);
        }
        if !self.redirected.swap(true, Ordering::Relaxed) {
            tracing::info!(
                domain = %self.handler.domain(),
                status = %response.status(),
                "the upstream redirects the gateway's calls: they follow it from now on"
            );
        }
        drop(response);
        client.send(build()?, false).await
    }

    /// Posts the call and reads its answer. Dropping the future abandons the call: use
    /// [`CallLeg::cancel`] to tell the upstream.
    pub(super) async fn call(
        &self,
        call: &Prepared,
        peer: &Peer<RoleClient>,
    ) -> Result<Answer, LegFailure> {
        let target = call.session.target();
        let response = self
            .send(target.host, || {
                target.post(call.body.clone(), &call.headers)
            })
            .await
            .map_err(LegFailure::Lost)?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND && target.session_id.is_some() {
            return Err(LegFailure::NotTaken);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            // A rate limit is not an outage: the session and the upstream's health stay, and
            // so does the connection (its short body is read off the call's path).
            let after = http_post::retry_after(response.headers());
            let body = http_post::counted(
                response.into_stream(),
                RATE_LIMIT_BODY_LIMIT,
                EventBytes::default(),
            );
            http_post::finish_reading(Box::pin(body));
            return Err(LegFailure::Refused(rate_limited(after.as_deref())));
        }
        if status == StatusCode::ACCEPTED || status == StatusCode::NO_CONTENT {
            return Err(LegFailure::Refused(format!(
                "the upstream accepted the call without answering it ({})",
                http_error(status)
            )));
        }
        let auth_failure = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
        let media = http_post::media_type(response.headers());
        // As rmcp's client: a JSON body carries the answer, or on a failure status a JSON-RPC
        // error (never on 401/403); any other failure drops the session.
        if media == "application/json" && !auth_failure {
            let body = match http_post::read_bounded(response.into_stream(), self.limit).await {
                Ok(body) => body,
                Err(ReadError::TooLarge(bytes)) => return Err(LegFailure::TooLarge { bytes }),
                Err(ReadError::Failed(error)) => {
                    return Err(LegFailure::Lost(format!(
                        "reading the answer failed: {error}"
                    )));
                }
            };
            let text = std::str::from_utf8(&body)
                .map_err(|_| LegFailure::Lost("the upstream's answer is not UTF-8".into()))?;
            return match classify(text, &call.id) {
                // A failure status carries an error, never a result (as rmcp reads it).
                Message::Answer(Ok(_)) if !status.is_success() => {
                    Err(LegFailure::Lost(http_error(status)))
                }
                Message::Answer(answer) => Ok(answer),
                Message::Invalid(reason) => Err(LegFailure::Lost(reason)),
                _ if status.is_success() => Err(LegFailure::Lost(
                    "the upstream's answer is not a JSON-RPC answer to the call".into(),
                )),
                _ => Err(LegFailure::Lost(http_error(status))),
            };
        }
        if !status.is_success() {
            return Err(LegFailure::Lost(http_error(status)));
        }
        if media != "text/event-stream" {
            return Err(LegFailure::Lost(format!(
                "the upstream answered with content type {media:?}"
            )));
        }
        // Boxed: an SSE stream's reading state is large, and a JSON answer needs none of it.
        let counter = EventBytes::default();
        let events = Box::pin(http_post::sse_events(
            response.into_stream(),
            self.limit,
            counter.clone(),
        ));
        Box::pin(self.read_stream(events, counter, call, target, peer)).await
    }

    /// Reads the call's SSE stream to its answer, answering server requests on the way and
    /// resuming a stream that ends early. Only the stream, its bookkeeping and a boxed step are
    /// kept across its waits, so its state stays a small allocation (a large one makes glibc
    /// consolidate its free lists on every call).
    async fn read_stream(
        &self,
        mut events: std::pin::Pin<Box<EventStream>>,
        counter: EventBytes,
        call: &Prepared,
        target: Target<'_>,
        peer: &Peer<RoleClient>,
    ) -> Result<Answer, LegFailure> {
        let mut stream = StreamState {
            last_event: None,
            delay: RESUME_DELAY,
            resumes: 0,
            seen_events: HashSet::new(),
            answered: HashSet::new(),
        };
        loop {
            let step = match events.next().await {
                Some(Ok(event)) => {
                    counter.reset();
                    self.on_event(event, &mut stream, call, target, peer)
                }
                Some(Err(_)) if counter.count() > self.limit => {
                    return Err(LegFailure::TooLarge {
                        bytes: counter.count(),
                    });
                }
                Some(Err(error)) => Step::Ended(format!("the call's stream broke: {error}")),
                None => {
                    Step::Ended("the upstream ended the call's stream without answering".into())
                }
            };
            // Taken apart before any wait.
            let waiting = match step {
                Step::Answered(answer) => {
                    http_post::finish_reading(events);
                    return answer;
                }
                Step::Next => continue,
                Step::Answer(answering) => Ok(answering),
                Step::Ended(reason) => Err(reason),
            };
            match waiting {
                Ok(answering) => answering.await,
                // The stream broke or ended without the answer: resume after the last event,
                // as rmcp's client does, when the upstream numbered its events.
                Err(reason) => {
                    events =
                        Box::pin(self.resume(reason, &mut stream, &counter, &call.headers, target))
                            .await?;
                    counter.reset();
                }
            }
        }
    }

    /// What one event of a call's stream means for the call (no waiting here: a server request
    /// to answer comes back as a boxed future).
    fn on_event<'a>(
        &'a self,
        event: sse_stream_03::Sse,
        stream: &mut StreamState,
        call: &Prepared,
        target: Target<'a>,
        peer: &'a Peer<RoleClient>,
    ) -> Step<'a> {
        match &event.id {
            // An empty id clears the last event id (the SSE standard): nothing to resume from.
            Some(id) if id.is_empty() => stream.last_event = None,
            Some(id) => {
                if !stream.seen_events.contains(id) {
                    stream.seen_events.insert(id.clone());
                    stream.resumes = 0; // progress: the count of fruitless resumptions starts again
                }
                stream.last_event = Some(id.clone());
            }
            None => {}
        }
        if let Some(retry) = event.retry {
            // Honoured as asked (at least a moment); the call's timeout bounds every wait.
            stream.delay = Duration::from_millis(retry).max(MIN_RESUME_DELAY);
        }
        if !http_post::is_message(&event) {
            return Step::Next; // an event of another type: not JSON-RPC
        }
        let Some(data) = event.data.filter(|data| !data.trim().is_empty()) else {
            return Step::Next; // a priming or keep-alive event
        };
        match classify(&data, &call.id) {
            Message::Answer(answer) => Step::Answered(Ok(answer)),
            Message::Invalid(reason) => Step::Answered(Err(LegFailure::Lost(reason))),
            Message::Request(request, id) if stream.answered.insert(id.clone()) => {
                Step::Answer(Box::pin(self.answer_request(request, id, target, peer)))
            }
            Message::Request(..) => Step::Next, // replayed: answered already
            Message::Notification(ServerNotification::ToolListChangedNotification(_)) => {
                self.handler.tools_changed();
                Step::Next
            }
            // Progress and logging: the gateway asked for neither.
            Message::Notification(_) => Step::Next,
            Message::Other(what) => {
                tracing::debug!("{what} on a call's stream");
                Step::Next
            }
        }
    }

    /// Resumes a call's stream whose reading ended for `reason`, after its last event once
    /// its delay has passed: the resumed SSE stream, or why the call is lost.
    async fn resume(
        &self,
        mut reason: String,
        stream: &mut StreamState,
        counter: &EventBytes,
        call_headers: &HeaderMap,
        target: Target<'_>,
    ) -> Result<std::pin::Pin<Box<EventStream>>, LegFailure> {
        if stream.resumes > 0 {
            let resumes = stream.resumes;
            reason.push_str(&format!(" ({resumes} resumptions brought nothing new)"));
        }
        let Some(last) = stream
            .last_event
            .as_deref()
            .filter(|_| stream.resumes < MAX_RESUMES)
        else {
            return Err(LegFailure::Lost(reason));
        };
        stream.resumes += 1;
        tokio::time::sleep(stream.delay).await;
        let mut headers = call_headers.clone();
        headers.remove(&METHOD_HEADER);
        headers.remove(&NAME_HEADER);
        let resumed = self
            .send(target.host, || target.resume(last, &headers))
            .await
            .map_err(LegFailure::Lost)?;
        if resumed.status() != StatusCode::OK
            || http_post::media_type(resumed.headers()) != "text/event-stream"
        {
            return Err(LegFailure::Lost(format!(
                "{reason}, and resuming it failed ({})",
                http_error(resumed.status())
            )));
        }
        Ok(Box::pin(http_post::sse_events(
            resumed.into_stream(),
            self.limit,
            counter.clone(),
        )))
    }

    /// Answers a server request with the session's client handler (as rmcp's service would)
    /// and posts the answer.
    async fn answer_request(
        &self,
        request: ServerRequest,
        id: RequestId,
        target: Target<'_>,
        peer: &Peer<RoleClient>,
    ) {
        let context = RequestContext::new(id.clone(), peer.clone());
        let message = match self.handler.handle_request(request, context).await {
            Ok(result) => ClientJsonRpcMessage::response(result, id),
            Err(error) => ClientJsonRpcMessage::error(error, Some(id)),
        };
        self.post_control(&message, target).await;
    }

    /// Tells the upstream the call was abandoned: `notifications/cancelled` (from a task of its
    /// own), except on sessionless 2026-07-28 sessions, where dropping the stream says it.
    pub(super) fn cancel(self: &std::sync::Arc<Self>, call: &Prepared, reason: &str) {
        if !call.cancel_by_message {
            return;
        }
        let cancelled = ClientJsonRpcMessage::notification(
            ClientNotification::CancelledNotification(CancelledNotification::new(
                CancelledNotificationParam::new(Some(call.id.clone()), Some(reason.into())),
            )),
        );
        let (leg, session) = (self.clone(), call.session.clone());
        let post = async move {
            leg.post_control(&cancelled, session.target()).await;
        };
        match &self.home {
            Some(home) => drop(home.spawn(post)),
            None => drop(tokio::spawn(post)),
        }
    }

    /// Posts a response or notification of the gateway's own, bounded in time.
    async fn post_control(&self, message: &ClientJsonRpcMessage, target: Target<'_>) {
        let Ok(body) = serde_json::to_vec(message) else {
            return;
        };
        let body = Bytes::from(body);
        let sent = self.send(target.host, || target.post(body.clone(), &HeaderMap::new()));
        match tokio::time::timeout(CONTROL_TIMEOUT, sent).await {
            Ok(Ok(response)) if response.status().is_success() => {}
            Ok(Ok(response)) => {
                tracing::debug!(status = %response.status(), "the upstream refused a control message");
            }
            Ok(Err(error)) => tracing::debug!(%error, "a control message failed"),
            Err(_) => tracing::debug!("a control message timed out"),
        }
    }
}

/// `request` with `host` as its `Host` header, unless it names one already.
pub(super) fn with_host(
    mut request: http::Request<Bytes>,
    host: Option<&HeaderValue>,
) -> http::Request<Bytes> {
    if let Some(host) = host {
        request
            .headers_mut()
            .entry(http::header::HOST)
            .or_insert_with(|| host.clone());
    }
    request
}

/// A redirect that repeats the request as it was sent, to where `Location` says: 307 or 308.
fn redirects_as_sent(response: &LegResponse) -> bool {
    matches!(
        response.status(),
        StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
    ) && response.headers().contains_key(http::header::LOCATION)
}

/// Whether a tool name travels bare in `Mcp-Name` (rmcp would Base64-wrap anything else).
fn header_safe(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && !name.starts_with(' ')
        && !name.ends_with(' ')
        && !name.starts_with("=?base64?")
}

/// The SSE stream of a call's answer.
type EventStream =
    dyn futures::Stream<Item = Result<sse_stream_03::Sse, sse_stream_03::Error>> + Send;

/// What reading a call's stream keeps between events.
struct StreamState {
    /// The last event id seen (where a resumption starts).
    last_event: Option<String>,
    /// Wait before resuming (the upstream's `retry:`, or the default).
    delay: Duration,
    /// Resumptions in a row that brought no new event.
    resumes: u32,
    /// Event ids seen in this call: a server that replays more than asked does not reset the
    /// count of fruitless resumptions.
    seen_events: HashSet<String>,
    /// Server requests answered in this call: a replayed one is not answered twice.
    answered: HashSet<RequestId>,
}

/// What to do after one event of a call's stream. Made and taken apart at once, never kept
/// across a wait: boxing its large variant would add an allocation to every call.
#[allow(clippy::large_enum_variant)]
enum Step<'a> {
    /// The call is over: its answer, or why it has none.
    Answered(Result<Answer, LegFailure>),
    /// Read the next event.
    Next,
    /// Answer a server request, then read on.
    Answer(futures::future::BoxFuture<'a, ()>),
    /// The stream broke or ended without the answer (why): resume it if it can be.
    Ended(String),
}

/// One message of the call's answer, sorted by what the call does with it.
enum Message {
    /// The answer to the call.
    Answer(Answer),
    /// The answer to the call, but not a valid one.
    Invalid(String),
    /// A server request to answer.
    Request(ServerRequest, RequestId),
    /// A server notification.
    Notification(ServerNotification),
    /// Anything else (an answer to another request, unreadable text), described.
    Other(&'static str),
}

/// Sorts the JSON-RPC message `text` for the call `id`. An error without an id counts as the
/// call's: the stream or body answers this one request.
fn classify(text: &str, id: &RequestId) -> Message {
    let Ok(envelope) = serde_json::from_str::<Envelope>(text) else {
        return Message::Other("an unreadable message");
    };
    if envelope.method.is_some() {
        return match serde_json::from_str::<ServerJsonRpcMessage>(text) {
            Ok(ServerJsonRpcMessage::Request(request)) => {
                Message::Request(request.request, request.id)
            }
            Ok(ServerJsonRpcMessage::Notification(notification)) => {
                Message::Notification(notification.notification)
            }
            _ => Message::Other("an unreadable request or notification"),
        };
    }
    let ours = envelope.id.as_ref().is_none_or(|answered| answered == id);
    match (envelope.result, envelope.error) {
        (Some(result), None) if envelope.id.as_ref() == Some(id) => match tool_result(result) {
            Ok(answer) => Message::Answer(Ok(answer)),
            Err(error) => Message::Invalid(format!("the upstream's result is not valid: {error}")),
        },
        (None, Some(error)) if ours => match serde_json::from_str::<ErrorData>(error.get()) {
            Ok(error) => Message::Answer(Err(error)),
            Err(error) => Message::Invalid(format!("the upstream's error is not valid: {error}")),
        },
        _ => Message::Other("an answer to another request"),
    }
}

/// A `tools/call` result, parsed as one (rmcp's untagged `ServerResult` would buffer it and
/// try a dozen other result types first), with its text. Results that may be something else (a
/// task, input required) take rmcp's way, so they come out as rmcp would read them.
fn tool_result(result: &RawValue) -> Result<super::Reply, serde_json::Error> {
    let text = result.get();
    // memchr's memmem: `str::contains` took 40k instructions on a 64 KiB result, this ~0.
    static TASK: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\"task\""));
    if TASK.find(text.as_bytes()).is_none()
        && let Ok(parsed) = serde_json::from_str::<CallToolResult>(text)
    {
        return Ok((
            ServerResult::CallToolResult(parsed),
            Some(result.to_owned()),
        ));
    }
    Ok((serde_json::from_str(text)?, None))
}

/// Why a call failed on an HTTP 429, with the upstream's `Retry-After`.
pub(super) fn rate_limited(retry_after: Option<&str>) -> String {
    let wait = retry_after
        .map(|after| format!(", retry after {after}"))
        .unwrap_or_default();
    format!("the upstream is rate limiting calls (HTTP 429{wait})")
}

fn http_error(status: StatusCode) -> String {
    format!("the upstream answered HTTP {status}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_header_is_added_only_where_none_is() {
        let ours = HeaderValue::from_static("127.0.0.1:8080");
        let bare = http::Request::new(Bytes::new());
        let added = with_host(bare, Some(&ours));
        assert_eq!(
            added.headers().get_all(http::header::HOST).iter().count(),
            1
        );
        assert_eq!(added.headers().get(http::header::HOST), Some(&ours));
        let mut named = http::Request::new(Bytes::new());
        named.headers_mut().insert(
            http::header::HOST,
            HeaderValue::from_static("crm.example.com"),
        );
        let kept = with_host(named, Some(&ours));
        let hosts: Vec<_> = kept.headers().get_all(http::header::HOST).iter().collect();
        assert_eq!(hosts, [HeaderValue::from_static("crm.example.com")]);
        let none = with_host(http::Request::new(Bytes::new()), None);
        assert!(none.headers().get(http::header::HOST).is_none());
    }

    #[test]
    fn names_that_need_base64_are_left_to_rmcp() {
        assert!(header_safe("get_weather"));
        assert!(header_safe("crm.search-v2"));
        assert!(!header_safe(" padded"));
        assert!(!header_safe("météo"));
        assert!(!header_safe("=?base64?abc?="));
        assert!(!header_safe("tab\tname"));
        assert!(!header_safe(""));
    }

    #[test]
    fn messages_are_sorted_for_the_call() {
        let id = RequestId::String("gw-3".into());
        let ok =
            r#"{"jsonrpc":"2.0","id":"gw-3","result":{"content":[{"type":"text","text":"hi"}]}}"#;
        assert!(matches!(
            classify(ok, &id),
            Message::Answer(Ok((ServerResult::CallToolResult(r), Some(text))))
                if r.content.len() == 1 && text.get() == r#"{"content":[{"type":"text","text":"hi"}]}"#
        ));
        let other = r#"{"jsonrpc":"2.0","id":3,"result":{"content":[]}}"#;
        assert!(
            matches!(classify(other, &id), Message::Other(_)),
            "a number is not the string id"
        );
        let error = r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"bad"}}"#;
        assert!(matches!(classify(error, &id), Message::Answer(Err(e)) if e.code.0 == -32602));
        assert!(matches!(classify("not json", &id), Message::Other(_)));
        let ping = r#"{"jsonrpc":"2.0","id":0,"method":"ping"}"#;
        assert!(matches!(
            classify(ping, &id),
            Message::Request(ServerRequest::PingRequest(_), RequestId::Number(0))
        ));
        let changed = r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;
        assert!(matches!(
            classify(changed, &id),
            Message::Notification(ServerNotification::ToolListChangedNotification(_))
        ));
        let broken = r#"{"jsonrpc":"2.0","id":"gw-3","result":{"content":"not a list"}}"#;
        assert!(
            !matches!(
                classify(broken, &id),
                Message::Answer(Ok((ServerResult::CallToolResult(_), _)))
            ),
            "a malformed result is not taken for a tool result"
        );
    }

    #[test]
    fn the_body_is_the_request_with_the_stamp_and_progress_token_in_its_meta() {
        use serde_json::{Value, json};
        let as_object = |value: Value| match value {
            Value::Object(object) => object,
            _ => JsonObject::new(),
        };
        let stamp_entries = as_object(json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "mcp-gateway", "version": "1 \"q\""},
            "io.modelcontextprotocol/clientCapabilities": {},
        }));
        let modern = Stamp::new(&stamp_entries);
        let legacy = Stamp::empty();
        let mut bare = CallToolRequestParams::new("echo");
        let mut full = CallToolRequestParams::new("météo").with_arguments(as_object(
            json!({"message": "über \"x\"", "n": [1, 2.5, null]}),
        ));
        full.request_state = Some("state".into());
        let mut traced = full.clone();
        traced.meta = Some(RequestMetaObject::from(as_object(json!({
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "io.modelcontextprotocol/protocolVersion": "2025-01-01",
            "progressToken": 7,
        }))));
        let Some(modern) = modern else {
            panic!("the stamp serialises");
        };
        for stamp in [&modern, &legacy] {
            for params in [&mut bare, &mut full, &mut traced] {
                let id = RequestId::String("gw-9".into());
                let before = params.clone();
                let body = request_body(&id, (params, None), stamp);
                assert_eq!(*params, before, "the parameters are left as they were");
                // The typed way: the stamp's entries over the request's own, then the token.
                let mut expected = before.clone();
                let meta = expected.meta.get_or_insert_with(Default::default);
                let entries = if stamp.keys.is_empty() {
                    JsonObject::new()
                } else {
                    stamp_entries.clone()
                };
                meta.0.0.extend(entries);
                meta.0.0.insert("progressToken".into(), json!("gw-9"));
                let expected = json!({
                    "jsonrpc": "2.0", "id": "gw-9", "method": "tools/call", "params": expected,
                });
                let text = body
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                // A repeated key would parse, the last one winning: each is written once.
                for key in [
                    "\"progressToken\"",
                    "\"io.modelcontextprotocol/protocolVersion\"",
                ] {
                    assert!(text.matches(key).count() <= 1, "{key} twice: {text}");
                }
                let body = body.and_then(|body| serde_json::from_slice::<Value>(&body).ok());
                assert_eq!(body, Some(expected));
            }
        }
    }

    #[test]
    fn the_clients_argument_text_goes_in_place_of_the_parsed_arguments() {
        use serde_json::Value;
        let text = r#"{ "id": 12345678901234567890123, "pi": 3.14159265358979323846264 }"#;
        let parsed: Option<JsonObject> = serde_json::from_str(text).ok();
        let mut params = CallToolRequestParams::new("lookup");
        params.arguments = parsed;
        params.request_state = Some("s".into());
        let before = params.clone();
        let Ok(raw) = serde_json::from_str::<&RawValue>(text) else {
            panic!("the text parses");
        };
        let arguments_text = ArgumentText::within(&Bytes::from_static(text.as_bytes()), raw);
        let id = RequestId::Number(3);
        let with_text = request_body(&id, (&mut params, Some(&arguments_text)), &Stamp::empty());
        assert_eq!(params, before, "the parameters are left as they were");
        let without = request_body(&id, (&mut params, None), &Stamp::empty());
        let body = with_text.unwrap_or_default();
        // The text is in the body byte for byte, once.
        let written = String::from_utf8_lossy(&body);
        assert_eq!(written.matches(text).count(), 1, "{written}");
        assert_eq!(written.matches(r#""arguments""#).count(), 1, "{written}");
        // And the rest is what the parsed arguments would have made.
        let read = |body: &[u8]| serde_json::from_slice::<Value>(body).ok();
        assert_eq!(read(&body), without.as_deref().and_then(read));
        assert!(
            !without
                .unwrap_or_default()
                .windows(text.len())
                .any(|w| w == text.as_bytes())
        );
    }

    #[test]
    fn task_and_input_required_results_read_as_rmcp_reads_them() {
        let as_rmcp = |text: &str| serde_json::from_str::<ServerResult>(text).ok();
        let raw = |text: &str| RawValue::from_string(text.to_string()).ok();
        for text in [
            r#"{"content":[{"type":"text","text":"x"}],"isError":false}"#,
            r#"{"structuredContent":{"a":1}}"#,
            r#"{"resultType":"input_required","inputRequests":{}}"#,
            r#"{"task":{"taskId":"t1","status":"working","createdAt":"2026-01-01T00:00:00Z","ttl":null}}"#,
        ] {
            let parsed = raw(text).and_then(|raw| tool_result(&raw).ok().map(|(r, _)| r));
            assert_eq!(
                parsed.map(|r| serde_json::to_value(r).ok()),
                as_rmcp(text).map(|r| serde_json::to_value(r).ok()),
                "{text}"
            );
        }
    }
}
