//! A lean load client: a real MCP session (initialize, `Mcp-Session-Id`, the initialized
//! notification) whose calls are plain HTTP/1 POSTs of a prepared `tools/call` over a pooled
//! hyper client, as `wrk` drives a proxy; or a sessionless 2026-07-28 client (`server/discover`,
//! then every request with its `_meta` and the SEP-2243 headers). Every answer is still parsed
//! and checked. On two shared cores rmcp's client spends more CPU per call than the gateway
//! does, and what it spends is taken from the process being measured; this client spends a
//! fraction of it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::drive::Call;

/// The protocol revision the lean client's sessions speak (the rmcp client's, too).
const PROTOCOL: &str = "2025-11-25";
/// The sessionless revision.
const MODERN: &str = "2026-07-28";
/// Longest a call (or the session's opening) may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One session over a pooled keep-alive HTTP/1 client.
pub struct LeanClient {
    http: Client<HttpConnector, Full<Bytes>>,
    url: hyper::Uri,
    /// The session's id; empty without one (2026-07-28).
    session: String,
    /// The revision every request names.
    protocol: &'static str,
    /// What every 2026-07-28 request carries in `params._meta`; `None` on a session.
    stamp: Option<Value>,
    next_id: AtomicU64,
}

impl LeanClient {
    /// Opens a session with `url` (initialize, then the initialized notification).
    pub async fn connect(url: &str) -> Result<LeanClient, String> {
        // As reqwest (rmcp's client) sets its sockets.
        let mut client = LeanClient::new(url, PROTOCOL, None)?;
        let initialize = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "mcp-gateway-bench-lean", "version": env!("CARGO_PKG_VERSION")}
            }
        });
        let (status, headers, body) = client.post(&initialize, None).await?;
        if status != StatusCode::OK {
            return Err(format!("initialize {url}: HTTP {status}"));
        }
        let answer =
            answer_to(messages(body).await?, 0).map_err(|e| format!("initialize {url}: {e}"))?;
        let version = answer.pointer("/result/protocolVersion");
        client.session = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("initialize {url}: no Mcp-Session-Id"))?
            .to_string();
        if version.and_then(Value::as_str) != Some(PROTOCOL) {
            client.end().await;
            return Err(format!(
                "initialize {url}: negotiated {version:?}, not {PROTOCOL}: {answer}"
            ));
        }
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let (status, _, _) = client.post(&initialized, None).await?;
        if status != StatusCode::ACCEPTED {
            client.end().await;
            return Err(format!("initialized {url}: HTTP {status}"));
        }
        Ok(client)
    }

    /// A sessionless 2026-07-28 client of `url`: `server/discover` must list that revision.
    pub async fn connect_modern(url: &str) -> Result<LeanClient, String> {
        let stamp = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientInfo":
                {"name": "mcp-gateway-bench-lean", "version": env!("CARGO_PKG_VERSION")},
            "io.modelcontextprotocol/clientCapabilities": {},
        });
        let client = LeanClient::new(url, MODERN, Some(stamp.clone()))?;
        let discover = json!({
            "jsonrpc": "2.0", "id": 0, "method": "server/discover", "params": {"_meta": stamp}
        });
        let (status, _, body) = client
            .post(&discover, Some(("server/discover", None)))
            .await?;
        if status != StatusCode::OK {
            return Err(format!("discover {url}: HTTP {status}"));
        }
        let answer =
            answer_to(messages(body).await?, 0).map_err(|e| format!("discover {url}: {e}"))?;
        let supported = answer
            .pointer("/result/supportedVersions")
            .and_then(Value::as_array)
            .is_some_and(|versions| versions.iter().any(|v| v.as_str() == Some(MODERN)));
        if !supported {
            return Err(format!("discover {url}: {MODERN} not offered: {answer}"));
        }
        Ok(client)
    }

    fn new(url: &str, protocol: &'static str, stamp: Option<Value>) -> Result<LeanClient, String> {
        // As reqwest (rmcp's client) sets its sockets.
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Ok(LeanClient {
            http: Client::builder(TokioExecutor::new()).build(connector),
            url: url.parse().map_err(|e| format!("{url}: {e}"))?,
            session: String::new(),
            protocol,
            stamp,
            next_id: AtomicU64::new(1),
        })
    }

    /// Makes `call` once; a transport error, an error result or a wrong answer is an error.
    pub async fn run(&self, call: &Call) -> Result<(), String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut params = json!({"name": call.tool(), "arguments": call.arguments()});
        if let Some(stamp) = &self.stamp {
            params["_meta"] = stamp.clone();
        }
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
        // SEP-2243: a 2026-07-28 request names its method (and tool) in headers too.
        let headers = self
            .stamp
            .is_some()
            .then_some(("tools/call", Some(call.tool())));
        let (status, _, body) = self.post(&request, headers).await?;
        if status != StatusCode::OK {
            return Err(format!("{}: HTTP {status}", call.tool()));
        }
        let answer =
            answer_to(messages(body).await?, id).map_err(|e| format!("{}: {e}", call.tool()))?;
        let Some(result) = answer.get("result") else {
            return Err(format!("{}: {answer}", call.tool()));
        };
        call.check(result)
    }

    /// Ends the session (`DELETE`), bounded; the answer does not matter. Without a session,
    /// nothing to end.
    pub async fn end(&self) {
        if self.session.is_empty() {
            return;
        }
        let Ok(request) = Request::delete(self.url.clone())
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", self.protocol)
            .body(Full::new(Bytes::new()))
        else {
            return;
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), self.http.request(request)).await;
    }

    /// POSTs one JSON-RPC message (with `Mcp-Method` and, when named, `Mcp-Name`: `mcp`); the
    /// status, headers and whole body, bounded in time.
    async fn post(
        &self,
        message: &Value,
        mcp: Option<(&str, Option<&str>)>,
    ) -> Result<(StatusCode, http::HeaderMap, Bytes), String> {
        let mut request = Request::post(self.url.clone())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", self.protocol);
        if !self.session.is_empty() {
            request = request.header("mcp-session-id", &self.session);
        }
        if let Some((method, name)) = mcp {
            request = request.header("mcp-method", method);
            if let Some(name) = name {
                request = request.header("mcp-name", name);
            }
        }
        let request = request
            .body(Full::new(Bytes::from(message.to_string())))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((parts.status, parts.headers, body.to_bytes()))
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("no answer within {CALL_TIMEOUT:?}"))?
    }
}

/// The JSON-RPC messages of an answer's body: the body itself (JSON), or the data of each SSE
/// event that carries one (priming events carry none), read by the gateway's SSE parser.
async fn messages(body: Bytes) -> Result<Vec<Value>, String> {
    if body.trim_ascii_start().starts_with(b"{") {
        return serde_json::from_slice(&body)
            .map(|message| vec![message])
            .map_err(|e| format!("bad JSON answer: {e}"));
    }
    let mut events = sse_stream_03::SseStream::new(Full::new(body));
    let mut found = Vec::new();
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| format!("bad SSE stream: {e}"))?;
        if let Some(data) = event.data.filter(|data| !data.trim().is_empty()) {
            found.push(serde_json::from_str(&data).map_err(|e| format!("bad SSE data: {e}"))?);
        }
    }
    Ok(found)
}

/// The answer to request `id` among `messages` (notifications and requests may come first).
fn answer_to(messages: Vec<Value>, id: u64) -> Result<Value, String> {
    let count = messages.len();
    messages
        .into_iter()
        .find(|message| message.get("id").and_then(Value::as_u64) == Some(id))
        .ok_or_else(|| format!("no answer to request {id} among {count} messages"))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::{answer_to, messages};

    async fn answer(body: &'static [u8], id: u64) -> Result<serde_json::Value, String> {
        answer_to(messages(Bytes::from_static(body)).await?, id)
    }

    #[tokio::test]
    async fn the_answer_is_read_from_json_and_from_the_sse_event_that_carries_it() {
        let json = br#"{"jsonrpc":"2.0","id":3,"result":{}}"#;
        assert_eq!(answer(json, 3).await.map(|m| m["id"].clone()), Ok(3.into()));
        assert!(
            answer(json, 4).await.is_err(),
            "an answer to another request"
        );
        let sse = b"data: \nid: 0/1\nretry: 3000\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}\nid: 1/1\n\n";
        assert_eq!(answer(sse, 4).await.map(|m| m["id"].clone()), Ok(4.into()));
        assert!(
            answer(b"data: \n\n", 4).await.is_err(),
            "a priming event only"
        );
    }

    #[tokio::test]
    async fn sse_data_over_several_lines_crlf_and_a_notification_first_are_read() {
        let sse = b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\r\n\r\n\
data: {\"jsonrpc\":\"2.0\",\r\ndata: \"id\":5,\r\ndata: \"result\":{\"content\":[]}}\r\n\r\n";
        let found = answer(sse, 5).await;
        assert_eq!(
            found.map(|m| m["result"].clone()),
            Ok(serde_json::json!({"content": []}))
        );
    }
}
