//! A tool call's answer as the gateway hands it back: rmcp's typed response, and, when the
//! upstream's result arrived as JSON text that can go out as it came, that text, so the direct
//! path sends the upstream's bytes on instead of serialising the typed copy again.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use rmcp::model::{CallToolResponse, CallToolResult, ResultType};
use serde::ser::SerializeMap;
use serde_json::value::RawValue;

/// What a meta-tool call answers with.
#[derive(Debug)]
pub struct ToolAnswer {
    /// The typed response: what rmcp's server path sends, and what metrics and logs read.
    response: CallToolResponse,
    /// The upstream's JSON text of `response`, when it may be sent instead (see [`passable`]).
    text: Option<ResultText>,
}

/// A 2026-07-28 upstream's result as rmcp's server writes it: `resultType` first.
const COMPLETE_FIRST: &str = r#"{"resultType":"complete","#;

/// The searches run over every result's text, each built once.
static RESULT_TYPE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"resultType"));
static NULL: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"null"));
static ESCAPE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\\u"));

/// An upstream result's JSON object text, and where its members start after the opening brace
/// once a leading `"resultType":"complete"` member (a 2026-07-28 upstream's, which peers of
/// older revisions do not get) is left out: the result without it is `{` and the members.
#[derive(Debug)]
pub struct ResultText {
    text: Box<RawValue>,
    /// Byte offset of the members in `text`: 1, or the end of a leading `resultType` member.
    members: usize,
}

impl ResultText {
    /// `text` whole, when it is an object.
    fn object(text: Box<RawValue>) -> Option<ResultText> {
        text.get()
            .starts_with('{')
            .then_some(ResultText { text, members: 1 })
    }

    /// The members after the opening brace as written, up to and with the closing brace; the
    /// result without `resultType` is `{` followed by them.
    pub fn members(&self) -> &str {
        let members = self.text.get().get(self.members..);
        debug_assert!(members.is_some(), "the members' offset is inside the text");
        members.unwrap_or("}")
    }

    /// The size of the result as a peer of a revision before 2026-07-28 gets it.
    pub fn legacy_len(&self) -> usize {
        1 + self.members().len()
    }
}

impl ToolAnswer {
    /// An upstream's result and the JSON text it was parsed from; the text is kept only when
    /// [`passable`], and without the `resultType` a 2026-07-28 upstream writes (rmcp drops it
    /// for older peers): as written after it when it comes first and only once, as rmcp's
    /// server writes it, else re-written without it.
    pub fn with_text(result: CallToolResult, text: Box<RawValue>) -> ToolAnswer {
        let text = match &result.result_type {
            _ if !passable(text.get()) => None,
            // What rmcp drops for older peers (its parser takes no other value here anyway).
            Some(kind) if kind.is_complete() => match text.get().strip_prefix(COMPLETE_FIRST) {
                Some(rest) if RESULT_TYPE.find(rest.as_bytes()).is_none() => Some(ResultText {
                    text,
                    members: COMPLETE_FIRST.len(),
                }),
                _ => without_result_type(text.get()).and_then(ResultText::object),
            },
            Some(_) => None,
            None => ResultText::object(text),
        };
        ToolAnswer {
            response: CallToolResponse::Complete(result),
            text,
        }
    }

    /// The typed response.
    pub fn response(&self) -> &CallToolResponse {
        &self.response
    }

    /// The typed response, the text dropped.
    pub fn into_response(self) -> CallToolResponse {
        self.response
    }

    /// The upstream's text, to send on to a peer that negotiated a revision before 2026-07-28,
    /// when rmcp's shaping for such peers would change nothing else: a complete result with
    /// content and no structured content other than an object. (Empty content may have been
    /// absent on the wire, where rmcp's typed copy says `"content": []`; such answers are sent
    /// from the typed copy.) A 2026-07-28 peer gets it with `"resultType":"complete"` first.
    pub fn legacy_text(&self) -> Option<&ResultText> {
        let CallToolResponse::Complete(result) = &self.response else {
            return None;
        };
        let plain = !result.content.is_empty()
            && result
                .structured_content
                .as_ref()
                .is_none_or(serde_json::Value::is_object);
        plain.then_some(self.text.as_ref()).flatten()
    }

    /// The size of the answer as the direct path sends it: the upstream's text when that goes
    /// out, else the typed result serialised.
    pub fn result_bytes(&self) -> usize {
        match self.legacy_text() {
            Some(text) => text.legacy_len(),
            None => crate::upstream::result_bytes(&self.response),
        }
    }
}

/// Whether an upstream's result text may go out as it came. Not when it holds a `null`
/// (rmcp's types read a null field as absent and leave it out; clients of older revisions may
/// refuse a null where a value is optional) or a UTF-16 surrogate escape (a lone one in a
/// field rmcp does not read would pass unchecked, and clients that decode every string refuse
/// the whole answer). Either only sends the answer from the typed copy, as rmcp would.
fn passable(text: &str) -> bool {
    NULL.find(text.as_bytes()).is_none() && !has_surrogate_escape(text)
}

/// A `\uD800`–`\uDFFF` escape anywhere (or text that looks like one after an escaped
/// backslash: the check errs towards the typed copy).
fn has_surrogate_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    ESCAPE.find_iter(bytes).any(|at| {
        let hex = &bytes[at + 2..];
        hex.len() >= 2
            && hex[0].eq_ignore_ascii_case(&b'd')
            && matches!(hex[1].to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b')
    })
}

/// The members of a JSON object, in order, their values as written.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Members<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(object: D) -> Result<Members<'a>, D::Error> {
        object.deserialize_map(MembersVisitor(std::marker::PhantomData))
    }
}

struct MembersVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for MembersVisitor<'a> {
    type Value = Members<'a>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut entries: A,
    ) -> Result<Members<'a>, A::Error> {
        let mut members = Vec::new();
        while let Some((key, value)) = entries.next_entry::<Cow<'a, str>, &'a RawValue>()? {
            members.push((key, value));
        }
        Ok(Members(members))
    }
}

impl serde::Serialize for Members<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The JSON object `text` without its top-level `resultType` member, every other member as
/// written; `None` when it cannot be read as an object.
fn without_result_type(text: &str) -> Option<Box<RawValue>> {
    let Members(mut members) = serde_json::from_str(text).ok()?;
    members.retain(|(key, _)| key != "resultType");
    serde_json::value::to_raw_value(&Members(members)).ok()
}

/// `response` with `resultType: "complete"` on a complete result that lacks it (an upstream of
/// a revision before 2026-07-28 writes none): 2026-07-28 requires it on every result, and rmcp
/// drops it again for peers of older revisions.
pub fn marked_complete(response: CallToolResponse) -> CallToolResponse {
    match response {
        CallToolResponse::Complete(mut result) => {
            result.result_type.get_or_insert(ResultType::COMPLETE);
            CallToolResponse::Complete(result)
        }
        other => other,
    }
}

impl From<CallToolResponse> for ToolAnswer {
    fn from(response: CallToolResponse) -> ToolAnswer {
        ToolAnswer {
            response,
            text: None,
        }
    }
}

impl From<CallToolResult> for ToolAnswer {
    fn from(result: CallToolResult) -> ToolAnswer {
        CallToolResponse::Complete(result).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ContentBlock;

    fn answer(text: &str) -> ToolAnswer {
        let raw = RawValue::from_string(text.to_string()).expect("JSON");
        let result: CallToolResult = serde_json::from_str(text).expect("a tool result");
        ToolAnswer::with_text(result, raw)
    }

    /// The result as a peer of a revision before 2026-07-28 gets it, when sent as written.
    fn legacy(answer: &ToolAnswer) -> Option<String> {
        answer
            .legacy_text()
            .map(|text| format!("{{{}", text.members()))
    }

    #[test]
    fn text_is_sent_on_only_where_rmcps_legacy_shaping_changes_nothing() {
        let plain = r#"{"content":[{"type":"text","text":"\u00e9 \ue000"}],"x-vendor":1}"#;
        assert_eq!(legacy(&answer(plain)).as_deref(), Some(plain));
        assert_eq!(answer(plain).result_bytes(), plain.len());
        let object = r#"{"content":[{"type":"text","text":"{}"}],"structuredContent":{}}"#;
        assert!(answer(object).legacy_text().is_some());
        for reshaped in [
            r#"{"content":[{"type":"text","text":"1"}],"structuredContent":1}"#,
            r#"{"content":[{"type":"text","text":"x"}],"structuredContent":null}"#,
            r#"{"structuredContent":{"a":1}}"#,
            r#"{"content":[]}"#,
            // Nulls rmcp reads as absent, surrogate escapes it may not check.
            r#"{"content":[{"type":"text","text":"x","annotations":null}],"isError":null}"#,
            r#"{"content":[{"type":"text","text":"x"}],"x-vendor":"\ud800"}"#,
            r#"{"content":[{"type":"text","text":"\uD83D\uDE00"}]}"#,
        ] {
            let answer = answer(reshaped);
            assert!(answer.legacy_text().is_none(), "{reshaped}");
            let CallToolResponse::Complete(typed) = answer.response() else {
                panic!("{reshaped}");
            };
            let typed = serde_json::to_vec(typed).expect("serialisable");
            assert_eq!(answer.result_bytes(), typed.len(), "{reshaped}");
        }
        // A 2026-07-28 upstream's `resultType` goes, every other member stays as written.
        let modern = r#"{"resultType":"complete", "content":[{"type":"text","text":"caf\u00e9"}],"x-a":{"resultType":1},"\u0078":2}"#;
        let rewritten =
            r#"{"content":[{"type":"text","text":"caf\u00e9"}],"x-a":{"resultType":1},"x":2}"#;
        assert_eq!(legacy(&answer(modern)).as_deref(), Some(rewritten));
        assert_eq!(answer(modern).result_bytes(), rewritten.len());
        // First and alone, as rmcp's server writes it: the rest goes on untouched.
        let first = r#"{"resultType":"complete","content":[{"type":"text","text":"caf\u00e9"}],"\u0078":2}"#;
        let rest = r#"{"content":[{"type":"text","text":"caf\u00e9"}],"\u0078":2}"#;
        assert_eq!(legacy(&answer(first)).as_deref(), Some(rest));
        assert_eq!(answer(first).result_bytes(), rest.len());
        // `resultType` again further on (nested here): re-written, the member at the top gone.
        let again = r#"{"resultType":"complete","content":[{"type":"text","text":"x"}],"x-a":{"resultType":1}}"#;
        assert_eq!(
            legacy(&answer(again)).as_deref(),
            Some(r#"{"content":[{"type":"text","text":"x"}],"x-a":{"resultType":1}}"#)
        );
        for text in [first, again, modern] {
            let legacy = legacy(&answer(text)).unwrap_or_default();
            let value: serde_json::Value = serde_json::from_str(&legacy).expect("valid JSON");
            assert!(value.get("resultType").is_none(), "{legacy}");
        }
        let typed: ToolAnswer = CallToolResult::success(vec![ContentBlock::text("x")]).into();
        assert!(typed.legacy_text().is_none());
    }

    #[test]
    fn surrogate_escapes_are_found_in_any_case() {
        assert!(has_surrogate_escape(r#""\ud800""#));
        assert!(has_surrogate_escape(r#""a\uDBFFb""#));
        assert!(!has_surrogate_escape(r#""\u00e9\ue000\u0064""#));
        assert!(!has_surrogate_escape(r#""ends in \u""#));
        assert!(!has_surrogate_escape(r#""\ud""#));
    }
}
