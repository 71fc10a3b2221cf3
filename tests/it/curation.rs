//! allowed_tools / denied_tools / tool_aliases: filtered tools are invisible to all three
//! meta-tools, deny wins, patterns see original and exposed names, and changing them reloads
//! without reconnecting.

use std::sync::atomic::Ordering;

use mcp_gateway::gateway::ReloadOutcome;
use mcp_gateway::reloader::{self, ConfigLoader};
use serde_json::json;

use crate::support::*;

fn curated(url: &str) -> String {
    format!(
        "{}allowed_tools = [\"contacts_*\", \"echo\", \"who*\"]\ndenied_tools = [\"*_delete\", \"crm_echo\"]\ntool_aliases = {{ whoami = \"who_is_this\" }}\n",
        session_table("crm", url)
    )
}

#[tokio::test]
async fn filtered_tools_are_invisible_everywhere_and_aliases_rename() {
    let up = HttpUpstream::start(TestUpstream::with_synthetic("crm", 48)).await;
    let gateway = TestGateway::start_unwatched(&curated(&up.url())).await;
    let client = gateway.client().await;

    let mut listed = domain_tools(&client, "crm").await;
    listed.sort();
    // contacts_* minus contacts_delete (deny wins), echo denied via its crm_echo form, the alias
    assert_eq!(
        listed,
        [
            "contacts_create",
            "contacts_get",
            "contacts_list",
            "contacts_search",
            "contacts_update",
            "who_is_this"
        ]
    );
    for hidden in ["contacts_delete", "echo", "deals_get"] {
        let schema = call(&client, "get_tool_schema", json!({"tool_name": hidden})).await;
        assert_eq!(
            error_code(&schema),
            "tool_not_found",
            "{hidden} visible to get_tool_schema"
        );
        let run = call(&client, "execute_tool", json!({"tool_name": hidden})).await;
        assert_eq!(error_code(&run), "tool_not_found", "{hidden} executable");
        let found = json_of(&call(&client, "discover_tools", json!({"query": hidden})).await);
        assert!(
            found["results"]
                .as_array()
                .is_some_and(|r| r.iter().all(|t| t["name"] != hidden)),
            "{hidden} searchable"
        );
    }
    assert_eq!(up.server.stats.calls.load(Ordering::SeqCst), 0);
    // the original name of an aliased tool still resolves to it
    let by_original =
        json_of(&call(&client, "get_tool_schema", json!({"tool_name": "whoami"})).await);
    assert_eq!(by_original["name"], "who_is_this");
    let who = call(&client, "execute_tool", json!({"tool_name": "who_is_this"})).await;
    assert_eq!(
        text_of(&who),
        "crm",
        "the alias dispatches under the original name"
    );
    let (_, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
    assert_eq!(ready["domains"]["crm"]["tools"], 6);
    assert_eq!(ready["domains"]["crm"]["filtered"], 48 + 10 - 6);

    // lifting the filter is a rebuild, not a reconnect
    std::fs::write(&gateway.path, session_table("crm", &up.url())).expect("write");
    let loader = ConfigLoader {
        path: Some(gateway.path.clone()),
        env: test_env(),
        sighup: false,
    };
    let outcome = reloader::reload_once(&gateway.running.gateway, &loader).await;
    assert!(
        matches!(outcome, ReloadOutcome::Applied { ref reconnected, .. } if reconnected.is_empty()),
        "{outcome:?}"
    );
    assert_eq!(domain_tools(&client, "crm").await.len(), 48 + 10);
    assert_eq!(up.server.stats.sessions.load(Ordering::SeqCst), 1);
    gateway.stop().await;
}

#[test]
fn bad_globs_and_aliases_are_config_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, "[upstreams.crm]\nurl = \"http://127.0.0.1:1/mcp\"\nallowed_tools = [\"[\"]\ntool_aliases = { a = \"has space\" }\n").expect("write");
    let error =
        mcp_gateway::config::Config::load_with(Some(&path), &test_env()).expect_err("invalid");
    let problems: Vec<String> = error.problems.iter().map(ToString::to_string).collect();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("upstreams.crm.allowed_tools[0]: invalid glob")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("upstreams.crm.tool_aliases.a: alias")),
        "{problems:?}"
    );
}
