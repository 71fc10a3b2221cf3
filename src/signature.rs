//! Compact one-line signatures of upstream tools (`name(query: str, limit: int = 10)`), far
//! cheaper in tokens than a schema; shown with argument errors so a call can be fixed at once.

use serde_json::Value;

use crate::registry::ToolEntry;

/// `name(required: type, optional: type = default)`, required arguments first.
pub fn render(entry: &ToolEntry) -> String {
    let schema = &entry.tool.input_schema;
    let required: Vec<&str> = match schema.get("required") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut params = Vec::new();
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for name in &required {
            if let Some(prop) = properties.get(*name) {
                params.push(format!("{name}: {}", type_name(prop)));
            }
        }
        for (name, prop) in properties {
            if required.contains(&name.as_str()) {
                continue;
            }
            let default = prop
                .get("default")
                .map_or_else(|| "None".to_string(), Value::to_string);
            params.push(format!("{name}: {} = {default}", type_name(prop)));
        }
    }
    format!("{}({})", entry.name, params.join(", "))
}

fn type_name(schema: &Value) -> String {
    if let Some(Value::Array(values)) = schema.get("enum") {
        let shown: Vec<String> = values.iter().take(10).map(Value::to_string).collect();
        return format!("Literal[{}]", shown.join(", "));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = schema.get(key) {
            let names: Vec<String> = options.iter().map(type_name).collect();
            return names.join(" | ");
        }
    }
    match schema.get("type") {
        Some(Value::String(t)) => simple(t, schema),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .map(|t| simple(t, schema))
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".to_string(),
    }
}

fn simple(t: &str, schema: &Value) -> String {
    match t {
        "string" => "str".into(),
        "integer" => "int".into(),
        "number" => "float".into(),
        "boolean" => "bool".into(),
        "null" => "None".into(),
        "array" => match schema.get("items") {
            Some(items) => format!("list[{}]", type_name(items)),
            None => "list".into(),
        },
        "object" => "dict".into(),
        other => other.to_string(),
    }
}
