//! Parsing a meta-tool's arguments into its typed struct, with `invalid_arguments` on failure.

use rmcp::model::JsonObject;
use serde::de::DeserializeOwned;

use crate::error::GatewayError;

/// Deserialises `arguments` (unknown keys rejected by the target type) for meta-tool `tool`.
pub(super) fn parse<T: DeserializeOwned>(
    tool: &str,
    arguments: JsonObject,
) -> Result<T, GatewayError> {
    serde_json::from_value(serde_json::Value::Object(arguments)).map_err(|error| {
        GatewayError::InvalidArguments {
            tool: tool.to_string(),
            problems: vec![error.to_string()],
            signature: None,
        }
    })
}

/// `Some(s)` trimmed, or `None` when absent or blank.
pub(super) fn non_blank(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}
