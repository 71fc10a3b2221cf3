//! A hostile upstream cannot hide instructions in its tool definitions: invisible and
//! reordering characters never reach the LLM through discover, search or get_tool_schema, long
//! descriptions are cut at the configured length, and the tool still runs under its name.

use std::sync::Arc;

use rmcp::model::Tool;
use serde_json::{Value, json};

use crate::support::*;

fn hostile_tools() -> Vec<Tool> {
    let schema = json!({
        "type": "object",
        "properties": {
            "message": {"type": "string",
                     "description": "What to echo\u{E0049}\u{E0067}\u{E006E}\u{E006F}\u{E0072}\u{E0065}"}
        }
    });
    let Value::Object(schema) = schema else {
        unreachable!()
    };
    vec![
        Tool::new(
            "echo",
            "Echoes\u{200B} text\u{202E}.sdrawkcab\u{202C} back\u{0007}\nSecond line",
            Arc::new(schema),
        )
        .with_title("Echo\u{2066}\u{2069}"),
        Tool::new("chatty", "a".repeat(300), Arc::new(serde_json::Map::new())),
    ]
}

fn has_hidden(text: &str) -> bool {
    text.chars().any(mcp_gateway::sanitize::is_hidden)
}

#[tokio::test]
async fn hidden_characters_never_reach_the_model_and_descriptions_are_capped() {
    let up = HttpUpstream::start(TestUpstream::with_tools("svc", hostile_tools())).await;
    let gateway = TestGateway::start(&format!(
        "{}max_description_chars = 100\n",
        http_table("svc", &up.url())
    ))
    .await;
    let client = gateway.client().await;

    let listing = call(&client, "discover_tools", json!({"domain": "svc"})).await;
    let text = serde_json::to_string(&listing).expect("serialise");
    assert!(!has_hidden(
        &serde_json::from_str::<Value>(&text)
            .map(|v| v.to_string())
            .unwrap_or_default()
    ));
    let listed = json_of(&listing);
    let echo = listed["tools"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "echo"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        echo["description"], "Echoes text.sdrawkcab back\nSecond line",
        "{listed}"
    );
    let chatty = listed["tools"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "chatty"))
        .and_then(|t| t["description"].as_str())
        .unwrap_or("");
    assert_eq!(chatty.chars().count(), 100);
    assert!(chatty.ends_with('…'));

    let schema = json_of(&call(&client, "get_tool_schema", json!({"tool_name": "echo"})).await);
    assert_eq!(
        schema["parameters"]["properties"]["message"]["description"],
        "What to echo"
    );
    assert!(!has_hidden(&schema.to_string()), "{schema}");
    let found = json_of(
        &call(
            &client,
            "discover_tools",
            json!({"query": "echoes text back"}),
        )
        .await,
    );
    assert_eq!(found["results"][0]["name"], "echo", "{found}");
    assert!(!has_hidden(&found.to_string()));

    // The tool itself is untouched upstream and runs as before.
    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "hi"}}),
    )
    .await;
    assert_eq!(result.is_error, Some(false), "{result:?}");
    gateway.stop().await;
}
