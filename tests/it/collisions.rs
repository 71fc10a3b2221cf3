//! Names listed by two domains are exposed prefixed by both, dispatched under the original name,
//! and lose the prefix again when the collision goes away.

use std::sync::atomic::Ordering;

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn colliding_names_are_prefixed_dispatched_by_original_name_and_unprefixed_later() {
    let alpha = HttpUpstream::start(TestUpstream::new("alpha")).await;
    let beta_port = free_addr();
    let beta = HttpUpstream::start_on(beta_port, TestUpstream::new("beta")).await;
    let toml = format!(
        "{}{}",
        http_table("alpha", &alpha.url()),
        http_table("beta", &beta.url())
    );
    let gateway = TestGateway::start(&toml).await;
    let client = gateway.client().await;

    let alpha_tools = json_of(&call(&client, "discover_tools", json!({"domain": "alpha"})).await);
    let names: Vec<String> = alpha_tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        names.contains(&"alpha_echo".to_string()) && !names.contains(&"echo".to_string()),
        "{names:?}"
    );

    let who = call(&client, "execute_tool", json!({"tool_name": "beta_whoami"})).await;
    assert_eq!(
        text_of(&who),
        "beta",
        "dispatched under the original name to the right upstream"
    );
    assert_eq!(beta.server.stats.calls.load(Ordering::SeqCst), 1);
    assert_eq!(alpha.server.stats.calls.load(Ordering::SeqCst), 0);

    // the original name stays searchable, and a bare lookup suggests both prefixed names
    let found = json_of(&call(&client, "discover_tools", json!({"query": "whoami"})).await);
    let hits: Vec<_> = found["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(hits, [json!("alpha_whoami"), json!("beta_whoami")]);
    let missing = call(&client, "get_tool_schema", json!({"tool_name": "whoami"})).await;
    assert_eq!(error_code(&missing), "tool_not_found");
    let suggestions = json_of(&missing)["details"]["suggestions"].clone();
    assert!(
        suggestions.as_array().is_some_and(
            |s| s.contains(&json!("alpha_whoami")) && s.contains(&json!("beta_whoami"))
        )
    );

    // beta goes away: the refresh fails for beta, but its tools stay until it is really gone;
    // remove the collision by giving beta a different tool set on the same port
    beta.stop();
    drop(beta);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let _beta2 = HttpUpstream::start_on(beta_port, TestUpstream::with_tools("beta", vec![])).await;
    let report = json_of(&call(&client, "refresh_registry", json!({})).await);
    let alpha_change = report["refreshed"]
        .as_array()
        .expect("refreshed")
        .iter()
        .find(|d| d["domain"] == "alpha")
        .cloned()
        .expect("alpha refreshed");
    assert!(
        alpha_change["renamed"]
            .as_array()
            .is_some_and(|r| r.contains(&json!({"from": "alpha_echo", "to": "echo"}))),
        "{alpha_change}"
    );
    let echo = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "back"}}),
    )
    .await;
    assert_eq!(text_of(&echo), "back");
    // the old prefixed name is not listed any more, but a caller that learned it still gets there
    assert!(
        !domain_tools(&client, "alpha")
            .await
            .contains(&"alpha_echo".to_string())
    );
    let renamed = json_of(
        &call(
            &client,
            "get_tool_schema",
            json!({"tool_name": "alpha_echo"}),
        )
        .await,
    );
    assert_eq!(renamed["name"], "echo");
    assert_eq!(renamed["domain"], "alpha");
    gateway.stop().await;
}
