//! An upstream tool as listed, with what is derived from it computed once and kept for as long
//! as the listing is (across registry rebuilds): its argument validator (compiled lazily) and,
//! with the semantic ranker, its search embedding. The input schema is kept compact, as its
//! JSON text (a parsed schema costs dozens of allocations, and a gateway may hold 10,000 of
//! them); the few readers parse it when they need it. The definition's rarer fields (title,
//! annotations, output schema, icons, `_meta`) are boxed only when an upstream sets them.
//! `execute_tool` checks arguments against the tool's full JSON Schema (draft from `$schema`;
//! 2020-12 when absent, draft-07 and others when declared) and reports every violation with
//! its JSON path. A schema the validator cannot compile (e.g. a remote `$ref`: nothing is
//! fetched) is logged once and the call goes out unvalidated, as the upstream will judge it
//! anyway.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};

use rmcp::model::{JsonObject, Tool};
use serde_json::Value;

/// Most violations reported for one call.
const MAX_VIOLATIONS: usize = 20;
/// Longest instance value echoed in a violation message.
const MAX_ECHO: usize = 80;

/// One listed tool and its (lazily compiled) validator, stored compactly: a gateway may hold
/// 10,000 of these. The name is a field of its own; the description, the input schema (as
/// JSON text) and the parameter text share one string; the definition's other fields (title,
/// annotations, output schema, icons, `_meta`) are kept in a boxed `Tool` only when the
/// upstream sets any of them.
#[derive(Debug)]
pub struct ListedTool {
    /// The name the upstream knows the tool by (shared with the snapshot's entry).
    name: Arc<str>,
    /// The description, then the input schema as compact JSON, then the parameter names and
    /// descriptions, space-separated (the search index's text for them).
    texts: Box<str>,
    /// Where the description ends and the schema begins in `texts`.
    schema_start: usize,
    /// Where the schema ends and the parameter text begins in `texts`.
    schema_end: usize,
    /// Whether the tool has a description (possibly empty).
    has_description: bool,
    /// Every other field of the definition, when any is set; its name, description and input
    /// schema are empty.
    rest: Option<Box<Tool>>,
    /// Why the schema is not an object schema, if it is not.
    schema_problem: Option<Box<str>>,
    validator: OnceLock<Option<Arc<jsonschema::Validator>>>,
    #[cfg(feature = "semantic")]
    embedding: OnceLock<Arc<[f32]>>,
    /// The hash of the JSON text the upstream last listed this tool as (0: not kept as text).
    source: AtomicU64,
}

/// The empty schema a stored `Tool` points at (one allocation for all of them).
static EMPTY_SCHEMA: LazyLock<Arc<JsonObject>> = LazyLock::new(|| Arc::new(JsonObject::new()));

/// A tool with no field set: what [`strip`] leaves of a tool with nothing beyond its name,
/// description and input schema.
static BARE: LazyLock<Tool> = LazyLock::new(Tool::default);

/// A definition's texts as [`ListedTool`] stores them.
pub(crate) struct StoredTexts {
    /// The description, then the input schema as compact JSON, then the parameter text.
    pub texts: String,
    /// Where the schema is in `texts`.
    pub schema: Range<usize>,
    /// Whether the tool has a description (possibly empty).
    pub has_description: bool,
    /// Why the schema is not an object schema, if it is not.
    pub schema_problem: Option<Box<str>>,
}

/// `tool` without its name, description and input schema: what [`ListedTool`] keeps as `rest`.
fn strip(mut tool: Tool) -> Tool {
    tool.name = Cow::Borrowed("");
    tool.description = None;
    tool.input_schema = EMPTY_SCHEMA.clone();
    tool
}

/// Appends the parameter names and descriptions of a schema's `properties` to `text`,
/// space-separated.
fn push_parameter_text(text: &mut Vec<u8>, schema: &JsonObject) {
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return;
    };
    let start = text.len();
    for (name, property) in properties {
        push_parameter_part(text, start, name);
        if let Some(description) = property.get("description").and_then(Value::as_str) {
            push_parameter_part(text, start, description);
        }
    }
}

/// Appends one part of the parameter text (a parameter's name or description) to `text`, whose
/// parameter text begins at `start`; an empty part adds nothing.
pub(crate) fn push_parameter_part(text: &mut Vec<u8>, start: usize, part: &str) {
    if part.is_empty() {
        return;
    }
    if text.len() > start {
        text.push(b' ');
    }
    text.extend_from_slice(part.as_bytes());
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

impl ListedTool {
    /// Wraps a tool from a `tools/list` answer.
    pub fn new(tool: Tool) -> Arc<ListedTool> {
        ListedTool::from_listing(tool, None)
    }

    /// Wraps a tool listed as a JSON text whose hash is `source` (when known), so a later
    /// listing of the very same text can keep this one without parsing it.
    pub fn from_listing(mut tool: Tool, source: Option<u64>) -> Arc<ListedTool> {
        let description = tool.description.take();
        let schema = std::mem::replace(&mut tool.input_schema, EMPTY_SCHEMA.clone());
        let mut texts = description.as_deref().unwrap_or("").as_bytes().to_vec();
        let schema_start = texts.len();
        if serde_json::to_writer(&mut texts, schema.as_ref()).is_err() {
            texts.truncate(schema_start);
            texts.extend_from_slice(b"{}");
        }
        let schema_end = texts.len();
        push_parameter_text(&mut texts, &schema);
        // Only whole UTF-8 strings went in.
        let texts = String::from_utf8(texts).unwrap_or_default();
        let stored = StoredTexts {
            texts,
            schema: schema_start..schema_end,
            has_description: description.is_some(),
            schema_problem: schema_problem(&schema),
        };
        ListedTool::from_parts(tool, stored, source)
    }

    /// Wraps a definition whose stored texts were written without parsing the listed JSON
    /// (see `upstream::text_definition`): `rest` holds its other fields (its name is taken,
    /// its description and input schema are ignored).
    pub(crate) fn from_parts(
        mut rest: Tool,
        stored: StoredTexts,
        source: Option<u64>,
    ) -> Arc<ListedTool> {
        let name = Arc::from(std::mem::take(&mut rest.name).as_ref());
        let rest = strip(rest);
        Arc::new(ListedTool {
            name,
            texts: stored.texts.into_boxed_str(),
            schema_start: stored.schema.start,
            schema_end: stored.schema.end,
            has_description: stored.has_description,
            rest: (rest != *BARE).then(|| Box::new(rest)),
            schema_problem: stored.schema_problem,
            validator: OnceLock::new(),
            #[cfg(feature = "semantic")]
            embedding: OnceLock::new(),
            source: AtomicU64::new(source.unwrap_or(0)),
        })
    }

    /// The name the upstream knows the tool by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name, shared.
    pub fn shared_name(&self) -> &Arc<str> {
        &self.name
    }

    /// The tool's description, if it has one.
    pub fn description(&self) -> Option<&str> {
        self.has_description
            .then(|| self.texts.get(..self.schema_start).unwrap_or_default())
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
        serde_json::from_str(self.input_schema_json()).unwrap_or_default()
    }

    /// The input schema as compact JSON text.
    pub fn input_schema_json(&self) -> &str {
        self.texts
            .get(self.schema_start..self.schema_end)
            .unwrap_or_default()
    }

    /// Why the input schema is not an object schema, when it is not.
    pub fn schema_problem(&self) -> Option<&str> {
        self.schema_problem.as_deref()
    }

    /// The input schema's parameter names and descriptions, space-separated.
    pub fn parameter_text(&self) -> &str {
        self.texts.get(self.schema_end..).unwrap_or_default()
    }

    /// The output schema, if the tool declares one.
    pub fn output_schema(&self) -> Option<&Arc<JsonObject>> {
        self.rest.as_ref()?.output_schema.as_ref()
    }

    /// Whether `other` is this very definition (its derived parts aside).
    pub fn same_definition(&self, other: &ListedTool) -> bool {
        self.name == other.name
            && self.texts == other.texts
            && self.schema_start == other.schema_start
            && self.schema_end == other.schema_end
            && self.has_description == other.has_description
            && self.rest == other.rest
            && self.schema_problem == other.schema_problem
    }

    /// The tool's search embedding, once the semantic ranker has computed it (never without
    /// the `semantic` feature, whose builds store none).
    pub fn embedding(&self) -> Option<&Arc<[f32]>> {
        #[cfg(feature = "semantic")]
        return self.embedding.get();
        #[cfg(not(feature = "semantic"))]
        None
    }

    /// Records the tool's search embedding (the first one set wins; without the `semantic`
    /// feature, nothing is kept).
    pub fn set_embedding(&self, embedding: Arc<[f32]>) {
        #[cfg(feature = "semantic")]
        let _ = self.embedding.set(embedding);
        #[cfg(not(feature = "semantic"))]
        drop(embedding);
    }

    /// The tool definition as the upstream listed it, rebuilt from the stored parts.
    pub fn tool(&self) -> Tool {
        let mut tool = self.rest.as_deref().cloned().unwrap_or_default();
        tool.name = Cow::Owned(self.name.to_string());
        tool.description = self.description().map(|d| Cow::Owned(d.to_string()));
        tool.input_schema = Arc::new(self.input_schema());
        tool
    }

    fn validator(&self, domain: &str) -> Option<&Arc<jsonschema::Validator>> {
        self.validator
            .get_or_init(|| {
                let schema = Value::Object(self.input_schema());
                match jsonschema::validator_for(&schema) {
                    Ok(validator) => Some(Arc::new(validator)),
                    Err(error) => {
                        tracing::warn!(domain, tool = %self.name, %error,
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

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ToolAnnotations;
    use serde_json::json;

    fn listed(value: Value) -> Tool {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("not a tool: {e}"))
    }

    fn plain() -> Tool {
        listed(json!({
            "name": "search",
            "description": "Find records",
            "inputSchema": {"type": "object", "properties": {
                "query": {"type": "string", "description": "Words to match"},
                "limit": {"type": "integer"}
            }}
        }))
    }

    fn rich() -> Tool {
        listed(json!({
            "name": "search",
            "title": "Search",
            "description": "Find records",
            "inputSchema": {"type": "object"},
            "outputSchema": {"type": "object", "properties": {"hits": {"type": "array"}}},
            "annotations": {"readOnlyHint": true},
            "icons": [{"src": "https://example.test/i.png"}],
            "_meta": {"vendor/x": 1}
        }))
    }

    #[test]
    fn the_stored_parts_rebuild_the_listed_definition() {
        for tool in [plain(), rich()] {
            let stored = ListedTool::new(tool.clone());
            assert_eq!(stored.tool(), tool);
            assert_eq!(stored.name(), "search");
            assert_eq!(stored.description(), Some("Find records"));
            assert!(stored.same_definition(&ListedTool::new(tool.clone())));
        }
        for bare in [
            json!({"name": "bare", "inputSchema": {"type": "object"}}),
            json!({"name": "blank", "description": "", "inputSchema": {}}),
        ] {
            let tool = listed(bare);
            let stored = ListedTool::new(tool.clone());
            assert_eq!(
                stored.tool(),
                tool,
                "no description and an empty one stay apart"
            );
            assert_eq!(stored.description(), tool.description.as_deref());
            assert_eq!(stored.parameter_text(), "");
        }
        assert_eq!(
            ListedTool::new(plain()).input_schema_json(),
            serde_json::to_string(plain().input_schema.as_ref()).unwrap_or_default()
        );
        assert!(
            ListedTool::new(plain()).rest.is_none(),
            "nothing else set: no box"
        );
        assert!(ListedTool::new(rich()).output_schema().is_some());
    }

    #[test]
    fn a_change_in_any_field_is_a_different_definition() {
        let stored = ListedTool::new(rich());
        let mut retitled = rich();
        retitled.title = Some("Look up".into());
        let mut reannotated = rich();
        reannotated.annotations = Some(ToolAnnotations::new().read_only(false));
        let mut redescribed = rich();
        redescribed.description = Some("Find other records".into());
        let mut reschemed = rich();
        reschemed.input_schema = Arc::new(JsonObject::new());
        for changed in [retitled, reannotated, redescribed, reschemed] {
            assert!(
                !stored.same_definition(&ListedTool::new(changed.clone())),
                "{changed:?}"
            );
        }
        assert!(
            !ListedTool::new(plain()).same_definition(&ListedTool::new(rich())),
            "extras appear"
        );
        assert!(
            !stored.same_definition(&ListedTool::new(plain())),
            "extras vanish"
        );
    }

    #[test]
    fn parameter_text_joins_names_and_descriptions() {
        assert_eq!(
            ListedTool::new(plain()).parameter_text(),
            "query Words to match limit"
        );
        assert_eq!(ListedTool::new(rich()).parameter_text(), "");
    }
}
