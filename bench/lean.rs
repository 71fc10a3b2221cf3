//! A lean load client: a real MCP session (initialize, `Mcp-Session-Id`, the initialized
//! notification) whose calls are plain HTTP/1 POSTs of a prepared `tools/call` over a pooled
//! hyper client, as `wrk` drives a proxy. Every answer is still parsed and checked. On two
//! shared cores rmcp's client spends more CPU per call than the gateway does, and what it
//! spends is taken from the process being measured; this client spends a fraction of it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::drive::Call;

/// The protocol revision the lean client's sessions speak (the rmcp client's, too).
const PROTOCOL: &str = "2025-11-25";
/// Longest a call (or the session's opening) may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One session over a pooled keep-alive HTTP/1 client.
pub struct LeanClient {
    http: Client<HttpConnector, Full<Bytes>>,
    url: hyper::Uri,
    session: String,
    next_id: AtomicU64,
}

impl LeanClient {
    /// Opens a session with `url` (initialize, then the initialized notification).
    pub async fn connect(url: &str) -> Result<LeanClient, String> {
        let mut client = LeanClient {
            http: Client::builder(TokioExecutor::new()).build_http(),
            url: url.parse().map_err(|e| format!("{url}: {e}"))?,
            session: String::new(),
            next_id: AtomicU64::new(1),
        };
        let initialize = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "mcp-gateway-bench-lean", "version": env!("CARGO_PKG_VERSION")}
            }
        });
        let (status, headers, body) = client.post(&initialize).await?;
        if status != StatusCode::OK {
            return Err(format!("initialize {url}: HTTP {status}"));
        }
        message(&body).map_err(|e| format!("initialize {url}: {e}"))?;
        client.session = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("initialize {url}: no Mcp-Session-Id"))?
            .to_string();
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let (status, _, _) = client.post(&initialized).await?;
        if status != StatusCode::ACCEPTED {
            return Err(format!("initialized {url}: HTTP {status}"));
        }
        Ok(client)
    }

    /// Makes `call` once; a transport error, an error result or a wrong answer is an error.
    pub async fn run(&self, call: &Call) -> Result<(), String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": call.tool(), "arguments": call.arguments()}
        });
        let (status, _, body) = self.post(&request).await?;
        if status != StatusCode::OK {
            return Err(format!("{}: HTTP {status}", call.tool()));
        }
        let answer = message(&body).map_err(|e| format!("{}: {e}", call.tool()))?;
        if answer.get("id").and_then(Value::as_u64) != Some(id) {
            return Err(format!(
                "{}: the answer is not to request {id}",
                call.tool()
            ));
        }
        let Some(result) = answer.get("result") else {
            return Err(format!("{}: {answer}", call.tool()));
        };
        call.check(result)
    }

    /// Ends the session (`DELETE`), bounded; the answer does not matter.
    pub async fn end(&self) {
        let Ok(request) = Request::delete(self.url.clone())
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", PROTOCOL)
            .body(Full::new(Bytes::new()))
        else {
            return;
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), self.http.request(request)).await;
    }

    /// POSTs one JSON-RPC message; the status, headers and whole body, bounded in time.
    async fn post(&self, message: &Value) -> Result<(StatusCode, http::HeaderMap, Bytes), String> {
        let mut request = Request::post(self.url.clone())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL);
        if !self.session.is_empty() {
            request = request.header("mcp-session-id", &self.session);
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

/// The JSON-RPC message of an answer's body: the body itself (JSON), or the event of an SSE
/// stream that carries one (priming events carry none).
fn message(body: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the answer is not UTF-8".to_string())?;
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map_err(|e| format!("bad JSON answer: {e}"));
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .find(|data| data.starts_with('{'))
        .ok_or_else(|| format!("no JSON-RPC message in {text:?}"))
        .and_then(|data| serde_json::from_str(data).map_err(|e| format!("bad SSE data: {e}")))
}

#[cfg(test)]
mod tests {
    use super::message;

    #[test]
    fn the_message_is_read_from_json_and_from_the_sse_event_that_carries_it() {
        let json = br#"{"jsonrpc":"2.0","id":3,"result":{}}"#;
        assert_eq!(message(json).map(|m| m["id"].clone()), Ok(3.into()));
        let sse = b"data: \nid: 0/1\nretry: 3000\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}\nid: 1/1\n\n";
        assert_eq!(message(sse).map(|m| m["id"].clone()), Ok(4.into()));
        assert!(message(b"data: \n\n").is_err());
    }
}
