//! An upstream tool as listed, with what is derived from it computed once and kept for as long
//! as the listing is (across registry rebuilds): its argument validator (compiled lazily) and,
//! with the semantic ranker, its search embedding. `execute_tool` checks arguments against the
//! tool's full JSON Schema (draft from `$schema`; 2020-12 when absent, draft-07 and others when
//! declared) and reports every violation with its JSON path. A schema the validator cannot
//! compile (e.g. a remote `$ref`: nothing is fetched) is logged once and the call goes out
//! unvalidated, as the upstream will judge it anyway.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use rmcp::model::Tool;
use serde_json::Value;

/// Most violations reported for one call.
const MAX_VIOLATIONS: usize = 20;
/// Longest instance value echoed in a violation message.
const MAX_ECHO: usize = 80;

/// One listed tool and its (lazily compiled) validator.
#[derive(Debug)]
pub struct ListedTool {
    tool: Tool,
    validator: OnceLock<Option<Arc<jsonschema::Validator>>>,
    embedding: OnceLock<Arc<[f32]>>,
}

impl Deref for ListedTool {
    type Target = Tool;

    fn deref(&self) -> &Tool {
        &self.tool
    }
}

impl ListedTool {
    /// Wraps a tool from a `tools/list` answer.
    pub fn new(tool: Tool) -> Arc<ListedTool> {
        Arc::new(ListedTool {
            tool,
            validator: OnceLock::new(),
            embedding: OnceLock::new(),
        })
    }

    /// The tool's search embedding, once the semantic ranker has computed it.
    pub fn embedding(&self) -> Option<&Arc<[f32]>> {
        self.embedding.get()
    }

    /// Records the tool's search embedding (the first one set wins).
    pub fn set_embedding(&self, embedding: Arc<[f32]>) {
        let _ = self.embedding.set(embedding);
    }

    /// The tool definition.
    pub fn tool(&self) -> &Tool {
        &self.tool
    }

    fn validator(&self, domain: &str) -> Option<&Arc<jsonschema::Validator>> {
        self.validator
            .get_or_init(|| {
                let schema = Value::Object(self.tool.input_schema.as_ref().clone());
                match jsonschema::validator_for(&schema) {
                    Ok(validator) => Some(Arc::new(validator)),
                    Err(error) => {
                        tracing::warn!(domain, tool = %self.tool.name, %error,
                            "input schema cannot be compiled: calls to this tool are not validated");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// Every violation of `arguments` against the input schema, as `path: message` lines
    /// (empty when valid, or when the schema could not be compiled).
    pub fn violations(&self, domain: &str, arguments: &Value) -> Vec<String> {
        let Some(validator) = self.validator(domain) else {
            return Vec::new();
        };
        validator
            .iter_errors(arguments)
            .take(MAX_VIOLATIONS)
            .map(|error| {
                let path = error.instance_path().to_string();
                let at = if path.is_empty() {
                    "arguments".to_string()
                } else {
                    format!("arguments{path}")
                };
                format!("{at}: {}", shorten(&error.to_string()))
            })
            .collect()
    }
}

/// Cuts long messages (they echo the offending value) to a readable length.
fn shorten(message: &str) -> String {
    if message.chars().count() <= MAX_ECHO * 2 {
        return message.to_string();
    }
    let cut: String = message.chars().take(MAX_ECHO * 2).collect();
    format!("{cut}…")
}
