//! execute_tool validates arguments against the full JSON Schema: nested objects, `$ref`/`$defs`,
//! `anyOf`, draft-07 `definitions`; every violation with its path; uncompilable schemas fall
//! back to dispatching unvalidated; names fastmcp-gateway dropped all work.

use std::sync::Arc;

use rmcp::model::Tool;
use serde_json::{Value, json};

use crate::support::*;

fn tool(name: &str, schema: Value) -> Tool {
    let Value::Object(map) = schema else {
        panic!("schema must be an object")
    };
    Tool::new(name.to_string(), format!("test tool {name}"), Arc::new(map))
}

fn catalog() -> Vec<Tool> {
    vec![
        tool(
            "create_deal",
            json!({
                "type": "object",
                "$defs": {"contact": {"type": "object",
                    "properties": {"email": {"type": "string"}, "name": {"type": "string"}},
                    "required": ["email"]}},
                "properties": {
                    "title": {"type": "string", "minLength": 3},
                    "amount": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}]},
                    "contacts": {"type": "array", "items": {"$ref": "#/$defs/contact"}},
                    "stage": {"enum": ["lead", "won", "lost"]}
                },
                "required": ["title", "contacts"]
            }),
        ),
        tool(
            "legacy_draft7",
            json!({
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "definitions": {"level": {"type": "integer", "maximum": 5}},
                "properties": {"level": {"$ref": "#/definitions/level"}},
                "required": ["level"]
            }),
        ),
        tool(
            "remote_ref",
            json!({
                "type": "object",
                "properties": {"x": {"$ref": "https://schemas.invalid/x.json"}}
            }),
        ),
        tool("list", json!({"type": "object"})),
        tool("type", json!({"type": "object"})),
        tool("format", json!({"type": "object"})),
        tool("get-weather", json!({"type": "object"})),
        tool("files.read", json!({"type": "object"})),
        tool(
            "deeply_nested",
            json!({"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "object",
            "properties": {"c": {"type": "array", "items": {"type": "object", "properties": {"d": {"type": "integer"}}}}}}}}}}),
        ),
    ]
}

async fn setup() -> (HttpUpstream, TestGateway, Client) {
    let up = HttpUpstream::start(TestUpstream::with_tools("crm", catalog())).await;
    let gateway = TestGateway::start(&http_table("crm", &up.url())).await;
    let client = gateway.client().await;
    (up, gateway, client)
}

async fn problems(client: &Client, tool: &str, arguments: Value) -> Vec<String> {
    let result = call(
        client,
        "execute_tool",
        json!({"tool_name": tool, "arguments": arguments}),
    )
    .await;
    assert_eq!(error_code(&result), "invalid_arguments", "{result:?}");
    let body = json_of(&result);
    assert!(
        body["details"]["signature"]
            .as_str()
            .is_some_and(|s| s.starts_with(tool))
    );
    body["details"]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p.as_str().map(String::from))
        .collect()
}

#[tokio::test]
async fn every_violation_of_a_nested_ref_schema_is_reported_with_its_path() {
    let (up, gateway, client) = setup().await;
    let found = problems(
        &client,
        "create_deal",
        json!({
            "title": "x", "amount": -5, "contacts": [{"name": "Ada"}], "stage": "maybe"
        }),
    )
    .await;
    let paths: Vec<&str> = found.iter().filter_map(|p| p.split(':').next()).collect();
    for path in [
        "arguments/title",
        "arguments/amount",
        "arguments/contacts/0",
        "arguments/stage",
    ] {
        assert!(paths.contains(&path), "no problem at {path}: {found:#?}");
    }
    let ok = call(&client, "execute_tool", json!({"tool_name": "create_deal", "arguments": {
        "title": "Big deal", "amount": null, "contacts": [{"email": "ada@example.com"}], "stage": "won"
    }})).await;
    assert_eq!(text_of(&ok), "create_deal ok");
    assert_eq!(
        up.server
            .stats
            .calls
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "invalid calls never reached the upstream"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn draft_07_definitions_and_deep_schemas_are_validated() {
    let (_up, gateway, client) = setup().await;
    let found = problems(&client, "legacy_draft7", json!({"level": 9})).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("arguments/level:") && found[0].contains('5'),
        "{found:?}"
    );
    let found = problems(
        &client,
        "deeply_nested",
        json!({"a": {"b": {"c": [{"d": 1}, {"d": "two"}]}}}),
    )
    .await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("arguments/a/b/c/1/d:"), "{found:?}");
    gateway.stop().await;
}

#[tokio::test]
async fn an_uncompilable_schema_is_dispatched_unvalidated_and_odd_names_work() {
    let (_up, gateway, client) = setup().await;
    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "remote_ref", "arguments": {"x": 1}}),
    )
    .await;
    assert_eq!(
        text_of(&result),
        "remote_ref ok",
        "a remote $ref is never fetched; the call goes through"
    );
    for (exposed, original) in [
        ("list", "list"),
        ("type", "type"),
        ("format", "format"),
        ("get-weather", "get-weather"),
        ("files_read", "files.read"),
    ] {
        let result = call(&client, "execute_tool", json!({"tool_name": exposed})).await;
        assert_eq!(text_of(&result), format!("{original} ok"));
    }
    let summary = json_of(&call(&client, "discover_tools", json!({})).await);
    assert_eq!(summary["total_tools"], 9, "no tool was dropped");
    gateway.stop().await;
}
