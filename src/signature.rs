//! Compact one-line Python-like signatures of upstream tools
//! (`crm_contacts_search(query: str, limit: int = 10) -> dict`), far cheaper in tokens than
//! schemas: shown by `discover_tools(format="signatures")` and with argument errors.

use rmcp::model::{JsonObject, Tool};
use serde_json::{Map, Value};

use crate::registry::ToolEntry;

/// Most enum values shown before `...`.
const MAX_ENUM: usize = 8;
/// Deepest nesting rendered before falling back to `dict` / `list`.
const MAX_DEPTH: usize = 3;
/// Longest description fragment appended to a signature line.
const MAX_SUMMARY: usize = 120;

/// `name(required: type, optional: type = default) -> returns`, required arguments first.
pub fn render(entry: &ToolEntry) -> String {
    render_listed(
        &entry.name,
        &entry.tool.input_schema(),
        entry.tool.output_schema().map(|s| s.as_ref()),
    )
}

/// The signature of `tool` exposed as `name`.
pub fn render_tool(name: &str, tool: &Tool) -> String {
    render_listed(
        name,
        &tool.input_schema,
        tool.output_schema.as_ref().map(|s| s.as_ref()),
    )
}

/// The signature of a tool exposed as `name` with these input and output schemas.
fn render_listed(name: &str, schema: &JsonObject, output: Option<&JsonObject>) -> String {
    let root = Value::Object(schema.clone());
    let renderer = Renderer { root: &root };
    let required: Vec<&str> = match schema.get("required") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut params = Vec::new();
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for name in &required {
            if let Some(prop) = properties.get(*name) {
                params.push(format!("{name}: {}", renderer.type_of(prop, 0)));
            }
        }
        for (name, prop) in properties {
            if required.contains(&name.as_str()) {
                continue;
            }
            let default = prop
                .get("default")
                .map_or_else(|| "None".to_string(), python_literal);
            params.push(format!("{name}: {} = {default}", renderer.type_of(prop, 0)));
        }
    }
    let mut line = format!("{name}({})", params.join(", "));
    if let Some(output) = output {
        let output = Value::Object(output.clone());
        let returns = Renderer { root: &output }.type_of(&output, 0);
        line.push_str(&format!(" -> {returns}"));
    }
    line
}

/// The signature followed by the first sentence of the description.
pub fn render_with_summary(entry: &ToolEntry) -> String {
    let summary = summary(entry.description());
    if summary.is_empty() {
        render(entry)
    } else {
        format!("{} — {summary}", render(entry))
    }
}

/// The first sentence (or line) of a description, capped.
fn summary(description: &str) -> String {
    let line = description
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let sentence = match line.find(". ") {
        Some(end) => &line[..=end],
        None => line,
    };
    if sentence.chars().count() > MAX_SUMMARY {
        let cut: String = sentence.chars().take(MAX_SUMMARY - 1).collect();
        format!("{cut}…")
    } else {
        sentence.to_string()
    }
}

fn python_literal(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => format!("{s:?}").replace('"', "'"),
        other => other.to_string(),
    }
}

struct Renderer<'a> {
    root: &'a Value,
}

impl Renderer<'_> {
    /// Resolves a local `$ref` (`#/$defs/x`, `#/definitions/x`, any JSON pointer into the root).
    fn resolve(&self, reference: &str) -> Option<&Value> {
        reference
            .strip_prefix('#')
            .and_then(|pointer| self.root.pointer(pointer))
    }

    fn type_of(&self, schema: &Value, depth: usize) -> String {
        let Some(object) = schema.as_object() else {
            return "any".into();
        };
        if depth > MAX_DEPTH {
            return "any".into();
        }
        if let Some(Value::String(reference)) = object.get("$ref") {
            return match self.resolve(reference) {
                Some(target) => self.type_of(target, depth + 1),
                None => reference.rsplit('/').next().unwrap_or("any").to_string(),
            };
        }
        if let Some(Value::Array(values)) = object.get("enum") {
            return literal(values);
        }
        if let Some(value) = object.get("const") {
            return literal(std::slice::from_ref(value));
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(options)) = object.get(key) {
                return self.union(options.iter().map(|o| self.type_of(o, depth + 1)));
            }
        }
        if let Some(Value::Array(parts)) = object.get("allOf")
            && let [only] = parts.as_slice()
        {
            return self.type_of(only, depth + 1);
        }
        match object.get("type") {
            Some(Value::String(t)) => self.simple(t, object, depth),
            Some(Value::Array(types)) => self.union(
                types
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|t| self.simple(t, object, depth)),
            ),
            _ if object.contains_key("properties") => self.simple("object", object, depth),
            _ => "any".into(),
        }
    }

    fn union(&self, parts: impl Iterator<Item = String>) -> String {
        let mut seen: Vec<String> = Vec::new();
        for part in parts {
            if !seen.contains(&part) {
                seen.push(part);
            }
        }
        // `None` last, as in `str | None`.
        seen.sort_by_key(|p| p == "None");
        seen.join(" | ")
    }

    fn simple(&self, t: &str, object: &Map<String, Value>, depth: usize) -> String {
        match t {
            "string" => "str".into(),
            "integer" => "int".into(),
            "number" => "float".into(),
            "boolean" => "bool".into(),
            "null" => "None".into(),
            "array" => match object.get("items") {
                Some(items) => format!("list[{}]", self.type_of(items, depth + 1)),
                None => "list".into(),
            },
            "object" => match object.get("properties") {
                Some(Value::Object(properties)) if !properties.is_empty() && depth < MAX_DEPTH => {
                    let required: Vec<&str> = match object.get("required") {
                        Some(Value::Array(items)) => {
                            items.iter().filter_map(Value::as_str).collect()
                        }
                        _ => Vec::new(),
                    };
                    let fields: Vec<String> = properties
                        .iter()
                        .map(|(k, v)| {
                            let optional = if required.contains(&k.as_str()) {
                                ""
                            } else {
                                "?"
                            };
                            format!("{k}{optional}: {}", self.type_of(v, depth + 1))
                        })
                        .collect();
                    format!("{{{}}}", fields.join(", "))
                }
                _ => "dict".into(),
            },
            other => other.to_string(),
        }
    }
}

fn literal(values: &[Value]) -> String {
    let mut shown: Vec<String> = values.iter().take(MAX_ENUM).map(python_literal).collect();
    if values.len() > MAX_ENUM {
        shown.push("...".into());
    }
    format!("Literal[{}]", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn signature(schema: Value) -> String {
        let Value::Object(map) = schema else {
            return String::new();
        };
        render_tool("t", &Tool::new("t", "d", Arc::new(map)))
    }

    #[test]
    fn required_first_then_optional_with_defaults() {
        let s = signature(json!({"type": "object",
            "properties": {"limit": {"type": "integer", "default": 10}, "query": {"type": "string"}, "exact": {"type": "boolean", "default": false}},
            "required": ["query"]}));
        assert_eq!(s, "t(query: str, limit: int = 10, exact: bool = False)");
    }

    #[test]
    fn optional_enum_array_and_object_types_render_properly() {
        let s = signature(json!({"type": "object", "properties": {
            "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}], "default": null},
            "status": {"enum": ["open", "closed"]},
            "ids": {"type": ["integer", "null"]},
            "owner": {"type": "object", "properties": {"email": {"type": "string"}, "age": {"type": "integer"}}, "required": ["email"]},
            "meta": {"type": "object"},
            "contact": {"$ref": "#/$defs/contact"}
        }, "$defs": {"contact": {"type": "object", "properties": {"name": {"type": "string"}}}}}));
        assert_eq!(
            s,
            "t(tags: list[str] | None = None, status: Literal['open', 'closed'] = None, ids: int | None = None, \
             owner: {email: str, age?: int} = None, meta: dict = None, contact: {name?: str} = None)"
        );
    }

    #[test]
    fn output_schema_gives_the_return_type() {
        let Value::Object(input) = json!({"type": "object"}) else {
            return;
        };
        let Value::Object(output) =
            json!({"type": "object", "properties": {"temp": {"type": "number"}}})
        else {
            return;
        };
        let mut tool = Tool::new("w", "d", Arc::new(input));
        tool.output_schema = Some(Arc::new(output));
        assert_eq!(render_tool("w", &tool), "w() -> {temp?: float}");
    }
}
