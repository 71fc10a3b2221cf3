//! An upstream tool as listed, with what is derived from it computed once and kept for as long
//! as the listing is (across registry rebuilds): its argument validator (compiled lazily) and,
//! with the semantic ranker, its search embedding. The input schema is kept compact, as its
//! JSON text (a parsed schema costs dozens of allocations, and a gateway may hold 10,000 of
//! them); the few readers parse it when they need it. `execute_tool` checks arguments against the
//! tool's full JSON Schema (draft from `$schema`; 2020-12 when absent, draft-07 and others when
//! declared) and reports every violation with its JSON path. A schema the validator cannot
//! compile (e.g. a remote `$ref`: nothing is fetched) is logged once and the call goes out
//! unvalidated, as the upstream will judge it anyway.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};

use rmcp::model::{JsonObject, Tool};
use serde_json::Value;

/// Most violations reported for one call.
const MAX_VIOLATIONS: usize = 20;
/// Longest instance value echoed in a violation message.
const MAX_ECHO: usize = 80;

/// One listed tool and its (lazily compiled) validator. Its `Tool` holds an empty input schema:
/// read the schema with [`ListedTool::input_schema`].
#[derive(Debug)]
pub struct ListedTool {
    tool: Tool,
    /// The input schema as compact JSON.
    schema: Box<str>,
    /// Why the schema is not an object schema, if it is not.
    schema_problem: Option<Box<str>>,
    /// Parameter names and descriptions, for the search index.
    parameters: Box<[Parameter]>,
    validator: OnceLock<Option<Arc<jsonschema::Validator>>>,
    embedding: OnceLock<Arc<[f32]>>,
    /// The hash of the JSON text the upstream last listed this tool as (0: not kept as text).
    source: AtomicU64,
}

/// The empty schema every stored `Tool` points at (one allocation for all of them).
static EMPTY_SCHEMA: LazyLock<Arc<JsonObject>> = LazyLock::new(|| Arc::new(JsonObject::new()));

/// One parameter of an input schema: its name and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// The property name.
    pub name: Box<str>,
    /// Its `description`, if any.
    pub description: Option<Box<str>>,
}

/// Parameter names and descriptions of a schema's `properties`.
fn parameters(schema: &JsonObject) -> Box<[Parameter]> {
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return Box::new([]);
    };
    properties
        .iter()
        .map(|(name, property)| {
            let description = property
                .get("description")
                .and_then(Value::as_str)
                .map(Box::from);
            Parameter {
                name: Box::from(name.as_str()),
                description,
            }
        })
        .collect()
}

/// An input schema must describe an object (MCP requires `"type": "object"`); a missing `type`
/// is accepted, as clients commonly treat it as an object.
fn schema_problem(schema: &JsonObject) -> Option<Box<str>> {
    match schema.get("type") {
        None => None,
        Some(Value::String(t)) if t == "object" => None,
        Some(other) => Some(format!("inputSchema type must be \"object\", not {other}").into()),
    }
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
        ListedTool::from_listing(tool, None)
    }

    /// Wraps a tool listed as a JSON text whose hash is `source` (when known), so a later
    /// listing of the very same text can keep this one without parsing it.
    pub fn from_listing(tool: Tool, source: Option<u64>) -> Arc<ListedTool> {
        let mut tool = tool;
        let schema = std::mem::replace(&mut tool.input_schema, EMPTY_SCHEMA.clone());
        Arc::new(ListedTool {
            tool,
            schema: serde_json::to_string(schema.as_ref())
                .unwrap_or_else(|_| "{}".into())
                .into(),
            schema_problem: schema_problem(&schema),
            parameters: parameters(&schema),
            validator: OnceLock::new(),
            embedding: OnceLock::new(),
            source: AtomicU64::new(source.unwrap_or(0)),
        })
    }

    /// The hash of the JSON text this tool was last listed as, if it was kept as text.
    pub fn source(&self) -> Option<u64> {
        Some(self.source.load(Ordering::Relaxed)).filter(|&hash| hash != 0)
    }

    /// Records that this definition was just listed as a text hashing to `source`.
    pub fn set_source(&self, source: u64) {
        self.source.store(source, Ordering::Relaxed);
    }

    /// The input schema, parsed from its stored text.
    pub fn input_schema(&self) -> JsonObject {
        serde_json::from_str(&self.schema).unwrap_or_default()
    }

    /// The input schema as compact JSON text.
    pub fn input_schema_json(&self) -> &str {
        &self.schema
    }

    /// Why the input schema is not an object schema, when it is not.
    pub fn schema_problem(&self) -> Option<&str> {
        self.schema_problem.as_deref()
    }

    /// The input schema's parameter names and descriptions.
    pub fn parameters(&self) -> &[Parameter] {
        &self.parameters
    }

    /// Whether `tool` (as an upstream lists it) is this very definition.
    pub fn same_as(&self, tool: &Tool) -> bool {
        let mut without_schema = tool.clone();
        without_schema.input_schema = EMPTY_SCHEMA.clone();
        without_schema == self.tool
            && serde_json::to_string(tool.input_schema.as_ref())
                .is_ok_and(|text| *text == *self.schema)
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
                let schema = Value::Object(self.input_schema());
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
