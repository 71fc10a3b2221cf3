//! Start-up with a dead upstream, readiness, and refresh_registry bringing it in later.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn upstream_down_at_start_joins_on_refresh() {
    let alive = HttpUpstream::start(TestUpstream::with_tools(
        "alive",
        upstream::synthetic_tools("alive", 3),
    ))
    .await;
    let late_addr = free_addr();
    let toml = format!(
        "{}{}",
        http_table("alive", &alive.url()),
        http_table("late", &format!("http://{late_addr}/mcp"))
    );
    let gateway = TestGateway::start(&toml).await;

    let (status, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
    assert_eq!(status, 200);
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["tools"], 3);
    assert_eq!(
        ready["domains"]["alive"],
        json!({"tools": 3, "state": "ok"})
    );
    assert_eq!(ready["domains"]["late"]["state"], "down");
    assert!(
        ready["domains"]["late"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );

    let client = gateway.client().await;
    let summary = json_of(&call(&client, "discover_tools", json!({})).await);
    assert_eq!(summary["domains"][1]["name"], "late");
    assert_eq!(summary["domains"][1]["available"], false);

    let _late = HttpUpstream::start_on(
        late_addr,
        TestUpstream::with_tools("late", upstream::synthetic_tools("late", 2)),
    )
    .await;
    let report = json_of(&call(&client, "refresh_registry", json!({})).await);
    let late = report["refreshed"]
        .as_array()
        .expect("refreshed")
        .iter()
        .find(|d| d["domain"] == "late")
        .cloned()
        .expect("late refreshed");
    assert_eq!(late["tool_count"], 2);
    assert_eq!(late["added"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["failed"], json!([]));
    let (_, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
    assert_eq!(ready["domains"]["late"], json!({"tools": 2, "state": "ok"}));
    // the names collide (both lists are synthetic), so both domains are prefixed now
    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "late_contacts_search"}),
    )
    .await;
    assert_eq!(text_of(&result), "contacts_search ok");
    gateway.stop().await;
}

#[tokio::test]
async fn readyz_is_503_until_tools_exist() {
    let dead = free_addr();
    let gateway = TestGateway::start(&http_table("dead", &format!("http://{dead}/mcp"))).await;
    let (status, body) = get_json(&format!("{}/readyz", gateway.base())).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["domains"]["dead"]["state"], "down");
    let client = gateway.client().await;
    let result = call(&client, "refresh_registry", json!({})).await;
    assert_eq!(error_code(&result), "refresh_error", "no upstream answered");
    let details = json_of(&result)["details"].clone();
    assert_eq!(details["failed"][0]["domain"], "dead");
    assert!(
        details["failed"][0]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    gateway.stop().await;
}

#[tokio::test]
async fn rejected_tools_are_counted_not_dropped_silently() {
    use rmcp::model::Tool;
    let long = "x".repeat(70);
    let tools = vec![
        Tool::new(
            "fine.dotted",
            "dotted names are exposed with _",
            std::sync::Arc::new(serde_json::Map::new()),
        ),
        Tool::new(
            long.clone(),
            "too long",
            std::sync::Arc::new(serde_json::Map::new()),
        ),
        Tool::new(
            "arrayish",
            "schema is not an object",
            std::sync::Arc::new(serde_json::from_value(json!({"type": "array"})).expect("schema")),
        ),
    ];
    let up = HttpUpstream::start(TestUpstream::with_tools("odd", tools)).await;
    let gateway = TestGateway::start(&http_table("odd", &up.url())).await;
    let (_, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
    let rejected = ready["domains"]["odd"]["rejected"]
        .as_array()
        .expect("rejected")
        .clone();
    assert_eq!(rejected.len(), 2);
    assert!(rejected.iter().any(|r| {
        r["name"] == long.as_str()
            && r["reason"]
                .as_str()
                .is_some_and(|s| s.contains("longer than 64"))
    }));
    assert!(rejected.iter().any(|r| r["name"] == "arrayish"));
    let client = gateway.client().await;
    let result = call(&client, "execute_tool", json!({"tool_name": "fine_dotted"})).await;
    assert_eq!(
        text_of(&result),
        "fine.dotted ok",
        "dispatched under the original dotted name"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn tool_lists_are_read_across_pages() {
    let up = HttpUpstream::start(TestUpstream::with_synthetic("paged", 30).paginated(7)).await;
    let gateway = TestGateway::start(&http_table("paged", &up.url())).await;
    let (_, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
    assert_eq!(
        ready["domains"]["paged"]["tools"],
        30 + 10,
        "every page was read"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_dead_stdio_child_is_restarted_and_none_outlive_the_gateway() {
    let gateway = TestGateway::start(&stdio_table("util", "util")).await;
    let client = gateway.client().await;
    let pid = |r: &rmcp::model::CallToolResult| text_of(r).parse::<u32>().expect("pid");
    let first = pid(&call(&client, "execute_tool", json!({"tool_name": "pid"})).await);
    assert!(process_alive(first));

    // kill the child behind the gateway's back: the next call opens a new session
    std::process::Command::new("kill")
        .args(["-9", &first.to_string()])
        .status()
        .expect("kill");
    assert!(eventually(5, || !process_alive(first)).await);
    let mut second = None;
    for _ in 0..50 {
        let result = call(&client, "execute_tool", json!({"tool_name": "pid"})).await;
        if result.is_error != Some(true) {
            second = Some(pid(&result));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let second = second.expect("the child was restarted");
    assert_ne!(first, second);

    gateway.stop().await;
    assert!(
        eventually(5, || !process_alive(second)).await,
        "stdio child outlived the gateway"
    );
}

#[tokio::test]
async fn a_legacy_session_is_reopened_after_the_upstream_restarts() {
    let addr = free_addr();
    let first = HttpUpstream::start_on(addr, TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&session_table("crm", &format!("http://{addr}/mcp"))).await;
    let client = gateway.client().await;
    assert_eq!(
        text_of(&call(&client, "execute_tool", json!({"tool_name": "whoami"})).await),
        "crm"
    );
    first.stop();
    drop(first);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let restarted = HttpUpstream::start_on(addr, TestUpstream::new("crm-restarted")).await;
    // the old session id is unknown to the new process: the gateway must open a new session
    let answered = until(5, || async {
        let result = call(&client, "execute_tool", json!({"tool_name": "whoami"})).await;
        result.is_error != Some(true) && text_of(&result) == "crm-restarted"
    })
    .await;
    assert!(answered, "calls never reached the restarted upstream");
    assert_eq!(
        restarted
            .server
            .stats
            .sessions
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    gateway.stop().await;
}

#[tokio::test]
async fn grandchildren_of_a_stdio_upstream_end_with_the_gateway() {
    // `sh -c "...; true"` forks, so the MCP server is the shell's child, not the gateway's
    let script = format!("{} --name grandchild; true", STDIO_UPSTREAM);
    let toml = format!("[upstreams.wrapped]\ncommand = \"sh\"\nargs = [\"-c\", \"{script}\"]\n");
    let gateway = TestGateway::start(&toml).await;
    let client = gateway.client().await;
    let pid: u32 = text_of(&call(&client, "execute_tool", json!({"tool_name": "pid"})).await)
        .parse()
        .expect("pid");
    let parent = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let ppid: u32 = parent
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .expect("ppid");
    assert_ne!(
        ppid,
        std::process::id(),
        "the server should be a grandchild"
    );
    gateway.stop().await;
    assert!(
        eventually(5, || !process_alive(pid)).await,
        "grandchild {pid} outlived the gateway"
    );
}

#[tokio::test]
async fn a_hanging_upstream_does_not_hide_the_others() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let toml = format!(
        "{}[upstreams.hang]\ncommand = \"sleep\"\nargs = [\"30\"]\n",
        http_table("crm", &up.url())
    );
    let gateway = TestGateway::start_unpopulated(&toml).await;
    let client = gateway.client().await;
    let visible = until(5, || async {
        !domain_tools(&client, "crm").await.is_empty()
    })
    .await;
    assert!(visible, "crm's tools waited for the hanging upstream");
    assert!(
        !gateway.running.gateway.is_populated(),
        "population should still be waiting for 'hang'"
    );
    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "now"}}),
    )
    .await;
    assert_eq!(text_of(&result), "now");
    gateway.stop().await;
}

#[tokio::test]
async fn every_exposed_name_matches_the_name_pattern() {
    use rmcp::model::Tool;
    let odd = [
        "files.read",
        "get weather",
        "ünïcode",
        "a/b/c",
        "list",
        "type",
        "x-y_z",
    ];
    let tools: Vec<Tool> = odd
        .iter()
        .map(|n| {
            Tool::new(
                n.to_string(),
                "odd name",
                std::sync::Arc::new(serde_json::Map::new()),
            )
        })
        .collect();
    let up = HttpUpstream::start(TestUpstream::with_tools("odd", tools)).await;
    let gateway = TestGateway::start(&format!(
        "{}{}",
        http_table("odd", &up.url()),
        stdio_table("util", "u")
    ))
    .await;
    let registry = gateway.running.gateway.registry();
    assert_eq!(registry.tools().len(), odd.len() + 10);
    for tool in registry.tools() {
        let ok = !tool.name.is_empty()
            && tool.name.len() <= 64
            && tool
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        assert!(
            ok,
            "exposed name {:?} breaks ^[A-Za-z0-9_-]{{1,64}}$",
            tool.name
        );
    }
    drop(registry);
    let client = gateway.client().await;
    let result = call(&client, "execute_tool", json!({"tool_name": "get_weather"})).await;
    assert_eq!(
        text_of(&result),
        "get weather ok",
        "dispatched under the original name"
    );
    gateway.stop().await;
}
