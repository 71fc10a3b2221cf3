//! Property tests, bounded (a fixed number of cases, so CI time is fixed): the JSON-RPC entry
//! classifies any bytes without panicking and answers every POST over a real socket, and the
//! config loader turns any TOML or environment input into a config or a list of problems, each
//! with a key path, never a panic.

use std::collections::BTreeMap;

use mcp_gateway::config::{Config, EnvLookup};
use mcp_gateway::ingress::check_json_rpc;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as Runner, TestRunner};

use crate::support::*;

/// JSON-ish byte strings: random bytes, and mutations of real JSON-RPC messages.
fn bodies() -> impl Strategy<Value = Vec<u8>> {
    let seeds = [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        r#"[{"jsonrpc":"2.0","method":"notifications/initialized"}]"#,
        r#"{"jsonrpc":"2.0","id":"a","result":{}}"#,
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        (0..seeds.len(), any::<usize>(), any::<u8>(), 0usize..4).prop_map(
            move |(seed, at, byte, op)| {
                let mut bytes = seeds[seed].as_bytes().to_vec();
                let at = at % (bytes.len() + 1);
                match op {
                    0 => bytes.insert(at, byte),
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    2 if at < bytes.len() => bytes[at] = byte,
                    _ => bytes.truncate(at),
                }
                bytes
            }
        ),
    ]
}

#[test]
fn any_body_is_classified_without_panicking() {
    let mut runner = TestRunner::new(Runner::with_cases(4000));
    runner
        .run(&bodies(), |bytes| {
            if let Err(refusal) = check_json_rpc(&bytes) {
                prop_assert!(refusal.status == 400);
                prop_assert!(refusal.code == -32700 || refusal.code == -32600);
                prop_assert!(!refusal.message.is_empty());
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn every_post_is_answered_over_a_real_socket() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&http_table("crm", &up.url())).await;
    let http = reqwest::Client::new();
    let mut runner = TestRunner::new(Runner::with_cases(96));
    let strategy = bodies();
    let cases: Vec<Vec<u8>> = (0..96)
        .filter_map(|_| {
            strategy
                .new_tree(&mut runner)
                .ok()
                .map(|tree| tree.current())
        })
        .collect();
    assert_eq!(cases.len(), 96);
    for body in cases {
        let response = http
            .post(gateway.url())
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("no answer to {:?}: {e}", String::from_utf8_lossy(&body)));
        let status = response.status().as_u16();
        assert!(
            status < 500,
            "{status} for {:?}: {:?}",
            String::from_utf8_lossy(&body),
            response.text().await
        );
    }
    // Still serving.
    let client = gateway.client().await;
    assert!(!domains(&client).await.is_empty());
    gateway.stop().await;
}

/// TOML documents built from the real key names with values of every kind.
fn documents() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "host",
        "port",
        "name",
        "instructions",
        "refresh_interval",
        "registry_auth_token",
        "allowed_hosts",
        "allowed_origins",
        "shutdown_timeout",
        "max_body_bytes",
        "call_timeout",
        "max_concurrency",
        "url",
        "command",
        "args",
        "env",
        "cwd",
        "headers",
        "description",
        "protocol",
        "allowed_tools",
        "denied_tools",
        "tool_aliases",
        "model_dir",
        "bogus",
    ]);
    let leaf = prop_oneof![
        any::<i64>().prop_map(toml::Value::from),
        any::<bool>().prop_map(toml::Value::from),
        "[ -~]{0,12}".prop_map(toml::Value::from),
        prop::sample::select(vec!["http://127.0.0.1:1/mcp", "30s", "auto", "npx", "0"])
            .prop_map(toml::Value::from),
        (-1e3f64..1e3).prop_map(toml::Value::from),
    ];
    let value = leaf.prop_recursive(2, 16, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| toml::Value::Table(m.into_iter().collect())),
        ]
    });
    let table = proptest::collection::btree_map(keys, value, 0..6);
    let upstreams = proptest::collection::btree_map("[a-zA-Z_-]{1,6}", table.clone(), 0..3);
    (table, upstreams, any::<bool>()).prop_map(|(server, upstreams, search)| {
        let mut root = toml::Table::new();
        root.insert(
            "server".into(),
            toml::Value::Table(
                server
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            ),
        );
        let upstreams: toml::Table = upstreams
            .into_iter()
            .map(|(domain, table)| {
                (
                    domain,
                    toml::Value::Table(
                        table.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                    ),
                )
            })
            .collect();
        root.insert("upstreams".into(), toml::Value::Table(upstreams));
        if search {
            root.insert("search".into(), toml::Value::Table(toml::Table::new()));
        }
        toml::to_string(&root).unwrap_or_default()
    })
}

fn check_outcome(
    outcome: Result<Config, mcp_gateway::config::ConfigError>,
) -> Result<(), TestCaseError> {
    if let Err(error) = outcome {
        prop_assert!(!error.problems.is_empty());
        for problem in &error.problems {
            prop_assert!(
                !problem.path.is_empty() && !problem.message.is_empty(),
                "{problem:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn any_config_file_loads_or_lists_its_problems() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gateway.toml");
    let mut runner = TestRunner::new(Runner::with_cases(600));
    runner
        .run(&documents(), |text| {
            std::fs::write(&path, &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            check_outcome(Config::load_with(Some(&path), &EnvLookup::default()))
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // Text that is not TOML at all is one problem, not a panic.
    runner
        .run(&"[ -~\n]{0,80}", |text| {
            std::fs::write(&path, &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            check_outcome(Config::load_with(Some(&path), &EnvLookup::default()))
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn any_environment_loads_or_lists_its_problems() {
    let names = prop::sample::select(vec![
        "GATEWAY_UPSTREAMS",
        "GATEWAY_PORT",
        "GATEWAY_HOST",
        "GATEWAY_REFRESH_INTERVAL",
        "GATEWAY_DOMAIN_DESCRIPTIONS",
        "GATEWAY_UPSTREAM_HEADERS",
        "GATEWAY_AUTH_TOKENS",
        "GATEWAY_SERVER__PORT",
        "GATEWAY_UPSTREAMS__CRM__URL",
        "GATEWAY_UPSTREAMS__CRM__CALL_TIMEOUT",
        "GATEWAY_SEARCH__MODEL_DIR",
        "GATEWAY_BOGUS",
    ]);
    let values = prop_oneof![
        "[ -~]{0,24}",
        prop::sample::select(vec![
            r#"{"crm":"http://127.0.0.1:1/mcp"}"#,
            r#"{"mcpServers":{"x":{"command":"npx"}}}"#,
            r#"{"crm":{"url":5}}"#,
            "[1,2]",
            "99999",
            "-1",
            "",
        ])
        .prop_map(String::from),
    ];
    let mut runner = TestRunner::new(Runner::with_cases(600));
    runner
        .run(
            &proptest::collection::btree_map(names, values, 0..5),
            |vars: BTreeMap<&str, String>| {
                let env = EnvLookup::from_pairs(vars.iter().map(|(k, v)| (*k, v.as_str())));
                check_outcome(Config::load_with(None, &env))
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
}
