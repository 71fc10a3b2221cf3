//! Per-call header forwarding (`forward_headers`): the incoming request's listed headers ride on
//! the upstream `tools/call` as an rmcp request extension (never serialised), and this HTTP client
//! copies them onto that one POST. Every other request of the shared session (initialize,
//! listing, other callers' calls) carries only the static headers, so a caller's token can never
//! reach another call or another upstream. A static `headers` entry of the same name wins.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use http::{HeaderMap, HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, GetExtensions};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::Sse;

use super::http_post::Target;
use super::session::SessionCell;

/// The headers one call forwards; carried in the request's extensions.
#[derive(Debug, Clone, Default)]
pub struct ForwardedHeaders(pub HeaderMap);

/// The headers of `incoming` named in `names` (all values of each).
pub fn select(incoming: &HeaderMap, names: &[HeaderName]) -> HeaderMap {
    let mut selected = HeaderMap::new();
    for name in names {
        for value in incoming.get_all(name) {
            selected.append(name.clone(), value.clone());
        }
    }
    selected
}

/// reqwest's streamable HTTP client plus per-call forwarded headers; it records the session
/// rmcp posts on for the gateway's own posts (see [`super::call_leg`]).
#[derive(Debug, Clone)]
pub struct ForwardingClient {
    client: reqwest::Client,
    session: SessionCell,
}

impl ForwardingClient {
    /// A client posting with `client` and recording its session into `session`.
    pub(super) fn new(client: reqwest::Client, session: SessionCell) -> ForwardingClient {
        ForwardingClient { client, session }
    }
}

/// Adds the message's forwarded headers to `custom` (static ones win); a forwarded
/// `Authorization` replaces the session's bearer token for this request only.
fn merge(
    message: &ClientJsonRpcMessage,
    auth_header: Option<String>,
    mut custom: HashMap<HeaderName, HeaderValue>,
) -> (Option<String>, HashMap<HeaderName, HeaderValue>) {
    let ClientJsonRpcMessage::Request(request) = message else {
        return (auth_header, custom);
    };
    let Some(ForwardedHeaders(forwarded)) = request.request.extensions().get::<ForwardedHeaders>()
    else {
        return (auth_header, custom);
    };
    let mut auth_header = auth_header;
    for (name, value) in forwarded {
        if custom.contains_key(name) {
            continue;
        }
        if name == http::header::AUTHORIZATION {
            auth_header = None;
        }
        custom.insert(name.clone(), value.clone());
    }
    (auth_header, custom)
}

/// The listing tap of a `tools/list` request that carries one.
fn listing_tap(message: &ClientJsonRpcMessage) -> Option<super::listing::ListingTap> {
    let ClientJsonRpcMessage::Request(request) = message else {
        return None;
    };
    request
        .request
        .extensions()
        .get::<super::listing::ListingTap>()
        .cloned()
}

impl StreamableHttpClient for ForwardingClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>> {
        let session = session_id.as_ref();
        let (auth, headers) = (auth_header.as_ref(), &custom_headers);
        self.session.record(&uri, &message, session, auth, headers);
        let (auth_header, custom_headers) = merge(&message, auth_header, custom_headers);
        self.client
            .post_message(uri, message, session_id, auth_header, custom_headers)
            .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>> {
        let session = session_id.as_ref();
        let (auth, headers) = (auth_header.as_ref(), &custom_headers);
        self.session.record(&uri, &message, session, auth, headers);
        let (auth_header, custom_headers) = merge(&message, auth_header, custom_headers);
        self.client
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>> {
        let session = session_id.as_ref();
        let (auth, headers) = (auth_header.as_ref(), &custom_headers);
        self.session.record(&uri, &message, session, auth, headers);
        if let Some(tap) = listing_tap(&message)
            && let Some((url, basic)) = super::session::endpoint(&uri)
        {
            let post = super::listing::Post {
                target: Target {
                    url: &url,
                    host: None,
                    basic: basic.as_ref(),
                    session_id: session_id.as_deref(),
                    auth_header: auth_header.as_deref(),
                    headers: &custom_headers,
                },
                message: &message,
                limits: &limits,
            };
            if let Some(answer) = super::listing::fetch(&self.client, post, &tap).await? {
                return Ok(StreamableHttpPostResponse::Json(answer, None));
            }
        }
        let (auth_header, custom_headers) = merge(&message, auth_header, custom_headers);
        self.client
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<reqwest::Error>> {
        self.client
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<reqwest::Error>>
    {
        self.client
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<reqwest::Error>>
    {
        self.client
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}
