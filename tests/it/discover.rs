//! discover_tools: summary, domain, group, query and their errors.

use serde_json::json;

use crate::support::*;

async fn two_domains() -> (HttpUpstream, TestGateway) {
    let crm = HttpUpstream::start(TestUpstream::with_tools(
        "crm",
        upstream::synthetic_tools("crm", 16),
    ))
    .await;
    let toml = format!(
        "{}description = \"CRM: contacts, deals\"\n{}",
        http_table("crm", &crm.url()),
        stdio_table("util", "util")
    );
    let gateway = TestGateway::start(&toml).await;
    (crm, gateway)
}

#[tokio::test]
async fn summary_lists_domains_counts_and_groups() {
    let (_crm, gateway) = two_domains().await;
    let client = gateway.client().await;
    let tools = client.peer().list_all_tools().await.expect("tools/list");
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(
        names,
        [
            "discover_tools",
            "get_tool_schema",
            "execute_tool",
            "refresh_registry"
        ]
    );

    let summary = json_of(&call(&client, "discover_tools", json!({})).await);
    assert_eq!(summary["total_tools"], 16 + 10);
    let crm = &summary["domains"][0];
    assert_eq!(crm["name"], "crm");
    assert_eq!(crm["description"], "CRM: contacts, deals");
    assert_eq!(crm["tool_count"], 16);
    assert_eq!(
        crm["groups"],
        json!([
            "calendar", "contacts", "deals", "files", "invoices", "reports", "tickets", "users"
        ])
    );
    assert_eq!(summary["domains"][1]["name"], "util");
    assert_eq!(summary["domains"][1]["tool_count"], 10);
    gateway.stop().await;
}

#[tokio::test]
async fn domain_and_group_modes_list_tools() {
    let (_crm, gateway) = two_domains().await;
    let client = gateway.client().await;
    let domain = json_of(&call(&client, "discover_tools", json!({"domain": "crm"})).await);
    assert_eq!(domain["domain"], "crm");
    let tools = domain["tools"].as_array().expect("tools");
    assert_eq!(tools.len(), 16);
    assert!(
        tools
            .iter()
            .any(|t| t["name"] == "contacts_search" && t["group"] == "contacts")
    );

    let group = json_of(
        &call(
            &client,
            "discover_tools",
            json!({"domain": "crm", "group": "deals"}),
        )
        .await,
    );
    assert_eq!(group["group"], "deals");
    let names: Vec<_> = group["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, [json!("deals_get"), json!("deals_search")]);
    gateway.stop().await;
}

#[tokio::test]
async fn query_ranks_best_match_first_and_respects_limit() {
    let (_crm, gateway) = two_domains().await;
    let client = gateway.client().await;
    let found = json_of(
        &call(
            &client,
            "discover_tools",
            json!({"query": "search contacts"}),
        )
        .await,
    );
    assert_eq!(found["query"], "search contacts");
    assert_eq!(found["results"][0]["name"], "contacts_search");
    assert_eq!(found["results"][0]["domain"], "crm");

    let limited = json_of(
        &call(
            &client,
            "discover_tools",
            json!({"query": "records", "limit": 3}),
        )
        .await,
    );
    assert_eq!(limited["results"].as_array().map(Vec::len), Some(3));

    // query wins over domain-listing, and domain narrows it
    let narrowed = json_of(
        &call(
            &client,
            "discover_tools",
            json!({"query": "echo", "domain": "crm"}),
        )
        .await,
    );
    assert_eq!(narrowed["results"], json!([]));
    assert!(
        narrowed["message"]
            .as_str()
            .is_some_and(|m| m.contains("crm, util"))
    );
    let echo = json_of(&call(&client, "discover_tools", json!({"query": "echo message"})).await);
    assert_eq!(echo["results"][0]["name"], "echo");
    gateway.stop().await;
}

#[tokio::test]
async fn unknown_domain_group_and_arguments_are_clear_errors() {
    let (_crm, gateway) = two_domains().await;
    let client = gateway.client().await;

    let result = call(&client, "discover_tools", json!({"domain": "nope"})).await;
    assert_eq!(error_code(&result), "domain_not_found");
    let body = json_of(&result);
    assert_eq!(body["details"]["available_domains"], json!(["crm", "util"]));
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|m| m.contains("Available domains: crm, util"))
    );

    let result = call(
        &client,
        "discover_tools",
        json!({"domain": "crm", "group": "nope"}),
    )
    .await;
    assert_eq!(error_code(&result), "group_not_found");
    assert!(
        json_of(&result)["details"]["available_groups"]
            .as_array()
            .is_some_and(|g| g.contains(&json!("deals")))
    );

    let result = call(&client, "discover_tools", json!({"qurey": "x"})).await;
    assert_eq!(error_code(&result), "invalid_arguments");
    assert!(text_of(&result).contains("qurey"));

    let result = call(&client, "discover_tools", json!({"group": "deals"})).await;
    assert_eq!(error_code(&result), "invalid_arguments");
    gateway.stop().await;
}

#[tokio::test]
async fn signatures_format_is_compact_and_meta_tools_stay_small() {
    let (_crm, gateway) = two_domains().await;
    let client = gateway.client().await;
    let tools = client.peer().list_all_tools().await.expect("tools/list");
    let bytes = serde_json::to_string(&tools).expect("json").len();
    assert!(
        bytes <= 2500,
        "the four meta-tool definitions take {bytes} bytes"
    );

    let json_form = call(&client, "discover_tools", json!({"domain": "util"})).await;
    let signatures = call(
        &client,
        "discover_tools",
        json!({"domain": "util", "format": "signatures"}),
    )
    .await;
    let lines = json_of(&signatures)["tools"].clone();
    let lines: Vec<&str> = lines
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert!(
        lines.contains(&"add(a: float, b: float) — Add two numbers and return the sum"),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"slow(ms: int) — Sleep for ms milliseconds, honouring cancellation"),
        "{lines:#?}"
    );
    // not bigger than listing names and descriptions, and far smaller than the schemas
    assert!(text_of(&signatures).len() <= text_of(&json_form).len());

    let found = json_of(
        &call(
            &client,
            "discover_tools",
            json!({"query": "add numbers", "format": "signatures"}),
        )
        .await,
    );
    assert!(
        found["results"][0]
            .as_str()
            .is_some_and(|l| l.starts_with("add(a: float, b: float)"))
    );
    let bad = call(
        &client,
        "discover_tools",
        json!({"domain": "util", "format": "yaml"}),
    )
    .await;
    assert_eq!(error_code(&bad), "invalid_arguments");
    gateway.stop().await;
}
