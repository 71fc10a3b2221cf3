//! Hot reload: file edits (in place and by rename), bad files, restart-only settings, no-op
//! reloads, sessions of unchanged upstreams kept, and reloads under load.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_gateway::gateway::ReloadOutcome;
use mcp_gateway::reloader::{self, ConfigLoader};
use serde_json::json;

use crate::support::*;

fn loader(gateway: &TestGateway) -> ConfigLoader {
    ConfigLoader {
        path: Some(gateway.path.clone()),
        env: test_env(),
        sighup: false,
    }
}

#[tokio::test]
async fn edits_in_place_and_by_rename_are_picked_up_keeping_unchanged_sessions() {
    let stay = HttpUpstream::start(TestUpstream::new("stay")).await;
    let added = HttpUpstream::start(TestUpstream::with_tools(
        "added",
        upstream::synthetic_tools("added", 2),
    ))
    .await;
    let renamed = HttpUpstream::start(TestUpstream::with_tools(
        "renamed",
        upstream::synthetic_tools("renamed", 1),
    ))
    .await;
    let base = session_table("stay", &stay.url());
    let gateway = TestGateway::start(&base).await;
    let client = gateway.client().await;
    call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "before"}}),
    )
    .await;
    assert_eq!(stay.server.stats.sessions.load(Ordering::SeqCst), 1);

    gateway.write_config(&format!("{base}{}", http_table("added", &added.url())));
    assert!(
        until(2, || async {
            domains(&client).await.contains(&"added".to_string())
        })
        .await,
        "in-place edit not seen within 2 s"
    );

    gateway.rename_config(&format!(
        "{base}{}{}",
        http_table("added", &added.url()),
        http_table("renamed", &renamed.url())
    ));
    assert!(
        until(2, || async {
            domains(&client).await.contains(&"renamed".to_string())
        })
        .await,
        "rename-over not seen within 2 s"
    );

    let echo = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "after"}}),
    )
    .await;
    assert_eq!(text_of(&echo), "after");
    assert_eq!(
        stay.server.stats.sessions.load(Ordering::SeqCst),
        1,
        "the unchanged upstream kept its session"
    );

    // removing a domain removes its tools
    gateway.write_config(&base);
    assert!(until(2, || async { domains(&client).await == ["stay"] }).await);
    let (_, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
    assert_eq!(ready["config"]["last_reload"], "ok");
    assert!(
        ready["config"]["generation"]
            .as_u64()
            .is_some_and(|g| g >= 4),
        "{ready}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_bad_file_is_rejected_and_the_old_config_keeps_serving() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let good = http_table("crm", &up.url());
    let gateway = TestGateway::start(&good).await;
    let client = gateway.client().await;

    gateway.write_config(&format!("{good}colour = \"blue\"\n[server]\nname = 5\n"));
    let rejected = until(3, || async {
        let (_, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
        ready["config"]["last_reload"] == "rejected"
    })
    .await;
    assert!(rejected, "the bad file was not rejected");
    let (status, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
    assert_eq!(status, 200, "still ready on the old config");
    let error = ready["config"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("upstreams.crm.colour: unknown key")
            && error.contains("server.name: expected a string"),
        "{error}"
    );
    assert_eq!(ready["config"]["generation"], 1);
    let echo = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "still"}}),
    )
    .await;
    assert_eq!(text_of(&echo), "still");

    gateway.write_config(&format!("{good}description = \"fixed\"\n"));
    let recovered = until(3, || async {
        let (_, ready) = get_json(&format!("{}/readyz", gateway.base())).await;
        ready["config"]["last_reload"] == "ok" && ready["config"]["generation"] == 2
    })
    .await;
    assert!(recovered, "fixing the file did not recover");
    let summary = json_of(&call(&client, "discover_tools", json!({})).await);
    assert_eq!(summary["domains"][0]["description"], "fixed");
    gateway.stop().await;
}

#[tokio::test]
async fn restart_only_settings_are_kept_and_the_rest_applies_without_reconnecting() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let table = session_table("crm", &up.url());
    let gateway = TestGateway::start_unwatched(&table).await;
    let client = gateway.client().await;
    call(&client, "execute_tool", json!({"tool_name": "whoami"})).await;
    let generation = gateway.running.gateway.registry().generation;

    // unchanged file: nothing is rebuilt or reconnected
    let outcome = reloader::reload_once(&gateway.running.gateway, &loader(&gateway)).await;
    assert_eq!(outcome, ReloadOutcome::Unchanged);
    assert_eq!(
        gateway.running.gateway.registry().generation,
        generation,
        "a no-op reload rebuilt the registry"
    );

    std::fs::write(
        &gateway.path,
        format!("[server]\nhost = \"127.0.0.2\"\nstateless = true\nworker_threads = 1\nname = \"renamed-gw\"\ninstructions = \"Only use crm.\"\n{table}description = \"CRM v2\"\n"),
    )
    .expect("write");
    let outcome = reloader::reload_once(&gateway.running.gateway, &loader(&gateway)).await;
    match outcome {
        ReloadOutcome::Applied {
            restart_required,
            added,
            removed,
            reconnected,
        } => {
            assert_eq!(
                restart_required,
                ["server.host", "server.worker_threads", "server.stateless"]
            );
            assert!(added.is_empty() && removed.is_empty() && reconnected.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let registry = gateway.running.gateway.registry();
    assert!(
        !registry.settings().stateless,
        "sessions cannot be dropped live"
    );
    assert_eq!(
        registry.settings().host,
        "127.0.0.1",
        "the listener cannot move live"
    );
    assert_eq!(registry.settings().name, "renamed-gw");
    drop(registry);
    assert_eq!(
        up.server.stats.sessions.load(Ordering::SeqCst),
        1,
        "a description change reconnected"
    );

    let fresh = gateway.client().await;
    let info = fresh.peer().peer_info().expect("info");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("renamed-gw")
    );
    assert_eq!(info.instructions.as_deref(), Some("Only use crm."));
    let summary = json_of(&call(&fresh, "discover_tools", json!({})).await);
    assert_eq!(summary["domains"][0]["description"], "CRM v2");
    gateway.stop().await;
}

#[tokio::test]
async fn a_changed_upstream_is_reconnected_and_a_removed_stdio_child_ends() {
    let first = HttpUpstream::start(TestUpstream::new("first")).await;
    let second = HttpUpstream::start(TestUpstream::new("second")).await;
    let util = stdio_table("util", "util");
    let gateway =
        TestGateway::start_unwatched(&format!("{}{util}", session_table("crm", &first.url())))
            .await;
    let client = gateway.client().await;
    let pid: u32 = text_of(&call(&client, "execute_tool", json!({"tool_name": "util_pid"})).await)
        .parse()
        .expect("pid");

    std::fs::write(&gateway.path, session_table("crm", &second.url())).expect("write");
    let outcome = reloader::reload_once(&gateway.running.gateway, &loader(&gateway)).await;
    match outcome {
        ReloadOutcome::Applied {
            reconnected,
            removed,
            ..
        } => {
            assert_eq!(reconnected, ["crm"]);
            assert_eq!(removed, ["util"]);
        }
        other => panic!("{other:?}"),
    }
    let who = call(&client, "execute_tool", json!({"tool_name": "whoami"})).await;
    assert_eq!(text_of(&who), "second", "calls go to the new URL");
    let gone = eventually(5, || !process_alive(pid)).await;
    assert!(gone, "the removed stdio upstream's child still runs");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_fail_no_call_to_upstreams_that_stayed() {
    let stay = HttpUpstream::start(TestUpstream::new("stay")).await;
    let others: Vec<HttpUpstream> = futures::future::join_all((0..3).map(|i| {
        HttpUpstream::start(TestUpstream::with_tools(
            &format!("o{i}"),
            upstream::synthetic_tools("o", 2),
        ))
    }))
    .await;
    let base = session_table("stay", &stay.url());
    let gateway = Arc::new(TestGateway::start_unwatched(&base).await);
    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));

    let mut load = Vec::new();
    for client_index in 0..8 {
        let (gateway, failures, done) = (gateway.clone(), failures.clone(), done.clone());
        load.push(tokio::spawn(async move {
            let client = gateway.client().await;
            for i in 0..200 {
                let message = format!("c{client_index}-{i}");
                let result = try_call(
                    &client,
                    "execute_tool",
                    json!({"tool_name": "echo", "arguments": {"message": message}}),
                )
                .await;
                match result {
                    Ok(r) if r.is_error != Some(true) && text_of(&r) == message => {}
                    other => {
                        failures.fetch_add(1, Ordering::SeqCst);
                        eprintln!("failed call: {other:?}");
                    }
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let reload_loader = loader(&gateway);
    for round in 0..20 {
        // add, change (other URL) and remove the other upstreams; `stay` never changes
        let mut toml = base.clone();
        for (i, other) in others.iter().enumerate() {
            if (round + i) % 3 != 0 {
                let url = if round % 2 == 0 {
                    other.url()
                } else {
                    others[(round + i) % others.len()].url()
                };
                toml.push_str(&http_table(&format!("o{i}"), &url));
            }
        }
        std::fs::write(&gateway.path, toml).expect("write");
        let outcome = reloader::reload_once(&gateway.running.gateway, &reload_loader).await;
        assert!(
            !matches!(outcome, ReloadOutcome::Rejected(_)),
            "{outcome:?}"
        );
    }
    for task in load {
        task.await.expect("client task");
    }
    assert_eq!(done.load(Ordering::SeqCst), 1600);
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "calls to the unchanged upstream failed during reloads"
    );
    assert_eq!(stay.server.stats.sessions.load(Ordering::SeqCst), 1);
    assert_eq!(stay.server.stats.calls.load(Ordering::SeqCst), 1600);
    let generation = gateway.running.gateway.config_status().generation;
    assert!(generation >= 15, "only {generation} configs applied");
    if let Ok(gateway) = Arc::try_unwrap(gateway) {
        gateway.stop().await;
    }
}

async fn config_generation(gateway: &TestGateway) -> u64 {
    gateway.running.gateway.config_status().generation
}

#[tokio::test]
async fn a_burst_of_writes_is_one_reload_and_reading_the_file_triggers_none() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let table = http_table("crm", &up.url());
    let gateway = TestGateway::start(&table).await;
    for i in 0..5 {
        gateway.write_config(&format!("{table}description = \"v{i}\"\n"));
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    assert!(
        until(3, || async { config_generation(&gateway).await == 2 }).await,
        "the burst was not applied"
    );
    // the reload read the file: that must not trigger another one
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(
        config_generation(&gateway).await,
        2,
        "more than one reload for one burst"
    );
    let client = gateway.client().await;
    let summary = json_of(&call(&client, "discover_tools", json!({})).await);
    assert_eq!(
        summary["domains"][0]["description"], "v4",
        "the last write won"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_deleted_file_is_rejected_and_a_recreated_one_applies() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let table = http_table("crm", &up.url());
    let gateway = TestGateway::start(&table).await;
    std::fs::remove_file(&gateway.path).expect("remove");
    let rejected = until(3, || async {
        !gateway.running.gateway.config_status().last_reload_ok
    })
    .await;
    assert!(rejected, "deleting the file was not reported");
    let client = gateway.client().await;
    assert_eq!(
        text_of(&call(&client, "execute_tool", json!({"tool_name": "whoami"})).await),
        "crm",
        "old config still serves"
    );
    gateway.write_config(&format!("{table}description = \"back\"\n"));
    let applied = until(3, || async {
        let status = gateway.running.gateway.config_status();
        status.last_reload_ok && status.generation == 2
    })
    .await;
    assert!(applied, "the recreated file was not applied");
    gateway.stop().await;
}

#[tokio::test]
async fn a_kubernetes_configmap_swap_is_seen() {
    use std::os::unix::fs::symlink;
    let first = HttpUpstream::start(TestUpstream::new("first")).await;
    let second = HttpUpstream::start(TestUpstream::new("second")).await;
    // the kubelet's layout: gateway.toml -> ..data/gateway.toml, ..data -> ..<timestamp>
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir(root.join("..2026_11_25_a")).expect("mkdir");
    std::fs::write(
        root.join("..2026_11_25_a/gateway.toml"),
        http_table("first", &first.url()),
    )
    .expect("write");
    symlink("..2026_11_25_a", root.join("..data")).expect("symlink");
    symlink("..data/gateway.toml", root.join("gateway.toml")).expect("symlink");
    let path = root.join("gateway.toml");
    let config = mcp_gateway::config::Config::load_with(Some(&path), &test_env()).expect("config");
    let loader = ConfigLoader {
        path: Some(path.clone()),
        env: test_env(),
        sighup: false,
    };
    let running = mcp_gateway::app::start(config, Some(loader))
        .await
        .expect("start");
    let client = connect(
        &format!("http://{}/mcp", running.addr),
        rmcp::service::ClientLifecycleMode::Initialize,
    )
    .await;
    assert!(until(5, || async { domains(&client).await == ["first"] }).await);

    std::fs::create_dir(root.join("..2026_11_25_b")).expect("mkdir");
    std::fs::write(
        root.join("..2026_11_25_b/gateway.toml"),
        http_table("second", &second.url()),
    )
    .expect("write");
    symlink("..2026_11_25_b", root.join("..data_tmp")).expect("symlink");
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).expect("atomic swap");
    std::fs::remove_dir_all(root.join("..2026_11_25_a")).expect("cleanup");
    assert!(
        until(3, || async { domains(&client).await == ["second"] }).await,
        "the ..data swap was not seen"
    );
    running.shutdown.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), running.done).await;
}

#[tokio::test]
async fn a_call_in_flight_on_a_removed_upstream_completes() {
    let doomed = HttpUpstream::start(TestUpstream::new("doomed")).await;
    let stay = HttpUpstream::start(TestUpstream::with_tools(
        "stay",
        upstream::synthetic_tools("s", 1),
    ))
    .await;
    let toml = format!(
        "{}{}",
        http_table("doomed", &doomed.url()),
        http_table("stay", &stay.url())
    );
    let gateway = TestGateway::start_unwatched(&toml).await;
    let client = gateway.client().await;
    let slow = {
        let client = gateway.client().await;
        tokio::spawn(async move {
            call(
                &client,
                "execute_tool",
                json!({"tool_name": "slow", "arguments": {"ms": 1000}}),
            )
            .await
        })
    };
    let stats = doomed.server.stats.clone();
    assert!(eventually(5, || stats.in_flight.load(Ordering::SeqCst) == 1).await);
    std::fs::write(&gateway.path, http_table("stay", &stay.url())).expect("write");
    let outcome = reloader::reload_once(&gateway.running.gateway, &loader(&gateway)).await;
    assert!(
        matches!(outcome, ReloadOutcome::Applied { ref removed, .. } if removed == &["doomed"]),
        "{outcome:?}"
    );
    let result = slow.await.expect("task");
    assert_eq!(
        text_of(&result),
        "slept 1000 ms",
        "the reload cut a call in flight"
    );
    let gone = call(
        &client,
        "execute_tool",
        json!({"tool_name": "slow", "arguments": {"ms": 1}}),
    )
    .await;
    assert_eq!(error_code(&gone), "tool_not_found");
    gateway.stop().await;
}

#[tokio::test]
async fn a_collision_introduced_by_a_reload_keeps_the_old_name_working() {
    let crm = HttpUpstream::start(TestUpstream::new("crm")).await;
    let erp = HttpUpstream::start(TestUpstream::new("erp")).await;
    let base = http_table("crm", &crm.url());
    let gateway = TestGateway::start_unwatched(&base).await;
    let client = gateway.client().await;
    assert_eq!(
        text_of(&call(&client, "execute_tool", json!({"tool_name": "whoami"})).await),
        "crm"
    );

    std::fs::write(
        &gateway.path,
        format!("{base}{}", http_table("erp", &erp.url())),
    )
    .expect("write");
    reloader::reload_once(&gateway.running.gateway, &loader(&gateway)).await;
    assert!(
        domain_tools(&client, "crm")
            .await
            .contains(&"crm_whoami".to_string())
    );
    // a caller that learned `whoami` before the collision still reaches crm's tool
    let result = call(&client, "execute_tool", json!({"tool_name": "whoami"})).await;
    assert_eq!(text_of(&result), "crm");
    let schema = json_of(&call(&client, "get_tool_schema", json!({"tool_name": "whoami"})).await);
    assert_eq!(
        schema["name"], "crm_whoami",
        "the answer names the tool as it is called now"
    );
    gateway.stop().await;
}
