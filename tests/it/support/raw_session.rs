//! A raw MCP client session over HTTP (reqwest, no MCP library), for tests that must see the
//! gateway's answers as bytes on the wire.

use serde::Serialize;
use serde_json::{Value, json};

/// A raw MCP client session: one pooled HTTP client and the session id from `initialize`.
pub struct RawSession {
    http: reqwest::Client,
    url: String,
    id: String,
}

impl RawSession {
    /// A session `id` at `url` that was never opened (to see it refused).
    pub fn unopened(url: &str, id: &str) -> RawSession {
        RawSession {
            http: reqwest::Client::new(),
            url: url.to_string(),
            id: id.to_string(),
        }
    }

    /// Initialises a session at `url` (revision 2025-06-18) and sends `initialized`.
    pub async fn open(url: &str) -> RawSession {
        let http = reqwest::Client::new();
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}});
        let response = http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
            .await
            .expect("initialize");
        let id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .expect("session id")
            .to_string();
        let _ = response.bytes().await;
        let session = RawSession {
            http,
            url: url.to_string(),
            id,
        };
        let (status, _, _) = session
            .post(
                &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                &[],
            )
            .await;
        assert_eq!(status, 202);
        session
    }

    /// POSTs `body` on the session with the standard headers (`extra` overrides them):
    /// (status, content type, body text).
    pub async fn post(
        &self,
        body: &(impl Serialize + ?Sized),
        extra: &[(&str, &str)],
    ) -> (u16, String, String) {
        let (status, headers, text) = self.post_full(body, extra).await;
        let kind = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (status, kind, text)
    }

    /// [`RawSession::post`] with the response headers.
    pub async fn post_full(
        &self,
        body: &(impl Serialize + ?Sized),
        extra: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let defaults = [
            ("content-type", "application/json"),
            ("mcp-session-id", self.id.as_str()),
            ("mcp-protocol-version", "2025-06-18"),
            ("accept", "application/json, text/event-stream"),
        ];
        post_with_defaults(&self.http, &self.url, body, &defaults, extra).await
    }

    /// A client connection of its own to the gateway, for this session's POSTs: one TCP
    /// connection for as long as it lives (a pooled client may open others).
    pub async fn connection(&self) -> OneConnection {
        let url = reqwest::Url::parse(&self.url).expect("url");
        let address = format!(
            "{}:{}",
            url.host_str().expect("host"),
            url.port_or_known_default().expect("port")
        );
        let stream = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect");
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
        tokio::spawn(connection);
        OneConnection {
            sender,
            path: url.path().to_string(),
            host: address,
            session: self.id.clone(),
        }
    }

    /// Ends the session (DELETE): the status.
    pub async fn delete(&self) -> u16 {
        self.http
            .delete(&self.url)
            .header("mcp-session-id", &self.id)
            .send()
            .await
            .expect("DELETE")
            .status()
            .as_u16()
    }

    /// A `notifications/cancelled` for request `id`.
    pub fn cancel(&self, id: u64) -> Value {
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
               "params": {"requestId": id, "reason": "test"}})
    }
}

/// A `tools/call` request.
pub fn tool_call(id: u64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
}

/// The JSON-RPC message in a body that is either plain JSON or SSE `data:` events.
pub fn message_of(kind: &str, body: &str) -> Value {
    if kind.starts_with("text/event-stream") {
        let data = body
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(str::trim)
            .rfind(|data| !data.is_empty())
            .unwrap_or_default();
        serde_json::from_str(data).unwrap_or(Value::Null)
    } else {
        serde_json::from_str(body).unwrap_or(Value::Null)
    }
}

/// One HTTP/1.1 connection to the gateway carrying a session's POSTs.
pub struct OneConnection {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    path: String,
    host: String,
    session: String,
}

impl OneConnection {
    /// POSTs `body` on the session: (status, content type, body text).
    pub async fn post(&mut self, body: &Value) -> (u16, String, String) {
        use http_body_util::BodyExt;
        self.sender.ready().await.expect("connection ready");
        let request = http::Request::post(&self.path)
            .header("host", &self.host)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", "2025-06-18")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )))
            .expect("request");
        let response = self.sender.send_request(request).await.expect("POST");
        let status = response.status().as_u16();
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, kind, String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// A raw 2026-07-28 client: no session, the protocol version, client info and capabilities in
/// every request's `_meta`, and the SEP-2243 `Mcp-Method` / `Mcp-Name` headers.
pub struct ModernClient {
    http: reqwest::Client,
    url: String,
}

impl ModernClient {
    /// A client of the gateway at `url`.
    pub fn new(url: &str) -> ModernClient {
        ModernClient {
            http: reqwest::Client::new(),
            url: url.to_string(),
        }
    }

    /// POSTs `body` with the headers a 2026-07-28 client sends for it (`extra` overrides them;
    /// a value of `""` leaves the header out): (status, response headers, body text).
    pub async fn post(
        &self,
        body: &(impl Serialize + ?Sized),
        extra: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let message = serde_json::to_value(body).unwrap_or_default();
        let method = message["method"].as_str().unwrap_or_default();
        let name = message["params"]["name"].as_str().unwrap_or_default();
        let defaults = [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", method),
            ("mcp-name", name),
        ];
        post_with_defaults(&self.http, &self.url, body, &defaults, extra).await
    }
}

/// POSTs `body` to `url` with the `defaults` headers that `extra` does not name, then `extra`'s
/// (an empty value leaves the header out): (status, response headers, body text).
pub async fn post_with_defaults(
    http: &reqwest::Client,
    url: &str,
    body: &(impl Serialize + ?Sized),
    defaults: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = http.post(url);
    for (name, value) in defaults {
        if !extra.iter().any(|(overridden, _)| overridden == name) {
            request = request.header(*name, *value);
        }
    }
    for (name, value) in extra.iter().filter(|(_, value)| !value.is_empty()) {
        request = request.header(*name, *value);
    }
    let response = request.json(body).send().await.expect("POST");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap_or_default())
}

/// A 2026-07-28 `tools/call`, with the request metadata the revision requires.
pub fn modern_call(id: u64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}
        },
        "name": name, "arguments": arguments}})
}

/// The content type of a response.
pub fn content_type(headers: &reqwest::header::HeaderMap) -> &str {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}
