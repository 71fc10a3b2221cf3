//! A direct call's answer on the wire, shaped as rmcp shapes it for the client's revision: the
//! JSON-RPC message, the HTTP status a 2026-07-28 client gets with it, and the response (one
//! JSON body, or an SSE stream of keep-alive comments then the answer for a long call).

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResponse, ClientCapabilities, ErrorCode, RequestId, ServerJsonRpcMessage, ServerResult,
};
use tokio_util::sync::DropGuard;

use crate::answer::{ResultText, ToolAnswer};
use crate::detach_on_drop::Panicked;

/// Interval of SSE keep-alive comments on a long call's stream.
const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A response body.
pub(super) type Body = BoxBody<Bytes, Infallible>;
/// What a call's task ends with.
pub(super) type Joined = Result<Result<ToolAnswer, McpError>, Panicked>;

/// The revision a call is answered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Era {
    /// A session of a revision before 2026-07-28: no `resultType`, no input-required results,
    /// object-only structured content, every JSON-RPC answer with status 200.
    Session,
    /// A stateless 2026-07-28 request: `resultType` on every result, and the status rmcp
    /// gives an error (400 for a header or capability problem, 404 for an unknown method).
    Modern,
}

/// The JSON-RPC answer to call `id`, serialised, and its HTTP status. An upstream's result goes
/// out as the text it came in, where rmcp's shaping for the revision would not change it.
pub(super) fn encode(answer: Joined, id: RequestId, era: Era) -> (StatusCode, Bytes) {
    if let Ok(Ok(answer)) = &answer
        && let Some(text) = answer.legacy_text()
        && let Some(bytes) = envelope(&id, text, era)
    {
        return (StatusCode::OK, bytes);
    }
    let message = match answer.map(|answer| answer.map(ToolAnswer::into_response)) {
        // The gateway never asks upstreams for tasks (it declares no task capability), so a
        // task here comes from an upstream breaking the protocol: refuse it as rmcp would.
        Ok(Ok(CallToolResponse::Task(_))) => ServerJsonRpcMessage::error(
            McpError::missing_required_client_capability(
                ClientCapabilities::builder().enable_tasks().build(),
            ),
            Some(id),
        ),
        // Sessions negotiated a revision before 2026-07-28: answer in its shape, as rmcp does.
        Ok(Ok(CallToolResponse::InputRequired(_))) if era == Era::Session => {
            ServerJsonRpcMessage::error(
                McpError::invalid_request(
                    "InputRequiredResult requires negotiated protocol version 2026-07-28 or newer",
                    None,
                ),
                Some(id),
            )
        }
        Ok(Ok(response)) => {
            let mut result = ServerResult::from(crate::answer::marked_complete(response));
            if era == Era::Session {
                result.strip_result_type_for_legacy_peer();
                result.strip_non_object_output_for_legacy_peer();
            }
            ServerJsonRpcMessage::response(result, id)
        }
        Ok(Err(mut error)) => {
            // rmcp's mapping for 2026-07-28 peers.
            if era == Era::Modern && error.code == ErrorCode::RESOURCE_NOT_FOUND {
                error.code = ErrorCode::INVALID_PARAMS;
            }
            ServerJsonRpcMessage::error(error, Some(id))
        }
        Err(panicked) => {
            tracing::error!(error = %panicked, "tool call failed inside the gateway");
            ServerJsonRpcMessage::error(
                McpError::internal_error("the tool call failed inside the gateway", None),
                Some(id),
            )
        }
    };
    let status = match (&message, era) {
        (ServerJsonRpcMessage::Error(error), Era::Modern) => modern_error_status(error.error.code),
        _ => StatusCode::OK,
    };
    match serde_json::to_vec(&message) {
        Ok(bytes) => (status, Bytes::from(bytes)),
        Err(error) => {
            tracing::error!(%error, "cannot serialise a tool call answer");
            (
                StatusCode::OK,
                Bytes::from_static(
                    br#"{"jsonrpc":"2.0","error":{"code":-32603,"message":"cannot serialise the answer"}}"#,
                ),
            )
        }
    }
}

/// The HTTP status rmcp sends a 2026-07-28 client with a JSON-RPC error of `code` (its request
/// metadata is well formed: the direct path takes no other).
fn modern_error_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
        | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
        | ErrorCode::HEADER_MISMATCH => StatusCode::BAD_REQUEST,
        ErrorCode::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

/// `{"jsonrpc":"2.0","id":…,"result":…}` around a result's JSON text (an object without
/// `resultType`); a 2026-07-28 answer gets `"resultType":"complete"` as its first member.
fn envelope(id: &RequestId, result: &ResultText, era: Era) -> Option<Bytes> {
    let members = result.members();
    let mut bytes = Vec::with_capacity(members.len() + 104);
    bytes.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    serde_json::to_writer(&mut bytes, id).ok()?;
    bytes.extend_from_slice(br#","result":"#);
    match era {
        Era::Session => {
            bytes.push(b'{');
            bytes.extend_from_slice(members.as_bytes());
        }
        Era::Modern => {
            // A result with content always has members; the check keeps the splice valid JSON.
            if members.trim_start().starts_with('}') {
                return None;
            }
            bytes.extend_from_slice(br#"{"resultType":"complete","#);
            bytes.extend_from_slice(members.as_bytes());
        }
    }
    bytes.push(b'}');
    Some(Bytes::from(bytes))
}

/// `message` as one SSE event. An upstream's text may hold line breaks between its tokens;
/// each line becomes a `data:` line of its own (the client joins them with `\n`, still JSON).
pub(super) fn sse_event(message: &[u8]) -> Bytes {
    let mut event = Vec::with_capacity(message.len() + 16);
    for line in message.split(|&b| b == b'\n') {
        event.extend_from_slice(b"data: ");
        event.extend(line.iter().filter(|&&b| b != b'\r'));
        event.push(b'\n');
    }
    event.push(b'\n');
    Bytes::from(event)
}

/// One JSON body with `status`.
pub(super) fn json_response((status, body): (StatusCode, Bytes)) -> Response<Body> {
    let length = HeaderValue::from(body.len());
    let mut response = Response::new(Full::new(body).boxed());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Stated, because the server's in-flight wrapper around the body hides its size.
    headers.insert(header::CONTENT_LENGTH, length);
    response
}

/// 202, no body: a notification taken.
pub(super) fn accepted() -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()).boxed());
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

/// What a long call's stream does besides carrying the answer.
pub(super) struct Stream<P> {
    /// Run with each keep-alive comment (a session's keep-alive).
    pub poke: Option<P>,
    /// Dropped with the stream, it cancels the call: a 2026-07-28 client that closes the
    /// stream has cancelled. Disarmed once the answer is on the stream.
    pub hang_up: Option<DropGuard>,
}

/// A long call's answer: an SSE stream of keep-alive comments (each also running the poke),
/// then the answer as one event.
pub(super) fn sse_response(
    task: tokio::task::JoinHandle<Joined>,
    id: RequestId,
    era: Era,
    stream: Stream<impl Fn() + Send + Sync + 'static>,
) -> Response<Body> {
    let frames = futures::stream::unfold(Some((task, id, stream)), move |state| async move {
        let (mut task, id, stream) = state?;
        tokio::select! {
            joined = &mut task => {
                let joined = joined.unwrap_or_else(|error| Err(Panicked(error.to_string())));
                let event = sse_event(&encode(joined, id, era).1);
                if let Some(guard) = stream.hang_up {
                    guard.disarm();
                }
                Some((Ok::<_, Infallible>(Frame::data(event)), None))
            }
            () = tokio::time::sleep(SSE_KEEP_ALIVE) => {
                if let Some(poke) = &stream.poke {
                    poke();
                }
                Some((Ok(Frame::data(Bytes::from_static(b":\n\n"))), Some((task, id, stream))))
            }
        }
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx would otherwise hold back the keep-alive comments.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::CallToolResult;
    use serde_json::{Value, json};

    fn answer_of(text: &str) -> ToolAnswer {
        let raw: Box<serde_json::value::RawValue> = serde_json::from_str(text).expect("raw");
        let result: CallToolResult = serde_json::from_str(text).expect("result");
        ToolAnswer::with_text(result, raw)
    }

    fn encoded(answer: Joined, era: Era) -> (StatusCode, Value) {
        let (status, bytes) = encode(answer, RequestId::Number(3), era);
        (status, serde_json::from_slice(&bytes).expect("JSON"))
    }

    #[test]
    fn an_answer_with_line_breaks_is_one_sse_event_of_several_data_lines() {
        let text = b"{\"result\":\r\n  {\"content\":\n[]}}";
        let event = sse_event(text);
        let event = std::str::from_utf8(&event).expect("UTF-8");
        assert!(event.ends_with("\n\n") && !event[..event.len() - 2].contains("\n\n"));
        let data: Vec<&str> = event
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .collect();
        assert_eq!(data.len(), 3, "{event:?}");
        let joined: Value = serde_json::from_str(&data.join("\n")).expect("JSON");
        assert_eq!(joined, serde_json::json!({"result": {"content": []}}));
    }

    #[test]
    fn an_upstreams_text_gets_result_type_for_2026_clients_only() {
        for text in [
            r#"{"content":[{"type":"text","text":"hi"}],"isError":false}"#,
            r#"{"resultType":"complete","content":[{"type":"text","text":"hi"}]}"#,
            r#"{ "content" : [ {"type":"text","text":"hi"} ] }"#,
        ] {
            let (status, legacy) = encoded(Ok(Ok(answer_of(text))), Era::Session);
            assert_eq!(status, StatusCode::OK);
            assert!(legacy["result"].get("resultType").is_none(), "{legacy}");
            assert_eq!(legacy["result"]["content"][0]["text"], "hi");
            let (status, modern) = encoded(Ok(Ok(answer_of(text))), Era::Modern);
            assert_eq!(status, StatusCode::OK);
            assert_eq!(modern["result"]["resultType"], "complete", "{modern}");
            let mut stripped = modern.clone();
            stripped["result"]
                .as_object_mut()
                .map(|r| r.remove("resultType"));
            assert_eq!(stripped, legacy, "only resultType differs");
        }
    }

    #[test]
    fn a_typed_result_is_marked_complete_for_2026_clients() {
        // A result of an older upstream has no resultType; rmcp's type leaves it unset.
        let result: CallToolResult =
            serde_json::from_value(json!({"content": [], "structuredContent": [1, 2]}))
                .expect("result");
        assert!(result.result_type.is_none());
        let (_, modern) = encoded(Ok(Ok(ToolAnswer::from(result.clone()))), Era::Modern);
        assert_eq!(modern["result"]["resultType"], "complete", "{modern}");
        assert_eq!(modern["result"]["structuredContent"], json!([1, 2]));
        // A session of an older revision gets the array as text, as rmcp shapes it.
        let (_, legacy) = encoded(Ok(Ok(ToolAnswer::from(result))), Era::Session);
        assert!(legacy["result"].get("resultType").is_none());
        assert!(legacy["result"].get("structuredContent").is_none());
        assert_eq!(legacy["result"]["content"][0]["text"], "[1,2]");
    }

    #[test]
    fn errors_carry_rmcps_status_for_2026_clients() {
        let cases = [
            (McpError::invalid_params("bad", None), 200, -32602),
            (
                McpError::method_not_found::<rmcp::model::CallToolRequestMethod>(),
                404,
                -32601,
            ),
            (McpError::resource_not_found("gone", None), 200, -32602),
            (McpError::header_mismatch("h", None), 400, -32020),
        ];
        for (error, status, code) in cases {
            let (got, message) = encoded(Ok(Err(error.clone())), Era::Modern);
            assert_eq!(
                (got.as_u16(), message["error"]["code"].clone()),
                (status, json!(code))
            );
            let (got, _) = encoded(Ok(Err(error)), Era::Session);
            assert_eq!(got, StatusCode::OK, "sessions: every error is 200");
        }
        let (status, message) = encoded(Err(Panicked("boom".into())), Era::Modern);
        assert_eq!(
            (status, message["error"]["code"].clone()),
            (StatusCode::OK, json!(-32603))
        );
    }

    #[test]
    fn input_required_passes_to_2026_clients_and_a_task_is_refused_in_both_eras() {
        let input: rmcp::model::InputRequiredResult =
            serde_json::from_value(json!({"resultType": "input_required", "requestState": "st"}))
                .expect("input required");
        let required = || {
            Ok(Ok(ToolAnswer::from(CallToolResponse::InputRequired(
                input.clone(),
            ))))
        };
        let (status, modern) = encoded(required(), Era::Modern);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(modern["result"]["resultType"], "input_required", "{modern}");
        assert_eq!(modern["result"]["requestState"], "st");
        let (status, legacy) = encoded(required(), Era::Session);
        assert_eq!(
            (status, legacy["error"]["code"].clone()),
            (StatusCode::OK, json!(-32600))
        );

        let task: rmcp::model::CreateTaskResult = serde_json::from_value(json!({
            "resultType": "task", "taskId": "t1", "status": "working",
            "createdAt": "2026-11-26T00:00:00Z", "lastUpdatedAt": "2026-11-26T00:00:00Z"
        }))
        .expect("task");
        let tasked = || Ok(Ok(ToolAnswer::from(CallToolResponse::Task(task.clone()))));
        let (status, modern) = encoded(tasked(), Era::Modern);
        assert_eq!(
            (status, modern["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!(-32021)),
            "{modern}"
        );
        let (status, legacy) = encoded(tasked(), Era::Session);
        assert_eq!(
            (status, legacy["error"]["code"].clone()),
            (StatusCode::OK, json!(-32021)),
            "{legacy}"
        );
    }

    #[test]
    fn a_spliced_answer_is_what_the_typed_copy_serialises_to() {
        let text =
            r#"{"content":[{"type":"text","text":"a\nb \u00e9"}],"isError":true,"_meta":{"k":1}}"#;
        let (_, spliced) = encoded(Ok(Ok(answer_of(text))), Era::Modern);
        let typed: CallToolResult = serde_json::from_str(text).expect("result");
        let (_, from_type) = encoded(
            Ok(Ok(ToolAnswer::from(CallToolResponse::Complete(typed)))),
            Era::Modern,
        );
        assert_eq!(spliced, from_type);
    }
}
