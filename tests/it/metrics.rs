//! `GET /metrics`: Prometheus text that parses, counters that move with calls (by meta-tool,
//! domain, tool and outcome), upstream state and tool counts, reload outcomes; unknown tool names
//! never become label values.

use std::collections::HashMap;

use mcp_gateway::reloader::{self, ConfigLoader};
use serde_json::json;

use crate::support::*;

/// The scrape as `name{labels} → value`, labels sorted; panics unless it parses.
async fn scrape(base: &str) -> (HashMap<String, f64>, String) {
    let response = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(content_type.contains("openmetrics-text"), "{content_type}");
    let text = response.text().await.expect("body");
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");
    let mut samples = HashMap::new();
    for sample in parsed.samples {
        let mut labels: Vec<String> = sample
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        labels.sort();
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => 0.0,
        };
        samples.insert(format!("{}{{{}}}", sample.metric, labels.join(",")), value);
    }
    (samples, text)
}

fn value(samples: &HashMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_parse_and_move_with_calls() {
    let up = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start_unwatched(&http_table("crm", &up.url())).await;
    let base = gateway.base();
    let (before, _) = scrape(&base).await;
    assert_eq!(
        value(&before, "gateway_upstream_up{domain=crm}"),
        1.0,
        "{before:?}"
    );
    assert_eq!(value(&before, "gateway_upstream_tools{domain=crm}"), 10.0);
    assert_eq!(value(&before, "gateway_config_generation{}"), 1.0);

    let client = gateway.client().await;
    call(&client, "discover_tools", json!({"query": "echo"})).await;
    call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "hi"}}),
    )
    .await;
    call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "again"}}),
    )
    .await;
    call(
        &client,
        "execute_tool",
        json!({"tool_name": "always_fails"}),
    )
    .await;
    call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"nope": 1}}),
    )
    .await;
    call(
        &client,
        "execute_tool",
        json!({"tool_name": "no_such_tool_xyz"}),
    )
    .await;
    let loader = ConfigLoader {
        path: Some(gateway.path.clone()),
        env: test_env(),
        sighup: false,
    };
    reloader::reload_once(&gateway.running.gateway, &loader).await;

    let (after, text) = scrape(&base).await;
    let expect = [
        (
            "gateway_meta_tool_calls_total{meta_tool=discover_tools,outcome=ok}",
            1.0,
        ),
        (
            "gateway_meta_tool_calls_total{meta_tool=execute_tool,outcome=ok}",
            2.0,
        ),
        (
            "gateway_meta_tool_calls_total{meta_tool=execute_tool,outcome=tool_error}",
            1.0,
        ),
        (
            "gateway_meta_tool_calls_total{meta_tool=execute_tool,outcome=invalid_arguments}",
            1.0,
        ),
        (
            "gateway_meta_tool_calls_total{meta_tool=execute_tool,outcome=tool_not_found}",
            1.0,
        ),
        (
            "gateway_tool_calls_total{domain=crm,outcome=ok,tool=echo}",
            2.0,
        ),
        (
            "gateway_tool_calls_total{domain=crm,outcome=tool_error,tool=always_fails}",
            1.0,
        ),
        (
            "gateway_tool_calls_total{domain=crm,outcome=invalid_arguments,tool=echo}",
            1.0,
        ),
        ("gateway_config_reloads_total{outcome=unchanged}", 1.0),
    ];
    for (key, want) in expect {
        assert_eq!(value(&after, key), want, "{key} in\n{text}");
    }
    // Upstream latency was observed for the three calls that reached the upstream.
    assert_eq!(
        value(&after, "gateway_tool_call_duration_seconds{domain=crm}"),
        3.0,
        "{text}"
    );
    assert!(
        !text.contains("no_such_tool_xyz"),
        "unknown names are not labels"
    );
    gateway.stop().await;
}
