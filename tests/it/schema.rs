//! get_tool_schema: exact and fuzzy lookup, suggestions.

use serde_json::json;

use crate::support::*;

/// A gateway in front of `crm` (the standard tools and 16 synthetic ones) and `erp`.
async fn crm_and_erp(erp: TestUpstream) -> ([HttpUpstream; 2], TestGateway) {
    let crm = HttpUpstream::start(TestUpstream::with_synthetic("crm", 16)).await;
    let erp = HttpUpstream::start(erp).await;
    let toml = format!(
        "{}{}",
        http_table("crm", &crm.url()),
        http_table("erp", &erp.url())
    );
    let gateway = TestGateway::start(&toml).await;
    ([crm, erp], gateway)
}

#[tokio::test]
async fn returns_the_full_schema_and_resolves_fuzzy_names() {
    let crm = HttpUpstream::start(TestUpstream::with_synthetic("crm", 16)).await;
    let gateway = TestGateway::start(&http_table("crm", &crm.url())).await;
    let client = gateway.client().await;

    let schema = json_of(&call(&client, "get_tool_schema", json!({"tool_name": "echo"})).await);
    assert_eq!(schema["name"], "echo");
    assert_eq!(schema["domain"], "crm");
    assert_eq!(schema["group"], "general");
    assert_eq!(
        schema["description"],
        "Echo the given message back unchanged"
    );
    assert_eq!(schema["parameters"]["required"], json!(["message"]));
    assert_eq!(
        schema["parameters"]["properties"]["message"]["type"],
        "string"
    );

    // a unique case-/separator-insensitive match resolves to the canonical name
    let fuzzy = json_of(
        &call(
            &client,
            "get_tool_schema",
            json!({"tool_name": "Contacts-Search"}),
        )
        .await,
    );
    assert_eq!(fuzzy["name"], "contacts_search");
    gateway.stop().await;
}

#[tokio::test]
async fn unknown_names_get_ranked_suggestions() {
    let crm = HttpUpstream::start(TestUpstream::with_synthetic("crm", 16)).await;
    let gateway = TestGateway::start(&http_table("crm", &crm.url())).await;
    let client = gateway.client().await;

    let result = call(
        &client,
        "get_tool_schema",
        json!({"tool_name": "contacts_serch"}),
    )
    .await;
    assert_eq!(error_code(&result), "tool_not_found");
    let body = json_of(&result);
    let suggestions = body["details"]["suggestions"]
        .as_array()
        .expect("suggestions");
    assert_eq!(suggestions[0], "contacts_search");
    assert!(suggestions.len() <= 5 && suggestions.len() > 1);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|m| m.contains("Did you mean 'contacts_search'"))
    );

    let nothing = call(&client, "get_tool_schema", json!({"tool_name": "zzzzqqqq"})).await;
    assert_eq!(json_of(&nothing)["details"]["suggestions"], json!([]));
    assert!(text_of(&nothing).contains("discover_tools(query="));

    let missing_arg = call(&client, "get_tool_schema", json!({})).await;
    assert_eq!(error_code(&missing_arg), "invalid_arguments");
    gateway.stop().await;
}

#[tokio::test]
async fn suggestions_rank_prefixed_names_by_distance_and_shared_words() {
    let (_upstreams, gateway) = crm_and_erp(TestUpstream::with_synthetic("erp", 16)).await;
    let client = gateway.client().await;
    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "contacts_serch"}),
    )
    .await;
    assert_eq!(error_code(&result), "tool_not_found");
    let suggestions = json_of(&result)["details"]["suggestions"].clone();
    assert_eq!(suggestions[0], "crm_contacts_search");
    assert_eq!(suggestions[1], "erp_contacts_search");
    assert!(suggestions.as_array().is_some_and(|s| s.len() <= 5));
    gateway.stop().await;
}

#[tokio::test]
async fn folded_lookups_match_exposed_and_original_names_and_refuse_ambiguity() {
    let (_upstreams, gateway) = crm_and_erp(TestUpstream::new("erp")).await;
    let client = gateway.client().await;
    let schema = |name: &'static str| {
        let client = &client;
        async move { call(client, "get_tool_schema", json!({"tool_name": name})).await }
    };

    // `echo` collides, so it is exposed as `crm_echo` and `erp_echo`.
    let prefixed = json_of(&schema("CRM-Echo").await);
    assert_eq!(prefixed["name"], "crm_echo", "a folded exposed name");
    assert_eq!(prefixed["domain"], "crm");
    // Only crm lists contacts_search: its original name, folded, is unique.
    assert_eq!(
        json_of(&schema("CONTACTS.search").await)["name"],
        "contacts_search"
    );
    // Both domains list `echo`: the folded original name matches two tools, so neither is
    // picked; both are suggested.
    let ambiguous = schema("ECHO").await;
    assert_eq!(error_code(&ambiguous), "tool_not_found");
    let suggestions = json_of(&ambiguous)["details"]["suggestions"].clone();
    for name in ["crm_echo", "erp_echo"] {
        assert!(
            suggestions
                .as_array()
                .is_some_and(|s| s.iter().any(|n| n == name)),
            "{name} in {suggestions}"
        );
    }
    gateway.stop().await;
}
