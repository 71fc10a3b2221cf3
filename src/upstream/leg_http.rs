//! The HTTP client the call leg posts with: hyper-util's pooled client straight over TCP for a
//! plain-HTTP upstream that no proxy variable covers, reqwest otherwise (TLS, proxies, and
//! redirects, which it follows as rmcp's transport does). reqwest adds about 35,000
//! instructions to every request on top of hyper (it parses the URL twice, runs a redirect
//! policy and merges default headers): a sixth of a routed call's work.

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// How long an idle pooled connection is kept (as reqwest keeps them).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// TCP keep-alive probes on pooled connections (as reqwest sends them).
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);
/// Unanswered keep-alive probes before a connection counts as dead.
const TCP_KEEPALIVE_RETRIES: u32 = 3;

/// One HTTP client of the call leg: reqwest's, and for an `http://` upstream that no proxy
/// variable covers also hyper-util's, which posts unless told otherwise.
#[derive(Clone)]
pub(super) struct LegHttp {
    plain: Option<Client<HttpConnector, Full<Bytes>>>,
    reqwest: reqwest::Client,
}

impl LegHttp {
    /// Whether `url` can go straight over TCP: `http://`, and no `HTTP_PROXY`/`ALL_PROXY` (less
    /// `NO_PROXY`) applies to it, as reqwest decides it from the same variables.
    pub(super) fn plain_for(url: &http::Uri) -> bool {
        plain_with(url, &Matcher::from_system())
    }

    /// reqwest's client alone.
    pub(super) fn reqwest(client: reqwest::Client) -> LegHttp {
        LegHttp {
            plain: None,
            reqwest: client,
        }
    }

    /// hyper-util's client besides `fallback`, configured as reqwest configures its own:
    /// connect timeout (shared among the addresses a name resolves to; the name lookup itself
    /// is bounded by the call's timeout),
    /// no Nagle, TCP keep-alive, 90 s idle pooling.
    pub(super) fn plain(connect_timeout: Duration, fallback: reqwest::Client) -> LegHttp {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        connector.set_keepalive(Some(TCP_KEEPALIVE));
        connector.set_keepalive_interval(Some(TCP_KEEPALIVE));
        connector.set_keepalive_retries(Some(TCP_KEEPALIVE_RETRIES));
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        LegHttp {
            plain: Some(client),
            reqwest: fallback,
        }
    }

    /// Whether [`LegHttp::send`] posts with hyper-util's client when `plain` is asked.
    pub(super) fn has_plain(&self) -> bool {
        self.plain.is_some()
    }

    /// Sends `request`, with hyper-util's client if there is one and `plain` is set, else with
    /// reqwest's; the error describes the failure with its causes.
    pub(super) async fn send(
        &self,
        request: Request<Bytes>,
        plain: bool,
    ) -> Result<LegResponse, String> {
        match self.plain.as_ref().filter(|_| plain) {
            Some(client) => {
                let response = client
                    .request(request.map(Full::new))
                    .await
                    .map_err(|error| describe(&error))?;
                let (parts, body) = response.into_parts();
                Ok(LegResponse {
                    status: parts.status,
                    headers: parts.headers,
                    body: Body::Plain(body),
                })
            }
            None => {
                let request = reqwest::Request::try_from(request.map(reqwest::Body::from))
                    .map_err(|error| describe(&error))?;
                let mut response = self
                    .reqwest
                    .execute(request)
                    .await
                    .map_err(|error| describe(&error))?;
                Ok(LegResponse {
                    status: response.status(),
                    headers: std::mem::take(response.headers_mut()),
                    body: Body::Reqwest(response),
                })
            }
        }
    }
}

/// Whether `url` is `http://` and `proxies` send it straight.
fn plain_with(url: &http::Uri, proxies: &Matcher) -> bool {
    url.scheme() == Some(&http::uri::Scheme::HTTP) && proxies.intercept(url).is_none()
}

/// An answer's status and headers, its body still to read.
pub(super) struct LegResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
}

enum Body {
    Plain(hyper::body::Incoming),
    Reqwest(reqwest::Response),
}

impl LegResponse {
    /// The HTTP status.
    pub(super) fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub(super) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body as it arrives.
    pub(super) fn into_stream(
        self,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        match self.body {
            Body::Plain(body) => body
                .into_data_stream()
                .map_err(std::io::Error::other)
                .left_stream(),
            Body::Reqwest(response) => response
                .bytes_stream()
                .map_err(std::io::Error::other)
                .right_stream(),
        }
    }
}

/// An error with its causes (the top level alone says only "error sending request" or
/// "client error (Connect)").
pub(super) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use http::{HeaderName, HeaderValue};
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    use super::super::http_post::{Target, host_header, read_bounded};
    use super::*;

    #[test]
    fn only_plain_http_that_no_proxy_covers_goes_straight() {
        let uri = |text: &str| text.parse::<http::Uri>().expect("uri");
        let none = Matcher::builder().build();
        assert!(plain_with(&uri("http://127.0.0.1:8080/mcp"), &none));
        assert!(!plain_with(&uri("https://127.0.0.1:8080/mcp"), &none));
        let proxied = Matcher::builder()
            .http("http://proxy.internal:3128")
            .no("localhost,10.0.0.0/8")
            .build();
        assert!(!plain_with(&uri("http://crm.internal/mcp"), &proxied));
        assert!(plain_with(&uri("http://localhost:9000/mcp"), &proxied));
        assert!(plain_with(&uri("http://10.1.2.3/mcp"), &proxied));
        let everything = Matcher::builder().all("http://proxy.internal:3128").build();
        assert!(!plain_with(&uri("http://127.0.0.1:8080/mcp"), &everything));
    }

    /// What a server saw of one request: method, path, headers (sorted, `name: value`), body.
    type Seen = (String, String, Vec<String>, Vec<u8>);

    /// A server on 127.0.0.1 that records every request and answers it with a JSON body and a
    /// `retry-after` header.
    async fn recording_server() -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: http::Request<hyper::body::Incoming>| {
                            let record = record.clone();
                            async move {
                                let (parts, body) = request.into_parts();
                                let body = body.collect().await.map(|b| b.to_bytes().to_vec());
                                // In the order sent (tests sort them where order is free).
                                let headers: Vec<String> = parts
                                    .headers
                                    .iter()
                                    .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap_or("?")))
                                    .collect();
                                if let Ok(mut seen) = record.lock() {
                                    seen.push((
                                        parts.method.to_string(),
                                        parts.uri.path().to_string(),
                                        headers,
                                        body.unwrap_or_default(),
                                    ));
                                }
                                let answer = http::Response::builder()
                                    .header("content-type", "application/json")
                                    .header("retry-after", "7")
                                    .body(Full::new(Bytes::from_static(br#"{"ok":true}"#)));
                                Ok::<_, Infallible>(answer.unwrap_or_default())
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn both_clients_send_the_same_request_and_read_the_same_answer() {
        let (url, seen) = recording_server().await;
        let uri: http::Uri = url.parse().expect("uri");
        let configured: HashMap<HeaderName, HeaderValue> = [
            ("mcp-protocol-version", "2025-11-25"),
            ("x-team", "billing"),
        ]
        .into_iter()
        .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
        .collect();
        let basic = HeaderValue::from_static("Basic YTpi");
        let host = host_header(&uri);
        let target = Target {
            url: &uri,
            host: host.as_ref(),
            basic: Some(&basic),
            session_id: Some("s-1"),
            auth_header: Some("t0ken"),
            headers: &configured,
        };
        let mut extra = HeaderMap::new();
        extra.insert("traceparent", HeaderValue::from_static("00-abc-def-01"));
        extra.insert("x-team", HeaderValue::from_static("not this one"));
        let reqwest =
            super::super::connect::http_client(Duration::from_secs(5), false).expect("client");
        let client = LegHttp::plain(Duration::from_secs(5), reqwest);
        for plain in [true, false] {
            let post = target
                .post(Bytes::from_static(b"{\"id\":1}"), &extra)
                .expect("post");
            // As the call leg sends it: the session's Host on hyper-util's requests only.
            let post = super::super::call_leg::with_host(post, host.as_ref().filter(|_| plain));
            let response = client.send(post, plain).await.expect("answer");
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(
                super::super::http_post::retry_after(response.headers()).as_deref(),
                Some("7")
            );
            let body = read_bounded(response.into_stream(), 1024)
                .await
                .expect("body");
            assert_eq!(body, br#"{"ok":true}"#);
            let resume = target.resume("ev-9", &HeaderMap::new()).expect("resume");
            let response = client.send(resume, plain).await.expect("answer");
            assert_eq!(response.status(), StatusCode::OK);
        }
        let seen = seen.lock().expect("seen").clone();
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[0], seen[2], "the POSTs differ");
        assert_eq!(seen[1], seen[3], "the resuming GETs differ");
        let (method, path, headers, body) = &seen[0];
        assert_eq!((method.as_str(), path.as_str()), ("POST", "/mcp"));
        assert_eq!(body, br#"{"id":1}"#);
        let authorization: Vec<&String> = headers
            .iter()
            .filter(|h| h.starts_with("authorization: "))
            .collect();
        assert_eq!(
            authorization,
            ["authorization: Basic YTpi", "authorization: Bearer t0ken"],
            "the URL's credentials first, as reqwest sends them"
        );
        let mut headers = headers.clone();
        headers.sort();
        let host = format!(
            "host: {}",
            uri.authority().map(|a| a.as_str()).unwrap_or("")
        );
        let mut expected = vec![
            "accept: text/event-stream, application/json".to_string(),
            "authorization: Basic YTpi".to_string(),
            "authorization: Bearer t0ken".to_string(),
            "content-length: 8".to_string(),
            "content-type: application/json".to_string(),
            host,
            "mcp-protocol-version: 2025-11-25".to_string(),
            "mcp-session-id: s-1".to_string(),
            "traceparent: 00-abc-def-01".to_string(),
            "x-team: billing".to_string(),
        ];
        expected.sort();
        assert_eq!(headers, expected);
        assert!(seen[1].2.contains(&"last-event-id: ev-9".to_string()));
        assert_eq!(seen[1].0, "GET");
    }

    #[tokio::test]
    async fn a_refused_connection_is_described_with_its_cause() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url: http::Uri = format!("http://{}/mcp", listener.local_addr().expect("addr"))
            .parse()
            .expect("uri");
        drop(listener);
        let configured = HashMap::new();
        let target = Target {
            url: &url,
            host: None,
            basic: None,
            session_id: None,
            auth_header: None,
            headers: &configured,
        };
        let post = target
            .post(Bytes::from_static(b"{}"), &HeaderMap::new())
            .expect("post");
        let reqwest = reqwest::Client::new();
        let error = LegHttp::plain(Duration::from_secs(5), reqwest)
            .send(post, true)
            .await
            .err()
            .expect("refused");
        assert!(error.contains("refused"), "{error}");
    }
}
