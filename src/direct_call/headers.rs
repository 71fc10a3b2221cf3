//! Which POSTs the direct path may take, by their headers alone: a call on a session of a
//! revision before 2026-07-28, or a stateless 2026-07-28 `tools/call` whose SEP-2243 headers
//! are the plain ones a client writes for a meta-tool. Anything else (weighted `Accept`,
//! duplicated or Base64-wrapped headers, a session id beside a 2026-07-28 version, …) goes to
//! rmcp, which answers it, refusals included.

use http::{HeaderMap, HeaderName, header};
use rmcp::model::ProtocolVersion;
use rmcp::transport::common::http_header::BASE64_HEADER_PREFIX;

// The MCP headers read here (rmcp's names, lower-cased), as `HeaderName`s: a lookup by `&str`
// parses and lower-cases the name on every request.
/// `Mcp-Protocol-Version`.
static PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Mcp-Session-Id`.
static SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// `Mcp-Method` (SEP-2243).
static METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// `Mcp-Name` (SEP-2243).
static NAME: HeaderName = HeaderName::from_static("mcp-name");

/// Protocol revisions served with sessions (2026-07-28 has none).
const SESSION_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// How a POST the direct path may take is to be answered.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Eligible<'a> {
    /// On the session with this id, in the shape of the revision it negotiated.
    Session(&'a str),
    /// A request of a revision before 2026-07-28 to a gateway that hands out no sessions
    /// (`server.stateless`), in that revision's shape.
    Sessionless,
    /// A stateless 2026-07-28 `tools/call` whose `Mcp-Name` header is this.
    Modern(&'a str),
}

/// Whether the headers qualify for the direct path, and in which era; `stateless` says that
/// the server hands out no sessions.
pub(super) fn eligible(headers: &HeaderMap, stateless: bool) -> Option<Eligible<'_>> {
    if !accepts_json_and_sse(headers) || !is_json_content(headers) {
        return None;
    }
    match sole(headers, &PROTOCOL_VERSION) {
        Some(version) if version == ProtocolVersion::V_2026_07_28.as_str() => modern(headers),
        Some(version) if SESSION_VERSIONS.contains(&version) => legacy(headers, stateless),
        // Absent: the session's own revision (rmcp's default without sessions). Unknown,
        // repeated or not text: rmcp's to refuse.
        None if !headers.contains_key(&PROTOCOL_VERSION) => legacy(headers, stateless),
        _ => None,
    }
}

/// A call of a revision before 2026-07-28: no SEP-2243 headers (those belong to 2026-07-28),
/// and one session id, or none when the server hands out none.
fn legacy(headers: &HeaderMap, stateless: bool) -> Option<Eligible<'_>> {
    if headers.contains_key(&METHOD) || headers.contains_key(&NAME) {
        return None;
    }
    if stateless {
        return (!headers.contains_key(&SESSION_ID)).then_some(Eligible::Sessionless);
    }
    sole(headers, &SESSION_ID).map(Eligible::Session)
}

/// A 2026-07-28 `tools/call`: no session, one `Mcp-Method: tools/call`, one `Mcp-Name` as
/// written (a Base64-wrapped one is rmcp's to decode; no meta-tool name needs it).
fn modern(headers: &HeaderMap) -> Option<Eligible<'_>> {
    if headers.contains_key(&SESSION_ID) || sole(headers, &METHOD)? != "tools/call" {
        return None;
    }
    let name = sole(headers, &NAME)?;
    (!name.starts_with(BASE64_HEADER_PREFIX)).then_some(Eligible::Modern(name))
}

/// The header's value when it appears exactly once, as visible ASCII.
fn sole<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?.to_str().ok()?;
    values.next().is_none().then_some(value)
}

/// `Accept` lists both `application/json` and `text/event-stream`, with no quality weights or
/// quoted parameters (those are left to rmcp's full parser).
fn accepts_json_and_sse(headers: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        if value.contains('"') {
            return false;
        }
        for entry in value.split(',') {
            let mut parts = entry.split(';');
            let essence = parts.next().unwrap_or("").trim();
            // A weight in any spelling (`q=0`, `Q = 0.5`): rmcp's parser reads those.
            let weighted = parts.any(|p| {
                p.split('=')
                    .next()
                    .is_some_and(|name| name.trim().eq_ignore_ascii_case("q"))
            });
            if weighted {
                return false;
            }
            json |= essence.eq_ignore_ascii_case("application/json");
            sse |= essence.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && sse
}

fn is_json_content(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let essence = v.split(';').next().unwrap_or("");
            essence.trim().eq_ignore_ascii_case("application/json")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        map.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_header_names_are_rmcps() {
        use rmcp::transport::common::http_header as rmcp_names;
        for (ours, theirs) in [
            (
                &super::PROTOCOL_VERSION,
                rmcp_names::HEADER_MCP_PROTOCOL_VERSION,
            ),
            (&super::SESSION_ID, rmcp_names::HEADER_SESSION_ID),
            (&super::METHOD, rmcp_names::HEADER_MCP_METHOD),
            (&super::NAME, rmcp_names::HEADER_MCP_NAME),
        ] {
            assert_eq!(http::HeaderName::try_from(theirs).ok().as_ref(), Some(ours));
        }
    }

    /// Eligibility on a server with sessions.
    fn eligible_(headers: &HeaderMap) -> Option<Eligible<'_>> {
        eligible(headers, false)
    }

    const MODERN: [(&str, &str); 3] = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "execute_tool"),
    ];

    #[test]
    fn a_plain_2026_call_is_taken_with_its_name() {
        assert_eq!(
            eligible_(&headers(&MODERN)),
            Some(Eligible::Modern("execute_tool"))
        );
    }

    #[test]
    fn a_session_call_is_taken_with_its_id() {
        for version in SESSION_VERSIONS {
            let mut map = headers(&[("mcp-session-id", "s1")]);
            map.insert(
                "mcp-protocol-version",
                HeaderValue::from_str(version).expect("ascii"),
            );
            assert_eq!(eligible_(&map), Some(Eligible::Session("s1")), "{version}");
        }
        assert_eq!(
            eligible_(&headers(&[("mcp-session-id", "s1")])),
            Some(Eligible::Session("s1")),
            "no version header: the session's own"
        );
    }

    #[test]
    fn without_sessions_a_legacy_call_is_taken_without_an_id() {
        for version in SESSION_VERSIONS {
            let mut map = headers(&[]);
            map.insert(
                "mcp-protocol-version",
                HeaderValue::from_str(version).expect("ascii"),
            );
            assert_eq!(
                eligible(&map, true),
                Some(Eligible::Sessionless),
                "{version}"
            );
        }
        let plain = headers(&[("mcp-protocol-version", "2025-11-25")]);
        assert_eq!(eligible(&headers(&[]), true), Some(Eligible::Sessionless));
        assert_eq!(eligible(&plain, false), None, "with sessions it needs one");
        assert_eq!(
            eligible(&headers(&MODERN), true),
            Some(Eligible::Modern("execute_tool"))
        );
        for pairs in [
            &[("mcp-session-id", "s1")][..],
            &[("mcp-method", "tools/call")],
            &[("mcp-name", "execute_tool")],
            &[("mcp-protocol-version", "2099-01-01")],
            &[
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-protocol-version", "2025-11-25"),
            ],
        ] {
            assert_eq!(eligible(&headers(pairs), true), None, "{pairs:?}");
        }
    }

    #[test]
    fn anything_unusual_is_left_to_rmcp() {
        let cases: [&[(&str, &str)]; 14] = [
            // 2026-07-28 with a session id, or without or with a different method or name.
            &[MODERN[0], MODERN[1], MODERN[2], ("mcp-session-id", "s1")],
            &[MODERN[0], MODERN[2]],
            &[MODERN[0], MODERN[1]],
            &[MODERN[0], ("mcp-method", "tools/list"), MODERN[2]],
            // Duplicates, even when they agree.
            &[MODERN[0], MODERN[1], MODERN[1], MODERN[2]],
            &[MODERN[0], MODERN[1], MODERN[2], MODERN[2]],
            &[MODERN[0], MODERN[0], MODERN[1], MODERN[2]],
            // A Base64-wrapped name, or one that only starts like one.
            &[
                MODERN[0],
                MODERN[1],
                ("mcp-name", "=?base64?ZXhlY3V0ZV90b29s?="),
            ],
            &[MODERN[0], MODERN[1], ("mcp-name", "=?base64?execute_tool")],
            // A session-era version header twice, even the same one.
            &[
                ("mcp-session-id", "s1"),
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-protocol-version", "2025-11-25"),
            ],
            // Sessions: SEP-2243 headers, two ids, none, an unknown version.
            &[("mcp-session-id", "s1"), ("mcp-method", "tools/call")],
            &[("mcp-session-id", "s1"), ("mcp-session-id", "s2")],
            &[("mcp-protocol-version", "2025-06-18")],
            &[
                ("mcp-session-id", "s1"),
                ("mcp-protocol-version", "2099-01-01"),
            ],
        ];
        for pairs in cases {
            assert_eq!(eligible_(&headers(pairs)), None, "{pairs:?}");
        }
        for accept in [
            "application/json;q=0.9, text/event-stream",
            "application/json, text/event-stream; q =0",
            "application/json;Q=1, text/event-stream",
        ] {
            let mut weighted = headers(&MODERN);
            weighted.insert(header::ACCEPT, HeaderValue::from_static(accept));
            assert_eq!(eligible_(&weighted), None, "{accept}");
        }
        let mut parameter = headers(&MODERN);
        parameter.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json;charset=utf-8, text/event-stream;qs=1"),
        );
        assert!(
            eligible_(&parameter).is_some(),
            "a parameter that is not a weight"
        );
        let mut only_json = headers(&MODERN);
        only_json.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert_eq!(eligible_(&only_json), None);
        let mut text = headers(&MODERN);
        text.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(eligible_(&text), None);
    }
}
