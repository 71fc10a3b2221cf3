//! execute_tool: routing, results passed through unchanged, argument checks, upstream failures,
//! concurrency over one upstream session and cancellation.

use std::sync::atomic::Ordering;

use serde_json::json;

use crate::support::*;

async fn gateway_with(crm: &HttpUpstream) -> TestGateway {
    TestGateway::start(&format!(
        "{}{}",
        http_table("crm", &crm.url()),
        stdio_table("util", "util-stdio")
    ))
    .await
}

#[tokio::test]
async fn results_pass_through_unchanged() {
    let crm = HttpUpstream::start(TestUpstream::with_tools("crm", vec![])).await;
    let util_direct = HttpUpstream::start(TestUpstream::new("direct")).await;
    let gateway = gateway_with(&crm).await;
    let client = gateway.client().await;
    let direct = connect(
        &util_direct.url(),
        rmcp::service::ClientLifecycleMode::Initialize,
    )
    .await;

    for (tool, args) in [
        ("tiny_image", json!({})),
        ("weather_structured", json!({"city": "Oslo"})),
        ("always_fails", json!({})),
        ("add", json!({"a": 2, "b": 40})),
    ] {
        let via_gateway = call(
            &client,
            "execute_tool",
            json!({"tool_name": tool, "arguments": args}),
        )
        .await;
        let expected = call(&direct, tool, args.clone()).await;
        assert_eq!(
            via_gateway, expected,
            "{tool} changed on its way through the gateway"
        );
    }
    let image = call(&client, "execute_tool", json!({"tool_name": "tiny_image"})).await;
    assert_eq!(image.content.len(), 2);
    assert!(
        image.content[1]
            .as_image()
            .is_some_and(|i| i.data == upstream::TINY_PNG && i.mime_type == "image/png")
    );
    let structured = call(
        &client,
        "execute_tool",
        json!({"tool_name": "weather_structured", "arguments": {"city": "Oslo"}}),
    )
    .await;
    assert_eq!(
        structured.structured_content,
        Some(json!({"city": "Oslo", "temperature": 21.5, "unit": "C"}))
    );
    let failed = call(
        &client,
        "execute_tool",
        json!({"tool_name": "always_fails"}),
    )
    .await;
    assert_eq!(failed.is_error, Some(true));
    assert_eq!(text_of(&failed), "this tool always fails");
    gateway.stop().await;
}

#[tokio::test]
async fn routes_to_http_and_stdio_upstreams() {
    let crm = HttpUpstream::start(TestUpstream::with_tools(
        "crm",
        upstream::synthetic_tools("crm", 4),
    ))
    .await;
    let gateway = gateway_with(&crm).await;
    let client = gateway.client().await;
    let http = call(
        &client,
        "execute_tool",
        json!({"tool_name": "contacts_search", "arguments": {"query": "ada"}}),
    )
    .await;
    assert_eq!(text_of(&http), "contacts_search ok");
    assert_eq!(crm.server.stats.calls.load(Ordering::SeqCst), 1);
    let stdio = call(&client, "execute_tool", json!({"tool_name": "whoami"})).await;
    assert_eq!(text_of(&stdio), "util-stdio");
    let echo = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "héllo ✓"}}),
    )
    .await;
    assert_eq!(text_of(&echo), "héllo ✓");
    gateway.stop().await;
}

#[tokio::test]
async fn bad_arguments_and_names_are_reported_before_dispatch() {
    let crm = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&http_table("crm", &crm.url())).await;
    let client = gateway.client().await;

    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"mesage": "x"}}),
    )
    .await;
    assert_eq!(error_code(&result), "invalid_arguments");
    let body = json_of(&result);
    let problems = body["details"]["problems"].as_array().expect("problems");
    assert_eq!(
        problems,
        &[
            json!("arguments: Additional properties are not allowed ('mesage' was unexpected)"),
            json!("arguments: \"message\" is a required property"),
        ]
    );
    assert_eq!(body["details"]["signature"], "echo(message: str)");

    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": "hello"}),
    )
    .await;
    assert_eq!(error_code(&result), "invalid_arguments");
    assert!(text_of(&result).contains("arguments must be an object, got a string"));

    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "ehco", "arguments": {}}),
    )
    .await;
    assert_eq!(error_code(&result), "tool_not_found");
    assert_eq!(json_of(&result)["details"]["suggestions"][0], "echo");
    assert_eq!(
        crm.server.stats.calls.load(Ordering::SeqCst),
        0,
        "nothing reached the upstream"
    );

    // an object sent as a JSON string (a common model mistake) is accepted
    let args = json!({"tool_name": "echo", "arguments": "{\"message\": \"s\"}"});
    let result = call(&client, "execute_tool", args).await;
    assert_eq!(text_of(&result), "s");

    // the upstream's own -32602 also comes back as invalid_arguments, with the signature
    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": ""}}),
    )
    .await;
    assert_eq!(error_code(&result), "invalid_arguments");
    assert!(text_of(&result).contains("message must not be empty"));
    // type errors are caught before dispatch, with their JSON path
    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "add", "arguments": {"a": "x", "b": 1}}),
    )
    .await;
    assert_eq!(
        json_of(&result)["details"]["problems"],
        json!(["arguments/a: \"x\" is not of type \"number\""])
    );
    assert_eq!(
        crm.server.stats.calls.load(Ordering::SeqCst),
        2,
        "only the empty echo reached the upstream"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn upstream_errors_and_outages_have_their_own_codes() {
    let crm = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&http_table("crm", &crm.url())).await;
    let client = gateway.client().await;

    let result = call(&client, "execute_tool", json!({"tool_name": "rpc_error"})).await;
    assert_eq!(error_code(&result), "upstream_error");
    let details = json_of(&result)["details"].clone();
    assert_eq!(details["upstream_code"], -32050);
    assert_eq!(details["upstream_message"], "the upstream refused");
    assert_eq!(details["domain"], "crm");

    crm.stop();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let result = call(
        &client,
        "execute_tool",
        json!({"tool_name": "echo", "arguments": {"message": "x"}}),
    )
    .await;
    assert_eq!(error_code(&result), "upstream_unavailable");
    assert!(text_of(&result).contains("crm"));
    gateway.stop().await;
}

#[tokio::test]
async fn concurrent_calls_share_one_upstream_session() {
    let crm = HttpUpstream::start(TestUpstream::new("crm")).await;
    // pinned to the session era, so the upstream can count sessions (2026-07-28 has none)
    let toml = format!(
        "{}protocol = \"2025-11-25\"\n",
        http_table("crm", &crm.url())
    );
    let gateway = TestGateway::start(&toml).await;
    let clients = [gateway.client().await, gateway.client().await];
    let calls = (0..16).map(|i| {
        let client = &clients[i % 2];
        async move {
            call(
                client,
                "execute_tool",
                json!({"tool_name": "slow", "arguments": {"ms": 300}}),
            )
            .await
        }
    });
    let results = futures::future::join_all(calls).await;
    assert!(
        results.iter().all(|r| r.is_error != Some(true)),
        "{results:?}"
    );
    let stats = &crm.server.stats;
    assert_eq!(stats.calls.load(Ordering::SeqCst), 16);
    assert!(
        stats.max_in_flight.load(Ordering::SeqCst) >= 8,
        "calls were serialised"
    );
    assert_eq!(
        stats.sessions.load(Ordering::SeqCst),
        1,
        "one upstream session for every call and client"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn client_cancellation_is_forwarded_upstream() {
    let crm = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&http_table("crm", &crm.url())).await;
    let client = gateway.client().await;
    let handle = start_slow_call(&client, 30_000).await;
    let stats = crm.server.stats.clone();
    assert!(
        eventually(5, || stats.in_flight.load(Ordering::SeqCst) == 1).await,
        "call never reached the upstream"
    );
    handle
        .cancel(Some("test gave up".into()))
        .await
        .expect("cancel");
    assert!(
        eventually(5, || stats.cancelled.load(Ordering::SeqCst) == 1).await,
        "upstream never saw the cancellation"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn calling_an_upstream_tool_directly_explains_execute_tool() {
    let crm = HttpUpstream::start(TestUpstream::new("crm")).await;
    let gateway = TestGateway::start(&http_table("crm", &crm.url())).await;
    let client = gateway.client().await;
    let error = try_call(&client, "echo", json!({"message": "x"}))
        .await
        .expect_err("protocol error");
    assert!(
        error.to_string().contains("execute_tool(tool_name='echo'"),
        "{error}"
    );
    gateway.stop().await;
}
