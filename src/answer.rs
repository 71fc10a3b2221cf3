//! A tool call's answer as the gateway hands it back: rmcp's typed response, and, when the
//! upstream's result arrived as JSON text that can go out as it came, that text, so the direct
//! path sends the upstream's bytes on instead of serialising the typed copy again.

use rmcp::model::{CallToolResponse, CallToolResult};
use serde_json::value::RawValue;

/// What a meta-tool call answers with.
#[derive(Debug)]
pub struct ToolAnswer {
    /// The typed response: what rmcp's server path sends, and what metrics and logs read.
    response: CallToolResponse,
    /// The upstream's JSON text of `response`, when it may be sent instead (see [`passable`]).
    text: Option<Box<RawValue>>,
}

impl ToolAnswer {
    /// An upstream's result and the JSON text it was parsed from; the text is kept only when
    /// [`passable`].
    pub fn with_text(result: CallToolResult, text: Box<RawValue>) -> ToolAnswer {
        ToolAnswer {
            response: CallToolResponse::Complete(result),
            text: passable(text.get()).then_some(text),
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

    /// The upstream's text, to send on unchanged to a peer that negotiated a revision before
    /// 2026-07-28, when rmcp's shaping for such peers would leave the typed result as it is: a
    /// complete result with content, no `resultType` and no structured content other than an
    /// object. (Empty content may have been absent on the wire, where rmcp's typed copy says
    /// `"content": []`; such answers are sent from the typed copy.)
    pub fn legacy_text(&self) -> Option<&RawValue> {
        let CallToolResponse::Complete(result) = &self.response else {
            return None;
        };
        let plain = result.result_type.is_none()
            && !result.content.is_empty()
            && result
                .structured_content
                .as_ref()
                .is_none_or(serde_json::Value::is_object);
        plain.then_some(self.text.as_deref()).flatten()
    }

    /// The size of the answer as the direct path sends it: the upstream's text when that goes
    /// out, else the typed result serialised.
    pub fn result_bytes(&self) -> usize {
        match self.legacy_text() {
            Some(text) => text.get().len(),
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
    !text.contains("null") && !has_surrogate_escape(text)
}

/// A `\uD800`–`\uDFFF` escape anywhere (or text that looks like one after an escaped
/// backslash: the check errs towards the typed copy).
fn has_surrogate_escape(text: &str) -> bool {
    text.match_indices("\\u").any(|(at, _)| {
        let hex = &text.as_bytes()[at + 2..];
        hex.len() >= 2
            && hex[0].eq_ignore_ascii_case(&b'd')
            && matches!(hex[1].to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b')
    })
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

    #[test]
    fn text_is_sent_on_only_where_rmcps_legacy_shaping_changes_nothing() {
        let plain = r#"{"content":[{"type":"text","text":"\u00e9 \ue000"}],"x-vendor":1}"#;
        assert_eq!(answer(plain).legacy_text().map(RawValue::get), Some(plain));
        assert_eq!(answer(plain).result_bytes(), plain.len());
        let object = r#"{"content":[{"type":"text","text":"{}"}],"structuredContent":{}}"#;
        assert!(answer(object).legacy_text().is_some());
        for reshaped in [
            r#"{"content":[{"type":"text","text":"1"}],"structuredContent":1}"#,
            r#"{"content":[{"type":"text","text":"x"}],"structuredContent":null}"#,
            r#"{"content":[{"type":"text","text":"x"}],"resultType":"complete"}"#,
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
