//! A tool call's answer as the gateway hands it back: rmcp's typed response, and, when the
//! upstream's result arrived as JSON text, that text, so the direct path sends the upstream's
//! bytes on instead of serialising the typed copy again.

use rmcp::model::{CallToolResponse, CallToolResult};
use serde_json::value::RawValue;

/// What a meta-tool call answers with.
#[derive(Debug)]
pub struct ToolAnswer {
    /// The typed response: what rmcp's server path sends, and what metrics and logs read.
    pub response: CallToolResponse,
    /// The upstream's JSON text of `response`, when the gateway read it as text.
    text: Option<Box<RawValue>>,
}

impl ToolAnswer {
    /// An upstream's result together with the JSON text it was parsed from.
    pub fn with_text(result: CallToolResult, text: Box<RawValue>) -> ToolAnswer {
        ToolAnswer {
            response: CallToolResponse::Complete(result),
            text: Some(text),
        }
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

    /// The size of the upstream's text, when the answer has it.
    pub fn text_len(&self) -> Option<usize> {
        self.text.as_ref().map(|text| text.get().len())
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

    #[test]
    fn text_is_sent_on_only_where_rmcps_legacy_shaping_changes_nothing() {
        let plain = r#"{"content":[{"type":"text","text":"\u00e9"}],"x-vendor":1}"#;
        assert_eq!(answer(plain).legacy_text().map(RawValue::get), Some(plain));
        let object = r#"{"content":[{"type":"text","text":"{}"}],"structuredContent":{}}"#;
        assert!(answer(object).legacy_text().is_some());
        for reshaped in [
            r#"{"content":[{"type":"text","text":"1"}],"structuredContent":1}"#,
            r#"{"content":[{"type":"text","text":"x"}],"structuredContent":null}"#,
            r#"{"content":[{"type":"text","text":"x"}],"resultType":"complete"}"#,
            r#"{"structuredContent":{"a":1}}"#,
            r#"{"content":[]}"#,
        ] {
            assert!(answer(reshaped).legacy_text().is_none(), "{reshaped}");
        }
        let typed: ToolAnswer = CallToolResult::success(vec![ContentBlock::text("x")]).into();
        assert!(typed.legacy_text().is_none());
        assert_eq!(typed.text_len(), None);
    }
}
