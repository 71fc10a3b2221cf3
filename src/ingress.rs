//! What every `/mcp` request must pass before rmcp sees it: an allowed `Origin` (DNS-rebinding
//! defence, as the MCP spec requires), a valid bearer token when `[server.auth]` is on, a body
//! within `server.max_body_bytes`, and a body that is JSON-RPC. Each refusal is an HTTP error with
//! a JSON-RPC error body, so any client can show what went wrong. Settings are read per request,
//! so tokens and origins rotate with a reload.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited, combinators::BoxBody};
use hyper::body::Incoming;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::ServerSettings;

/// JSON-RPC: the body is not JSON.
const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: the JSON is not a request, notification or response.
const INVALID_REQUEST: i64 = -32600;
/// Implementation-defined server error used for refusals before dispatch (auth, origin, size).
const REFUSED: i64 = -32001;

type Body = BoxBody<Bytes, Infallible>;

/// Why a request is refused; [`Refusal::into_response`] is what the client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON-RPC error code of the body.
    pub code: i64,
    /// What went wrong, for the client.
    pub message: String,
    /// `WWW-Authenticate` challenge, for 401.
    pub challenge: Option<&'static str>,
}

impl Refusal {
    fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
            challenge: None,
        }
    }

    /// The HTTP response: the status and a JSON-RPC error body with a null id.
    pub fn into_response(self) -> Response<Body> {
        let body = json!({"jsonrpc": "2.0", "id": null,
                          "error": {"code": self.code, "message": self.message}});
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// The `/mcp` allow-list of hosts in force (the configured list, or loopback names plus the bind
/// host; `None` for a wildcard bind, which cannot know its public names).
pub fn allowed_hosts(settings: &ServerSettings) -> Option<Vec<String>> {
    if let Some(hosts) = &settings.allowed_hosts {
        return Some(hosts.clone());
    }
    let host = settings.host.trim_matches(['[', ']']);
    if host == "0.0.0.0" || host == "::" {
        return None;
    }
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    if !hosts.iter().any(|h| h == host) {
        hosts.push(host.to_string());
    }
    Some(hosts)
}

/// The `Host` allow-list (DNS-rebinding defence) as rmcp applies it to `/mcp`: host compared
/// case-insensitively without IPv6 brackets, and the port only when an entry names one. `None`
/// allows every host. Used where the gateway answers a request before rmcp sees it.
#[derive(Debug, Clone)]
pub struct HostAllowList(Option<Vec<(String, Option<u16>)>>);

fn normalized_host(host: &str) -> String {
    host.trim_matches(['[', ']']).to_ascii_lowercase()
}

impl HostAllowList {
    /// The list [`allowed_hosts`] gives for these settings.
    pub fn new(settings: &ServerSettings) -> HostAllowList {
        HostAllowList(allowed_hosts(settings).map(|hosts| {
            hosts
                .iter()
                .map(|entry| entry.trim())
                .filter(|entry| !entry.is_empty())
                .map(|entry| match http::uri::Authority::try_from(entry) {
                    Ok(authority) => (normalized_host(authority.host()), authority.port_u16()),
                    Err(_) => (normalized_host(entry), None),
                })
                .collect()
        }))
    }

    /// Whether the request's `Host` (or HTTP/2 `:authority`) is allowed; a missing or malformed
    /// one is not.
    pub fn allows(&self, uri: &http::Uri, headers: &http::HeaderMap) -> bool {
        let Some(allowed) = &self.0 else {
            return true;
        };
        let authority = match headers.get(header::HOST) {
            Some(host) => host
                .to_str()
                .ok()
                .and_then(|host| http::uri::Authority::try_from(host).ok()),
            None => uri.authority().cloned(),
        };
        let Some(authority) = authority else {
            return false;
        };
        // The entries are lowercased already: compared in place, without a lowercased copy.
        let (host, port) = (
            authority.host().trim_matches(['[', ']']),
            authority.port_u16(),
        );
        allowed.is_empty()
            || allowed.iter().any(|(name, want)| {
                name.eq_ignore_ascii_case(host) && want.is_none_or(|want| Some(want) == port)
            })
    }
}

/// Checks `Origin` and the bearer token of any `/mcp` request.
pub fn check_headers<B>(request: &Request<B>, settings: &ServerSettings) -> Result<(), Refusal> {
    if let Some(origin) = request.headers().get(header::ORIGIN)
        && !origin_allowed(origin, settings)
    {
        let shown = String::from_utf8_lossy(origin.as_bytes()).into_owned();
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            REFUSED,
            format!("Origin {shown} is not allowed (server.allowed_origins)"),
        ));
    }
    if settings.auth.bearer_tokens.is_empty() {
        return Ok(());
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let (message, challenge) = match presented {
        None => (
            "authentication required: send Authorization: Bearer <token>",
            "Bearer realm=\"mcp-gateway\"",
        ),
        Some(token) if token_matches(token, settings) => return Ok(()),
        Some(_) => (
            "invalid bearer token",
            "Bearer realm=\"mcp-gateway\", error=\"invalid_token\"",
        ),
    };
    Err(Refusal {
        challenge: Some(challenge),
        ..Refusal::new(StatusCode::UNAUTHORIZED, REFUSED, message)
    })
}

/// Compares digests in constant time, so neither the content nor the length of a configured
/// token leaks through timing; every configured token is compared.
fn token_matches(presented: &str, settings: &ServerSettings) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    settings
        .auth
        .bearer_tokens
        .iter()
        .fold(subtle::Choice::from(0), |matched, token| {
            let expected = Sha256::digest(token.expose().as_bytes());
            matched | expected.as_slice().ct_eq(presented.as_slice())
        })
        .into()
}

fn origin_allowed(origin: &HeaderValue, settings: &ServerSettings) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    match &settings.allowed_origins {
        Some(allowed) => allowed
            .iter()
            .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin)),
        // Default: a page served from a host the gateway answers to (e.g. a local inspector).
        None => {
            let Ok(url) = url::Url::parse(origin) else {
                return false;
            };
            let Some(host) = url.host_str() else {
                return false;
            };
            let host = host.trim_matches(['[', ']']);
            allowed_hosts(settings).is_some_and(|hosts| hosts.iter().any(|h| h == host))
        }
    }
}

/// Reads a POST body within `limit` (`server.max_body_bytes`) bytes; returns the request rebuilt
/// around the buffered body. Whether it is JSON-RPC is [`check_json_rpc`]'s job (the direct-call
/// path parses it anyway, so the hot path parses once).
pub async fn read_body(
    request: Request<Incoming>,
    limit: usize,
) -> Result<Request<Bytes>, Refusal> {
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            INVALID_REQUEST,
            format!("request body exceeds {limit} bytes (server.max_body_bytes)"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(error) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                PARSE_ERROR,
                format!("cannot read the request body: {error}"),
            ));
        }
    };
    Ok(Request::from_parts(parts, bytes))
}

/// Accepts a JSON-RPC 2.0 message, or a non-empty batch of them; refuses anything else with
/// the JSON-RPC error that says why (-32700 not JSON, -32600 not JSON-RPC).
pub fn check_json_rpc(bytes: &[u8]) -> Result<(), Refusal> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            PARSE_ERROR,
            format!("parse error: the body is not JSON ({error})"),
        )
    })?;
    let messages = match &value {
        Value::Array(items) if !items.is_empty() => items.iter().collect(),
        Value::Object(_) => vec![&value],
        _ => Vec::new(),
    };
    let valid = !messages.is_empty() && messages.iter().all(|m| is_message(m));
    if valid {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            "invalid request: expected a JSON-RPC 2.0 message ({\"jsonrpc\":\"2.0\",\"method\":…})",
        ))
    }
}

fn is_message(message: &Value) -> bool {
    let Some(object) = message.as_object() else {
        return false;
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return false;
    }
    let id_ok = object
        .get("id")
        .is_none_or(|id| id.is_string() || id.is_i64() || id.is_u64() || id.is_null());
    match object.get("method") {
        Some(method) => method.is_string() && id_ok,
        // A response (to a server-initiated request).
        None => {
            object.contains_key("id")
                && (object.contains_key("result") || object.contains_key("error"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, EnvLookup};

    fn allow_list(toml: &str) -> HostAllowList {
        let mut file = tempfile::NamedTempFile::new().expect("config file");
        std::io::Write::write_all(&mut file, toml.as_bytes()).expect("write");
        let config = Config::load_with(Some(file.path()), &EnvLookup::default()).expect("config");
        HostAllowList::new(&config.server)
    }

    fn allows(list: &HostAllowList, host: Option<&str>) -> bool {
        let mut headers = http::HeaderMap::new();
        if let Some(host) = host {
            headers.insert(header::HOST, HeaderValue::from_str(host).expect("header"));
        }
        list.allows(&http::Uri::from_static("/mcp"), &headers)
    }

    #[test]
    fn hosts_match_without_case_brackets_or_an_unnamed_port() {
        let list = allow_list(
            "[server]\nallowed_hosts = [\"MCP.Example.com\", \"[::1]\", \"api.example.com:8443\"]\n",
        );
        for host in [
            "mcp.example.com",
            "MCP.EXAMPLE.COM:9000",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(allows(&list, Some(host)), "{host}");
        }
        for host in [
            "api.example.com",
            "api.example.com:443",
            "mcp.example.org",
            "localhost",
            "bad host",
        ] {
            assert!(!allows(&list, Some(host)), "{host}");
        }
        assert!(allows(&list, Some("API.example.com:8443")));
        assert!(!allows(&list, None), "no Host and no authority");
        // The defaults for a loopback bind: the loopback names, any port.
        let loopback = allow_list("");
        assert!(allows(&loopback, Some("LocalHost:3000")));
        assert!(allows(&loopback, Some("127.0.0.1")));
        assert!(!allows(&loopback, Some("evil.example")));
        let wildcard = allow_list("[server]\nhost = \"0.0.0.0\"\n");
        assert!(allows(&wildcard, Some("anything.example")));
    }
}
