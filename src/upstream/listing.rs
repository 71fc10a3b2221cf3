//! Memory-lean `tools/list` over streamable HTTP. rmcp's client parses a whole listing into
//! `Tool`s at once (tens of MB for 10,000 tools, which the allocator then keeps) and, on
//! 2026-07-28 sessions, holds every parsed input schema for the session's life (for SEP-2243
//! `x-mcp-header` mirroring). A `tools/list` request carrying a [`ListingTap`] is instead posted
//! by the gateway's HTTP client itself: each tool is kept as its raw JSON text for the gateway to
//! convert one at a time, and rmcp receives the same answer holding only the tools that carry
//! `x-mcp-header` annotations (so its header cache stays complete) plus every other result
//! field (the cursor). Anything unusual — an error status, a JSON-RPC error, a server request on
//! the stream, a body over the limits — makes the caller fall back to rmcp's own POST, which
//! handles it exactly as without the tap (listing twice is harmless: `tools/list` is read-only).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, LazyLock, Mutex};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::header::CONNECTION;
use http::{HeaderMap, HeaderValue, StatusCode};
use rmcp::model::{ClientJsonRpcMessage, RequestId, ServerJsonRpcMessage, Tool};
use rmcp::transport::streamable_http_client::{
    HttpStatusError, StreamableHttpError, StreamableHttpResponseLimits,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::http_post::{self, EventBytes, Target, read_bounded};
use super::text_definition;
use crate::fast_hash::FastHash;
use crate::sanitize;
use crate::validation::ListedTool;

/// The mark of a SEP-2243 annotation in a tool's JSON text.
pub(super) const HEADER_ANNOTATION: &str = "x-mcp-header";
/// The method of the notification that must not be swallowed, as JSON text.
const LIST_CHANGED: &str = "\"notifications/tools/list_changed\"";

/// Bytes of a `tools/list` answer (or of an SSE event) from which reading it is worth a
/// hand-off to a rebuild thread (~500 tools of the bench's size).
const LARGE_PAGE: usize = 64 * 1024;

/// One page of a listing in order: a tool's JSON text, or `None` where the tool is in rmcp's
/// answer instead.
pub type PageSlots = Vec<Option<Box<RawValue>>>;

/// A request extension (never serialised) asking the HTTP client to fetch this `tools/list`
/// page itself; it receives the page's tools as raw JSON text.
#[derive(Debug, Clone, Default)]
pub struct ListingTap {
    /// The page in order: a tool's text, or `None` where the tool went to rmcp instead.
    kept: Arc<Mutex<Option<PageSlots>>>,
    /// Tools that must reach rmcp even without annotations now: the previous listing's
    /// annotated ones, so rmcp's header cache (which only ever inserts) is overwritten.
    to_rmcp: Arc<HashSet<Box<str>>>,
}

impl ListingTap {
    /// A tap that also hands rmcp the tools named in `to_rmcp`.
    pub fn new(to_rmcp: Arc<HashSet<Box<str>>>) -> ListingTap {
        ListingTap {
            kept: Arc::default(),
            to_rmcp,
        }
    }

    /// The page's tools in order, if the HTTP client handled the page: `Some(text)` kept here,
    /// `None` for each tool that is in rmcp's answer instead (in the same order).
    pub fn take(&self) -> Option<PageSlots> {
        self.kept.lock().ok().and_then(|mut kept| kept.take())
    }

    fn fill(&self, tools: PageSlots) {
        if let Ok(mut kept) = self.kept.lock() {
            *kept = Some(tools);
        }
    }
}

/// Where a tapped POST goes and what it carries (as rmcp would send it).
pub(super) struct Post<'a> {
    /// The endpoint, session and headers.
    pub target: Target<'a>,
    /// The `tools/list` request.
    pub message: &'a ClientJsonRpcMessage,
    /// rmcp's byte limits for answers.
    pub limits: &'a StreamableHttpResponseLimits,
}

/// Posts the tapped `tools/list` request and splits the answer: the raw tools go to `tap`, the
/// message for rmcp is returned. `Ok(None)` when anything is unusual: the caller lets rmcp post
/// it. A rate limit, a plain server error and an expired session are returned as rmcp would
/// (posting again would only add load, or fail the same way).
pub(super) async fn fetch(
    client: &reqwest::Client,
    post: Post<'_>,
    tap: &ListingTap,
) -> Result<Option<ServerJsonRpcMessage>, StreamableHttpError<reqwest::Error>> {
    // Reading a large message means reading all of it, and a large page's split allocates a
    // text for each of thousands of tools: on a rebuild thread (see `on_rebuild_threads`).
    let read = |text: &str, id: &RequestId| {
        crate::cpu_work::on_rebuild_threads(text.len() >= LARGE_PAGE, || {
            read_message(text, id, &tap.to_rmcp)
        })
    };
    Ok(fetch_answer(client, &post, read)
        .await?
        .map(|(message, tools)| {
            tap.fill(tools);
            message
        }))
}

/// What one message on a listing's answer stream is to the tap.
enum Reading<T> {
    /// The answer, read.
    Answer(T),
    /// A notification the listing does not need: read on.
    Skip,
    /// Anything else: rmcp posts the page.
    GiveUp,
}

/// The answer to the posted request as `read` reads it, or `None` to fall back.
async fn fetch_answer<T>(
    client: &reqwest::Client,
    post: &Post<'_>,
    read: impl Fn(&str, &RequestId) -> Reading<T>,
) -> Result<Option<T>, StreamableHttpError<reqwest::Error>> {
    let ClientJsonRpcMessage::Request(request) = post.message else {
        return Ok(None);
    };
    let Ok(body) = serde_json::to_vec(post.message) else {
        return Ok(None);
    };
    // The connection a large listing arrived on keeps a read buffer grown to hyper's maximum
    // (~400 KiB) for as long as it is pooled: close it instead (one handshake per listing).
    let close = HeaderMap::from_iter([(CONNECTION, HeaderValue::from_static("close"))]);
    let Ok(posted) = post.target.post(body.into(), &close) else {
        return Ok(None);
    };
    let Ok(response) = http_post::send_with(client, posted).await else {
        return Ok(None);
    };
    let status = response.status();
    let media = http_post::media_type(response.headers());
    if status == StatusCode::NOT_FOUND && post.target.session_id.is_some() {
        return Err(StreamableHttpError::SessionExpired);
    }
    let json = media == "application/json";
    if status == StatusCode::TOO_MANY_REQUESTS || (status.is_server_error() && !json) {
        let retry_after = http_post::retry_after(response.headers());
        return Err(HttpStatusError::new(status.as_u16(), retry_after).into());
    }
    if status != StatusCode::OK {
        return Ok(None);
    }
    Ok(if json {
        let limit = post.limits.max_json_response_size;
        let text = read_bounded(response.bytes_stream(), limit)
            .await
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        match text.map(|text| read(&text, &request.id)) {
            Some(Reading::Answer(answer)) => Some(answer),
            _ => None,
        }
    } else if media == "text/event-stream" {
        let limit = post.limits.max_sse_event_size;
        answer_event(response.bytes_stream(), limit, &request.id, read).await
    } else {
        None
    })
}

/// The SSE event answering `id`, as `read` reads it; the notifications it skips are skipped.
/// `None` when `read` gives up (a server request, which needs rmcp's handler, an error, another
/// id) or on an event of more than `limit` bytes.
async fn answer_event<S, E, T>(
    stream: S,
    limit: usize,
    id: &RequestId,
    read: impl Fn(&str, &RequestId) -> Reading<T>,
) -> Option<T>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let counter = EventBytes::default();
    let mut events = std::pin::pin!(http_post::sse_events(stream, limit, counter.clone()));
    while let Some(event) = events.next().await {
        counter.reset();
        let event = event.ok()?;
        if !http_post::is_message(&event) {
            continue; // an event of another type: not JSON-RPC
        }
        let Some(data) = event.data.filter(|data| !data.trim().is_empty()) else {
            continue; // a priming or keep-alive event
        };
        match read(&data, id) {
            Reading::Answer(answer) => return Some(answer),
            Reading::Skip => continue,
            Reading::GiveUp => return None,
        }
    }
    None
}

/// A message on a listing's answer stream, its result's fields as text: read in one pass,
/// which both tells the answer from a notification and splits it.
#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(default)]
    id: Option<RequestId>,
    #[serde(default, borrow)]
    method: Option<&'a RawValue>,
    #[serde(default, borrow)]
    result: Option<RawResult<'a>>,
}

/// A `tools/list` result read in one pass: each tool's text, and every other field's.
struct RawResult<'a> {
    tools: Vec<&'a RawValue>,
    others: Vec<(String, &'a RawValue)>,
}

impl<'de: 'a, 'a> Deserialize<'de> for RawResult<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ResultVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for ResultVisitor<'a> {
            type Value = RawResult<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a tools/list result")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawResult<'a>, A::Error> {
                let mut tools = None;
                let mut others = Vec::new();
                // A repeated field keeps its last value, as a map of the fields would.
                while let Some(key) = map.next_key::<String>()? {
                    if key == "tools" {
                        tools = Some(map.next_value()?);
                    } else if let Some(known) = others.iter_mut().find(|(k, _)| *k == key) {
                        known.1 = map.next_value()?;
                    } else {
                        others.push((key, map.next_value()?));
                    }
                }
                let tools = tools.ok_or_else(|| serde::de::Error::missing_field("tools"))?;
                Ok(RawResult { tools, others })
            }
        }
        deserializer.deserialize_map(ResultVisitor(std::marker::PhantomData))
    }
}

/// Whether rmcp must parse this tool: it carries `x-mcp-header` annotations (rmcp validates and
/// caches them), or it did in the previous listing (rmcp's cached schema must be replaced).
fn for_rmcp(tool: &RawValue, to_rmcp: &HashSet<Box<str>>) -> bool {
    tool.get().contains(HEADER_ANNOTATION)
        || (!to_rmcp.is_empty()
            && serde_json::from_str::<NameOnly>(tool.get())
                .is_ok_and(|named| to_rmcp.contains(named.name.as_str())))
}

/// Reads one message of the answer stream to the request `id`: the answer is split into the
/// page in order, each tool as text or `None` where it is in the message for rmcp — the same
/// answer holding only the tools [`for_rmcp`] picks. A notification is skipped, except
/// `tools/list_changed` (rmcp's handler must see it: the upstream's tools changed again).
fn read_message(
    text: &str,
    id: &RequestId,
    to_rmcp: &HashSet<Box<str>>,
) -> Reading<(ServerJsonRpcMessage, PageSlots)> {
    let Ok(message) = serde_json::from_str::<RawMessage>(text) else {
        return Reading::GiveUp;
    };
    match (&message.id, message.method, message.result) {
        (None, Some(method), _) if method.get() == LIST_CHANGED => Reading::GiveUp,
        (None, Some(_), _) => Reading::Skip, // logging, progress: nothing the listing needs
        (Some(answered), None, Some(result)) if answered == id => {
            split(answered, result, to_rmcp).map_or(Reading::GiveUp, Reading::Answer)
        }
        _ => Reading::GiveUp,
    }
}

/// Splits the answer `result` to `id` (see [`read_message`]).
fn split(
    id: &RequestId,
    result: RawResult<'_>,
    to_rmcp: &HashSet<Box<str>>,
) -> Option<(ServerJsonRpcMessage, PageSlots)> {
    let mut annotated = Vec::new();
    let mut kept = Vec::with_capacity(result.tools.len());
    for tool in result.tools {
        if for_rmcp(tool, to_rmcp) {
            annotated.push(tool);
            kept.push(None);
        } else {
            kept.push(Some(tool.to_owned()));
        }
    }
    let mut message = format!(
        r#"{{"jsonrpc":"2.0","id":{},"result":{{"#,
        serde_json::to_string(id).ok()?
    );
    for (key, value) in &result.others {
        message.push_str(&serde_json::to_string(key).ok()?);
        message.push(':');
        message.push_str(value.get());
        message.push(',');
    }
    message.push_str(r#""tools":"#);
    message.push_str(&serde_json::to_string(&annotated).ok()?);
    message.push_str("}}");
    let message: ServerJsonRpcMessage = serde_json::from_str(&message).ok()?;
    Some((message, kept))
}

/// A listed tool as it arrived: parsed by rmcp, or kept as JSON text by the listing tap (parsed
/// one at a time while the listing is stored, so a large listing never exists parsed at once).
pub(super) enum Listed {
    /// Parsed by rmcp (stdio, annotated tools, fallbacks).
    Parsed(Tool),
    /// Kept as text by the tap.
    Text(Box<RawValue>),
}

/// The process's keys for hashing listed tool texts (random, so no upstream can aim at them).
static SOURCE_KEYS: LazyLock<RandomState> = LazyLock::new(RandomState::new);

/// The hash of a listed tool's JSON text.
fn source_hash(text: &str) -> u64 {
    SOURCE_KEYS.hash_one(text)
}

/// The tool a listed text defines, or why it is not one (named when it has a name).
fn parse_text(text: &str) -> Result<Tool, String> {
    serde_json::from_str(text).map_err(|error| {
        let name = serde_json::from_str::<NameOnly>(text)
            .map_or_else(|_| "(unnamed)".to_string(), |n| n.name);
        format!("tool {name}: {error}")
    })
}

/// A tool's name, to report a definition that does not parse.
#[derive(serde::Deserialize)]
struct NameOnly {
    name: String,
}

/// The previous listing, to keep each unchanged definition's `ListedTool` (and so its compiled
/// validator and embedding) instead of building a new one.
pub(super) struct Known<'a> {
    by_name: HashMap<&'a str, &'a Arc<ListedTool>, FastHash>,
    by_source: HashMap<u64, &'a Arc<ListedTool>, FastHash>,
}

impl<'a> Known<'a> {
    /// Indexes `previous` by name and by the hash of the text each tool was listed as.
    pub(super) fn new(previous: &'a [Arc<ListedTool>]) -> Known<'a> {
        Known {
            by_name: previous.iter().map(|t| (t.name(), t)).collect(),
            by_source: previous
                .iter()
                .filter_map(|t| Some((t.source()?, t)))
                .collect(),
        }
    }

    /// The stored form of `listed`: the previous one when unchanged — for a tool listed as the
    /// very same text, without parsing it at all —, else a new one, sanitised with `cap`.
    pub(super) fn adopt(&self, listed: Listed, cap: usize) -> Result<Arc<ListedTool>, String> {
        let (fresh, source) = match listed {
            Listed::Parsed(tool) => (
                ListedTool::from_listing(sanitize::tool(tool, cap), None),
                None,
            ),
            Listed::Text(text) => {
                let source = source_hash(text.get());
                if let Some(kept) = self.by_source.get(&source) {
                    return Ok(Arc::clone(kept));
                }
                let fresh = match text_definition::read(text.get(), cap, source) {
                    Some(stored) => stored,
                    None => ListedTool::from_listing(
                        sanitize::tool(parse_text(text.get())?, cap),
                        Some(source),
                    ),
                };
                (fresh, Some(source))
            }
        };
        Ok(match self.by_name.get(fresh.name()) {
            Some(kept) if kept.same_definition(&fresh) => {
                // Same definition in new formatting: the next listing reuses it by hash.
                if let Some(source) = source {
                    kept.set_source(source);
                }
                Arc::clone(kept)
            }
            _ => fresh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ServerResult;

    fn listing(tools: &str, extra: &str) -> String {
        format!(r#"{{"jsonrpc":"2.0","id":7,"result":{{"tools":[{tools}]{extra}}}}}"#)
    }

    fn split_text(
        text: &str,
        id: &RequestId,
        to_rmcp: &HashSet<Box<str>>,
    ) -> Option<(ServerJsonRpcMessage, PageSlots)> {
        match read_message(text, id, to_rmcp) {
            Reading::Answer(answer) => Some(answer),
            Reading::Skip | Reading::GiveUp => None,
        }
    }

    /// The page `answer_event` finds in an SSE `body` (events of at most `limit` bytes).
    async fn found(body: &str, limit: usize, id: &RequestId) -> Option<PageSlots> {
        let none = HashSet::new();
        answer_event(events(body), limit, id, |text, id| {
            read_message(text, id, &none)
        })
        .await
        .map(|(_, kept)| kept)
    }

    const PLAIN: &str =
        r#"{"name":"a","inputSchema":{"type":"object","properties":{"q":{"type":"string"}}}}"#;
    const ANNOTATED: &str = r#"{"name":"b","inputSchema":{"type":"object","properties":{"r":{"type":"string","x-mcp-header":"Region"}}}}"#;

    fn listed(message: &ServerJsonRpcMessage) -> (Vec<Tool>, Option<String>) {
        let ServerJsonRpcMessage::Response(response) = message else {
            panic!("not a response: {message:?}");
        };
        let ServerResult::ListToolsResult(list) = &response.result else {
            panic!("not a listing: {response:?}");
        };
        (list.tools.clone(), list.next_cursor.clone())
    }

    #[test]
    fn plain_tools_stay_text_and_annotated_ones_reach_rmcp_with_the_cursor() {
        let text = listing(&format!("{PLAIN},{ANNOTATED}"), r#","nextCursor":"page2""#);
        let none = HashSet::new();
        let (message, kept) = split_text(&text, &RequestId::Number(7), &none).expect("split");
        assert_eq!(kept.len(), 2, "one slot per tool, in order");
        assert_eq!(kept[0].as_ref().map(|t| t.get()), Some(PLAIN));
        assert!(kept[1].is_none(), "the annotated tool is rmcp's");
        let (tools, cursor) = listed(&message);
        assert_eq!(tools.len(), 1);
        assert_eq!(tools[0].name, "b");
        assert_eq!(cursor.as_deref(), Some("page2"));
        // A tool annotated before goes to rmcp too, so its cached schema is replaced.
        let before: HashSet<Box<str>> = [Box::from("a")].into_iter().collect();
        let (message, kept) = split_text(&text, &RequestId::Number(7), &before).expect("split");
        assert!(kept.iter().all(Option::is_none));
        assert_eq!(listed(&message).0.len(), 2);
    }

    #[test]
    fn an_answer_to_another_request_or_an_error_is_not_split() {
        let text = listing(PLAIN, "");
        let none = HashSet::new();
        assert!(split_text(&text, &RequestId::Number(8), &none).is_none());
        assert!(split_text(&text, &RequestId::String("7".into()), &none).is_none());
        let error = r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"boom"}}"#;
        assert!(split_text(error, &RequestId::Number(7), &none).is_none());
        let none_listed = r#"{"jsonrpc":"2.0","id":7,"result":{"nextCursor":"x"}}"#;
        assert!(split_text(none_listed, &RequestId::Number(7), &none).is_none());
    }

    #[test]
    fn every_other_result_field_reaches_rmcp() {
        let text = listing(PLAIN, r#","_meta":{"k":[1, 2]},"nextCursor":"c\u00e9""#);
        let (message, kept) =
            split_text(&text, &RequestId::Number(7), &HashSet::new()).expect("split");
        assert_eq!(kept.len(), 1);
        let ServerJsonRpcMessage::Response(response) = message else {
            panic!("not a response");
        };
        let ServerResult::ListToolsResult(list) = response.result else {
            panic!("not a listing");
        };
        assert!(list.tools.is_empty());
        assert_eq!(list.next_cursor.as_deref(), Some("cé"));
        let meta = serde_json::to_value(&list.meta).expect("meta");
        assert_eq!(meta, serde_json::json!({"k": [1, 2]}));
        // A repeated field keeps its last value, the tools' too.
        let text = listing(PLAIN, r#","nextCursor":"a","nextCursor":"b","tools":[]"#);
        let (message, kept) =
            split_text(&text, &RequestId::Number(7), &HashSet::new()).expect("split");
        assert!(kept.is_empty(), "the last tools field");
        assert_eq!(listed(&message).1.as_deref(), Some("b"));
    }

    fn events(body: &str) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        let chunks: Vec<Result<Bytes, std::io::Error>> = body
            .as_bytes()
            .chunks(5)
            .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
            .collect();
        futures::stream::iter(chunks)
    }

    #[tokio::test]
    async fn the_answer_event_is_found_past_priming_events_and_notifications() {
        let answer = listing(PLAIN, "");
        let body = format!(
            "id: 0\ndata:\n\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{{}}}}\n\ndata: {answer}\n\n"
        );
        let kept = found(&body, 1 << 20, &RequestId::Number(7))
            .await
            .expect("found");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].as_ref().map(|t| t.get()), Some(PLAIN));
    }

    #[tokio::test]
    async fn a_server_request_an_oversized_stream_or_no_answer_gives_up() {
        let id = RequestId::Number(7);
        let request = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n\n";
        let answer = format!("data: {}\n\n", listing(PLAIN, ""));
        assert!(
            found(&format!("{request}{answer}"), 1 << 20, &id)
                .await
                .is_none()
        );
        assert!(found(&answer, 16, &id).await.is_none());
        let changed = r#"data: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;
        let with_change = format!("{changed}\n\n{answer}");
        let gave_up = found(&with_change, 1 << 20, &id).await.is_none();
        assert!(gave_up, "list_changed must reach rmcp's handler");
        assert!(found("id: 0\ndata:\n\n", 1 << 20, &id).await.is_none());
        assert!(found(&answer, 1 << 20, &id).await.is_some());
    }

    #[tokio::test]
    async fn a_large_notification_is_skipped_and_a_large_answer_found() {
        let id = RequestId::Number(7);
        let padding = "x".repeat(LARGE_PAGE);
        let progress = format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"data":"{padding}"}}}}"#
        );
        let answer = listing(PLAIN, "");
        let body = format!("data: {progress}\n\ndata: {answer}\n\n");
        let kept = found(&body, 1 << 20, &id).await.expect("found past it");
        assert_eq!(kept.len(), 1);
        let tools = LARGE_PAGE / PLAIN.len() + 1;
        let large = listing(&vec![PLAIN; tools].join(","), "");
        let kept = found(&format!("data: {large}\n\n"), 1 << 22, &id).await;
        assert_eq!(kept.map(|kept| kept.len()), Some(tools));
    }

    #[test]
    fn a_tool_text_that_is_no_definition_is_named_in_the_error() {
        assert_eq!(parse_text(PLAIN).expect("a definition").name, "a");
        let error = parse_text(r#"{"name":"broken","inputSchema":3}"#).expect_err("no definition");
        assert!(error.starts_with("tool broken: "), "{error}");
        let error = parse_text(r#"{"description":"x"}"#).expect_err("no name");
        assert!(error.starts_with("tool (unnamed): "), "{error}");
    }

    fn text(json: &str) -> Listed {
        Listed::Text(RawValue::from_string(json.into()).expect("json"))
    }

    #[test]
    fn the_same_text_keeps_its_listed_tool_and_a_changed_one_does_not() {
        let first = Known::new(&[]).adopt(text(PLAIN), 100).expect("adopted");
        assert!(first.source().is_some());
        let previous = vec![first.clone()];
        let known = Known::new(&previous);
        let again = known.adopt(text(PLAIN), 100).expect("adopted");
        assert!(Arc::ptr_eq(&first, &again), "same text, same ListedTool");
        // Same definition, other formatting: kept through the parsed comparison.
        let spaced = PLAIN.replace(':', ": ");
        let reformatted = known.adopt(text(&spaced), 100).expect("adopted");
        assert!(Arc::ptr_eq(&first, &reformatted));
        let changed = PLAIN.replace("string", "integer");
        let changed = known.adopt(text(&changed), 100).expect("adopted");
        assert!(!Arc::ptr_eq(&first, &changed));
        assert!(changed.input_schema_json().contains("integer"));
        let broken = known.adopt(text(r#"{"name":"x"}"#), 100);
        assert!(broken.is_err());
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_the_limit() {
        let body = "x".repeat(100);
        assert_eq!(
            read_bounded(events(&body), 100).await.map(|b| b.len()).ok(),
            Some(100)
        );
        assert!(matches!(
            read_bounded(events(&body), 99).await,
            Err(http_post::ReadError::TooLarge(100))
        ));
    }
}
