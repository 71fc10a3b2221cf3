//! What the gateway's own POSTs need of rmcp's HTTP session: the endpoint, the session id, the
//! bearer token and the protocol headers, as rmcp last sent them. The HTTP client records them
//! from rmcp's own posts, so a session rmcp re-initialised is picked up with its next post.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest};

use super::http_post::Target;

/// The protocol version header rmcp sets once a session is negotiated.
const VERSION_HEADER: &str = "mcp-protocol-version";
/// SEP-2243 headers that describe one request, not the session.
const PER_REQUEST: [&str; 2] = ["mcp-method", "mcp-name"];
/// Prefix of SEP-2243 parameter headers (per request too).
const PARAM_PREFIX: &str = "mcp-param-";

/// The session as rmcp's last post after negotiation carried it.
#[derive(Debug)]
pub(super) struct SessionHeaders {
    /// The endpoint, without the credentials it may carry (those are `basic`).
    url: http::Uri,
    /// The `Host` header of `url`.
    host: Option<HeaderValue>,
    basic: Option<HeaderValue>,
    session_id: Option<Arc<str>>,
    auth_header: Option<String>,
    /// Configured headers and `MCP-Protocol-Version`.
    headers: HashMap<HeaderName, HeaderValue>,
}

impl SessionHeaders {
    /// Where a POST of this session goes, with its headers.
    pub(super) fn target(&self) -> Target<'_> {
        Target {
            url: &self.url,
            host: self.host.as_ref(),
            basic: self.basic.as_ref(),
            session_id: self.session_id.as_deref(),
            auth_header: self.auth_header.as_deref(),
            headers: &self.headers,
        }
    }
}

/// The latest [`SessionHeaders`] of one connection, shared by its HTTP client and its callers.
#[derive(Debug, Clone, Default)]
pub(super) struct SessionCell(Arc<ArcSwapOption<SessionHeaders>>);

impl SessionCell {
    /// The session as last seen, once rmcp has posted on a negotiated session.
    pub(super) fn current(&self) -> Option<Arc<SessionHeaders>> {
        self.0.load_full()
    }

    /// Records what rmcp sends `message` with, unless the session is not negotiated yet (no
    /// protocol version header: `initialize` and the requests before it).
    pub(super) fn record(
        &self,
        uri: &Arc<str>,
        message: &ClientJsonRpcMessage,
        session_id: Option<&Arc<str>>,
        auth_header: Option<&String>,
        headers: &HashMap<HeaderName, HeaderValue>,
    ) {
        let version = HeaderName::from_static(VERSION_HEADER);
        if !headers.contains_key(&version) {
            return;
        }
        if let ClientJsonRpcMessage::Request(request) = message
            && matches!(request.request, ClientRequest::InitializeRequest(_))
        {
            return;
        }
        let session = self.0.load();
        let unchanged = session.as_deref().is_some_and(|known| {
            known.session_id.as_ref() == session_id
                && known.auth_header.as_ref() == auth_header
                && known.headers.get(&version) == headers.get(&version)
        });
        if unchanged {
            return;
        }
        let Some((url, basic)) = endpoint(uri) else {
            return;
        };
        let headers = headers
            .iter()
            .filter(|(name, _)| {
                let name = name.as_str();
                !PER_REQUEST.contains(&name) && !name.starts_with(PARAM_PREFIX)
            })
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        self.0.store(Some(Arc::new(SessionHeaders {
            host: super::http_post::host_header(&url),
            url,
            basic,
            session_id: session_id.cloned(),
            auth_header: auth_header.cloned(),
            headers,
        })));
    }
}

/// The endpoint `uri` names, split as reqwest splits it before sending: the URL without its
/// user and password, and those (percent-decoded) as an `Authorization: Basic` value.
pub(super) fn endpoint(uri: &str) -> Option<(http::Uri, Option<HeaderValue>)> {
    use base64::Engine;
    let decoded = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map(|text| text.into_owned())
    };
    let mut url = url::Url::parse(uri).ok()?;
    // As reqwest: a user that is not UTF-8 once decoded leaves the URL as it is; a password
    // that is not counts as none.
    let user = decoded(url.username()).ok();
    let password = url.password().and_then(|p| decoded(p).ok());
    let basic = match user {
        Some(user) if !user.is_empty() || password.is_some() => {
            let pair = format!("{user}:{}", password.unwrap_or_default());
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
            value.set_sensitive(true);
            url.set_username("").ok()?;
            url.set_password(None).ok()?;
            Some(value)
        }
        _ => None,
    };
    Some((url.as_str().parse().ok()?, basic))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{ClientNotification, InitializedNotification, RequestId};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HashMap<HeaderName, HeaderValue> {
        pairs
            .iter()
            .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
            .collect()
    }

    /// `endpoint(uri)`, checked against the request reqwest builds for `uri`.
    fn endpoint_as_reqwest(uri: &str) -> (http::Uri, Option<HeaderValue>) {
        let (url, basic) = endpoint(uri).expect("endpoint");
        let by_reqwest = reqwest::Client::new().post(uri).build().expect("request");
        assert_eq!(
            basic.as_ref(),
            by_reqwest.headers().get(http::header::AUTHORIZATION),
            "{uri}"
        );
        assert_eq!(url.to_string(), by_reqwest.url().as_str(), "{uri}");
        (url, basic)
    }

    #[test]
    fn credentials_in_the_url_become_basic_auth_as_reqwest_makes_it() {
        for uri in [
            "http://al%40ice:s3cr%3At@127.0.0.1:9/mcp?team=a",
            "http://bob@127.0.0.1:9/mcp",
            "http://:only-pass@[::1]:9/mcp",
        ] {
            let (url, basic) = endpoint_as_reqwest(uri);
            assert!(basic.is_some_and(|b| b.is_sensitive()), "{uri}");
            assert!(url.authority().is_some_and(|a| !a.as_str().contains('@')));
        }
        // Not UTF-8 once decoded: a user leaves the URL whole and sends no Basic, a password
        // counts as none (as reqwest does).
        endpoint_as_reqwest("http://%FF:pw@127.0.0.1:9/mcp");
        endpoint_as_reqwest("http://user:%FF@127.0.0.1:9/mcp");
        let (url, basic) = endpoint_as_reqwest("http://127.0.0.1:9/mcp");
        assert!(basic.is_none());
        assert_eq!(url.to_string(), "http://127.0.0.1:9/mcp");
    }

    #[test]
    fn only_negotiated_posts_are_recorded_without_their_per_request_headers() {
        let cell = SessionCell::default();
        let uri: Arc<str> = Arc::from("http://127.0.0.1:1/mcp");
        let initialized = ClientJsonRpcMessage::notification(
            ClientNotification::InitializedNotification(InitializedNotification::default()),
        );
        cell.record(&uri, &initialized, None, None, &headers(&[("x-team", "a")]));
        assert!(cell.current().is_none(), "nothing negotiated yet");

        let initialize = ClientJsonRpcMessage::request(
            ClientRequest::InitializeRequest(rmcp::model::InitializeRequest::new(
                Default::default(),
            )),
            RequestId::Number(0),
        );
        let negotiated = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
            ("mcp-param-region", "eu"),
            ("x-team", "a"),
        ]);
        cell.record(&uri, &initialize, None, None, &negotiated);
        assert!(cell.current().is_none(), "initialize is never recorded");

        let session: Arc<str> = Arc::from("s-1");
        cell.record(&uri, &initialized, Some(&session), None, &negotiated);
        let recorded = cell.current().expect("recorded");
        let target = recorded.target();
        assert_eq!(target.session_id, Some("s-1"));
        let mut names: Vec<&str> = target.headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["mcp-protocol-version", "x-team"]);

        let renewed: Arc<str> = Arc::from("s-2");
        cell.record(&uri, &initialized, Some(&renewed), None, &negotiated);
        assert_eq!(
            cell.current().expect("recorded").target().session_id,
            Some("s-2"),
            "a re-initialised session replaces the old one"
        );
    }
}
