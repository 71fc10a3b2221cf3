//! The gateway's own POSTs to a streamable HTTP upstream (the listing tap and the call leg):
//! the request as rmcp would send it, and bounded reading of JSON and SSE answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};

/// The session header of streamable HTTP.
pub(super) const SESSION_HEADER: &str = "mcp-session-id";
/// The header a resuming GET names the last event it received in.
const LAST_EVENT_ID: &str = "last-event-id";
/// Longest `Retry-After` value passed on (as rmcp's client does).
const MAX_RETRY_AFTER_BYTES: usize = 128;

/// Where a POST goes and the headers rmcp would send with it.
#[derive(Clone, Copy)]
pub(super) struct Target<'a> {
    /// The endpoint (parsed once, when the session was recorded), without credentials.
    pub url: &'a http::Uri,
    /// Its `Host` header ([`host_header`], made once per session), for the call leg's
    /// hyper-util client to send instead of formatting the same one on every request (never
    /// put on the request itself: reqwest would carry it to where a redirect leads).
    pub host: Option<&'a HeaderValue>,
    /// `Authorization: Basic` for the user and password the configured URL carried.
    pub basic: Option<&'a HeaderValue>,
    /// The session, if the upstream assigned one.
    pub session_id: Option<&'a str>,
    /// The bearer token, if any.
    pub auth_header: Option<&'a str>,
    /// Configured headers and `MCP-Protocol-Version` (and, on rmcp's own requests, its
    /// SEP-2243 headers).
    pub headers: &'a HashMap<HeaderName, HeaderValue>,
}

impl Target<'_> {
    /// A POST of `body` (a JSON-RPC message) accepting JSON or SSE, with `extra` headers after
    /// the session's own (a forwarded `Authorization` replaces the bearer token). Fails when the
    /// token cannot be a header value.
    pub(super) fn post(&self, body: Bytes, extra: &HeaderMap) -> Result<Request<Bytes>, String> {
        let mut headers = HeaderMap::with_capacity(4 + self.headers.len() + extra.len());
        headers.append(
            ACCEPT,
            HeaderValue::from_static("text/event-stream, application/json"),
        );
        headers.append(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.add_headers(&mut headers, extra)?;
        Ok(request(Method::POST, self.url, headers, body))
    }

    /// A GET resuming the SSE stream after event `last_event_id`.
    pub(super) fn resume(
        &self,
        last_event_id: &str,
        extra: &HeaderMap,
    ) -> Result<Request<Bytes>, String> {
        let last = HeaderValue::from_str(last_event_id)
            .map_err(|_| "the stream's last event id cannot be sent back".to_string())?;
        let mut headers = HeaderMap::with_capacity(4 + self.headers.len() + extra.len());
        headers.append(ACCEPT, HeaderValue::from_static("text/event-stream"));
        headers.append(LAST_EVENT_ID, last);
        self.add_headers(&mut headers, extra)?;
        Ok(request(Method::GET, self.url, headers, Bytes::new()))
    }

    /// The session's headers, in the order rmcp sends them: the URL's credentials, token,
    /// configured and protocol headers, `extra` (less those configured), session id.
    fn add_headers(&self, headers: &mut HeaderMap, extra: &HeaderMap) -> Result<(), String> {
        if let Some(basic) = self.basic {
            headers.append(AUTHORIZATION, basic.clone());
        }
        if let Some(token) = self.auth_header
            && !extra.contains_key(AUTHORIZATION)
        {
            let mut bearer = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| "the bearer token cannot be sent in a header".to_string())?;
            bearer.set_sensitive(true);
            headers.append(AUTHORIZATION, bearer);
        }
        for (name, value) in self.headers {
            headers.append(name, value.clone());
        }
        for (name, value) in extra {
            if !self.headers.contains_key(name) {
                headers.append(name, value.clone());
            }
        }
        if let Some(session) = self.session_id {
            let session = HeaderValue::from_str(session)
                .map_err(|_| "the session id cannot be sent in a header".to_string())?;
            headers.append(SESSION_HEADER, session);
        }
        Ok(())
    }
}

/// The `Host` header hyper-util's client (reqwest's too) writes for `url`: the host, and the
/// port unless it is the scheme's default. Made once per session, it spares each request the
/// client's formatting of it.
pub(super) fn host_header(url: &http::Uri) -> Option<HeaderValue> {
    let host = url.host()?;
    let secure = matches!(url.scheme_str(), Some("https" | "wss"));
    let value = match url.port() {
        Some(port) if !matches!((port.as_u16(), secure), (443, true) | (80, false)) => {
            format!("{host}:{}", port.as_str())
        }
        _ => host.to_string(),
    };
    HeaderValue::from_str(&value).ok()
}

/// `method` on `url` with `headers` and `body`.
fn request(method: Method, url: &http::Uri, headers: HeaderMap, body: Bytes) -> Request<Bytes> {
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = url.clone();
    *request.headers_mut() = headers;
    request
}

/// Sends `request` with reqwest (rmcp's transport client).
pub(super) async fn send_with(
    client: &reqwest::Client,
    request: Request<Bytes>,
) -> Result<reqwest::Response, reqwest::Error> {
    client
        .execute(reqwest::Request::try_from(
            request.map(reqwest::Body::from),
        )?)
        .await
}

/// The answer's media type without parameters, lower-cased (empty when absent or unreadable).
pub(super) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The answer's `Retry-After`, when short enough to pass on.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<String> {
    headers
        .get(RETRY_AFTER)
        .filter(|value| value.len() <= MAX_RETRY_AFTER_BYTES)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The fields of a JSON-RPC message that tell an answer from a request or notification, the
/// rest left unparsed.
#[derive(serde::Deserialize)]
pub(super) struct Envelope<'a> {
    /// The request id (absent on notifications, and on errors that cannot name one).
    #[serde(default)]
    pub id: Option<rmcp::model::RequestId>,
    /// Present on requests and notifications.
    #[serde(default, borrow)]
    pub method: Option<&'a serde_json::value::RawValue>,
    /// Present on a successful answer.
    #[serde(default, borrow)]
    pub result: Option<&'a serde_json::value::RawValue>,
    /// Present on an error answer.
    #[serde(default, borrow)]
    pub error: Option<&'a serde_json::value::RawValue>,
}

/// Why a body was not read whole.
#[derive(Debug)]
pub(super) enum ReadError {
    /// It passed the limit; the bytes received by then.
    TooLarge(usize),
    /// The connection failed while reading.
    Failed(String),
}

/// Reads a whole body, giving up past `limit` bytes.
pub(super) async fn read_bounded<S, E>(stream: S, limit: usize) -> Result<Vec<u8>, ReadError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let mut stream = std::pin::pin!(stream);
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| ReadError::Failed(error.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge(body.len() + chunk.len()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How long the rest of an answered call's stream is read for its end.
const DRAIN_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// Chunks or events after the answer read inline before the rest is left to a task.
const DRAIN_INLINE_ITEMS: usize = 4;
/// Streams read to their end at once, in the whole process: past it, a stream is dropped (and
/// its connection closed), so an upstream that never ends its streams holds no more sockets.
const MAX_DRAINING: usize = 256;
/// Streams being read to their end by [`finish_reading`]'s tasks.
static DRAINING: AtomicUsize = AtomicUsize::new(0);

/// Reads the rest of a response whose answer has been taken, so that hyper can pool its
/// connection again: a body dropped before its end closes the connection, and the next call
/// pays a new one (the last chunk of a chunked SSE answer usually comes in a write of its own,
/// just after the answer). What has already arrived is read at once; the rest from a task on
/// this runtime (the one that serves the pooled connection), for at most [`DRAIN_WAIT`], up to
/// the stream's own byte limit or first error, and only while fewer than [`MAX_DRAINING`] are
/// being read. What comes after the answer is dropped, as rmcp's client drops it.
pub(super) fn finish_reading<S, T, E>(mut stream: S)
where
    S: Stream<Item = Result<T, E>> + Unpin + Send + 'static,
{
    use futures::FutureExt;
    for _ in 0..DRAIN_INLINE_ITEMS {
        match stream.next().now_or_never() {
            Some(Some(Ok(_))) => {}
            Some(None | Some(Err(_))) => return,
            None => break,
        }
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if DRAINING.fetch_add(1, Ordering::Relaxed) >= MAX_DRAINING {
        DRAINING.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    /// Counts a draining task out however it ends (also when its runtime drops it).
    struct Draining;
    impl Drop for Draining {
        fn drop(&mut self) {
            DRAINING.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let draining = Draining;
    drop(runtime.spawn(async move {
        let _draining = draining;
        let rest = async { while let Some(Ok(_)) = stream.next().await {} };
        let _ = tokio::time::timeout(DRAIN_WAIT, rest).await;
    }));
}

/// `stream`, failing once more than `limit` bytes have arrived since `counter` was last reset.
pub(super) fn counted<S, E>(
    stream: S,
    limit: usize,
    counter: EventBytes,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    stream.map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        let received = counter.0.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len();
        if received > limit {
            return Err(std::io::Error::other("an event is over the size limit"));
        }
        Ok(chunk)
    })
}

/// Whether an SSE event carries a JSON-RPC message: no event type, or `message`.
pub(super) fn is_message(event: &sse_stream_03::Sse) -> bool {
    event
        .event
        .as_deref()
        .is_none_or(|kind| kind.is_empty() || kind == "message")
}

/// Bytes received since the last event was handed out: an SSE stream fails once one event
/// grows past its limit.
#[derive(Clone, Default)]
pub(super) struct EventBytes(Arc<AtomicUsize>);

impl EventBytes {
    /// An event was handed out: the next one starts counting from zero.
    pub(super) fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// Bytes received since the last reset.
    pub(super) fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// The SSE events of `stream`; the stream fails when more than `limit` bytes arrive without
/// the consumer calling [`EventBytes::reset`] (once per event it takes).
pub(super) fn sse_events<S, E>(
    stream: S,
    limit: usize,
    counter: EventBytes,
) -> impl Stream<Item = Result<sse_stream_03::Sse, sse_stream_03::Error>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    sse_stream_03::SseByteStream::new(counted(stream, limit, counter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_header_is_the_one_the_client_would_write() {
        let host = |url: &str| {
            let uri: http::Uri = url.parse().expect("uri");
            host_header(&uri).map(|value| value.to_str().unwrap_or("?").to_string())
        };
        for (url, expected) in [
            ("http://127.0.0.1:8080/mcp", "127.0.0.1:8080"),
            ("http://crm.internal/mcp", "crm.internal"),
            ("http://crm.internal:80/mcp", "crm.internal"),
            ("http://crm.internal:443/", "crm.internal:443"),
            ("https://crm.internal:443/", "crm.internal"),
            ("https://crm.internal:80/", "crm.internal:80"),
            ("http://[::1]:9000/mcp", "[::1]:9000"),
        ] {
            assert_eq!(host(url).as_deref(), Some(expected), "{url}");
        }
        assert_eq!(host("/mcp"), None);
    }

    #[test]
    fn only_untyped_and_message_events_carry_json_rpc() {
        let event = |kind: Option<&str>| sse_stream_03::Sse {
            event: kind.map(str::to_owned),
            data: Some("{}".into()),
            id: None,
            retry: None,
        };
        assert!(is_message(&event(None)));
        assert!(is_message(&event(Some(""))));
        assert!(is_message(&event(Some("message"))));
        assert!(!is_message(&event(Some("endpoint"))));
    }
}
