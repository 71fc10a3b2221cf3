//! Ranked search: name beats description, typos and prefixes match, camelCase splits, parameter
//! names count, ties are deterministic, scores are reported.

use std::sync::Arc;

use rmcp::model::Tool;
use serde_json::{Value, json};

use crate::support::*;

fn tool(name: &str, description: &str, schema: Value) -> Tool {
    let Value::Object(map) = schema else {
        panic!("schema")
    };
    Tool::new(name.to_string(), description.to_string(), Arc::new(map))
}

async fn names(client: &Client, args: Value) -> Vec<String> {
    let found = json_of(&call(client, "discover_tools", args).await);
    let results = found["results"].as_array().cloned().unwrap_or_default();
    let scores: Vec<f64> = results.iter().filter_map(|r| r["score"].as_f64()).collect();
    assert_eq!(scores.len(), results.len(), "every result has a score");
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );
    results
        .iter()
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
async fn ranking_cases() {
    let object = json!({"type": "object"});
    let tools = vec![
        tool(
            "search_contacts",
            "Find people in the address book",
            object.clone(),
        ),
        tool(
            "send_email",
            "Send an email. You can search the outbox first.",
            object.clone(),
        ),
        tool(
            "getUserProfile",
            "Fetch the profile of a user",
            object.clone(),
        ),
        tool("contacts_merge", "Merge duplicate people", object.clone()),
        tool(
            "create_invoice",
            "Bill a customer",
            json!({"type": "object", "properties": {"currency": {"type": "string", "description": "ISO 4217 code"}}}),
        ),
        tool("twin_b", "Identical twin tool", object.clone()),
        tool("twin_a", "Identical twin tool", object),
    ];
    let up = HttpUpstream::start(TestUpstream::with_tools("crm", tools)).await;
    let gateway = TestGateway::start(&http_table("crm", &up.url())).await;
    let client = gateway.client().await;

    let search = names(&client, json!({"query": "search"})).await;
    assert_eq!(
        search[0], "search_contacts",
        "a name match beats a description mention: {search:?}"
    );
    assert!(search.contains(&"send_email".to_string()));
    assert_eq!(
        names(&client, json!({"query": "serch contacts"})).await[0],
        "search_contacts",
        "typo"
    );
    assert_eq!(
        names(&client, json!({"query": "user profile"})).await[0],
        "getUserProfile",
        "camelCase"
    );
    assert_eq!(
        names(&client, json!({"query": "get_user_profile"})).await[0],
        "getUserProfile",
        "separators"
    );
    let prefix = names(&client, json!({"query": "cont"})).await;
    assert!(
        prefix.starts_with(&["contacts_merge".to_string(), "search_contacts".to_string()])
            || prefix.starts_with(&["search_contacts".to_string(), "contacts_merge".to_string()]),
        "{prefix:?}"
    );
    assert_eq!(
        names(&client, json!({"query": "currency"})).await,
        ["create_invoice"],
        "parameter names count"
    );
    assert_eq!(
        names(&client, json!({"query": "invoices"})).await[0],
        "create_invoice",
        "plurals"
    );
    let twins = names(&client, json!({"query": "identical twin"})).await;
    assert_eq!(twins, ["twin_a", "twin_b"], "ties broken by name");
    assert!(
        names(&client, json!({"query": "zebra quantum"}))
            .await
            .is_empty()
    );
    gateway.stop().await;
}
