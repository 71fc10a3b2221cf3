//! `forward_headers`: each call carries its own caller's listed headers to the upstream, and
//! nothing else: not to another call (two clients with different tokens, concurrently), not to
//! another upstream, not to the session's own requests; a static header of the same name wins;
//! names the transport owns are refused in the config.

use mcp_gateway::config::{Config, EnvLookup};
use serde_json::{Value, json};

use crate::support::*;

async fn seen(client: &Client, tool: &str) -> Value {
    let result = call(client, "execute_tool", json!({"tool_name": tool})).await;
    serde_json::from_str(&text_of(&result)).unwrap_or(Value::Null)
}

#[tokio::test]
async fn each_call_forwards_only_its_own_callers_headers() {
    let forwarding = HttpUpstream::start(TestUpstream::with_headers_tool("crm")).await;
    let other = HttpUpstream::start(TestUpstream::with_headers_tool("other")).await;
    let pinned = HttpUpstream::start(TestUpstream::with_headers_tool("pinned")).await;
    let gateway = TestGateway::start(&format!(
        "{}forward_headers = [\"Authorization\", \"x-tenant-id\", \"cookie\"]\n\
         {}\
         {}forward_headers = [\"x-tenant-id\"]\nheaders = {{ x-tenant-id = \"static-tenant\" }}\n",
        http_table("crm", &forwarding.url()),
        http_table("other", &other.url()),
        http_table("pinned", &pinned.url()),
    ))
    .await;
    let alice = connect_with_headers(
        &gateway.url(),
        "token-alice",
        &[("x-tenant-id", "t-alice"), ("cookie", "a=1")],
    )
    .await
    .expect("alice");
    let bob = connect_with_headers(&gateway.url(), "token-bob", &[("x-tenant-id", "t-bob")])
        .await
        .expect("bob");

    // Concurrent calls from both: every upstream call carries only its caller's values.
    let rounds = (0..20).map(|i| {
        let (client, who) = if i % 2 == 0 {
            (&alice, "alice")
        } else {
            (&bob, "bob")
        };
        async move { (who, seen(client, "crm_headers").await) }
    });
    for (who, headers) in futures::future::join_all(rounds).await {
        assert_eq!(
            headers["authorization"],
            json!([format!("Bearer token-{who}")]),
            "{who}: {headers}"
        );
        assert_eq!(
            headers["x-tenant-id"],
            json!([format!("t-{who}")]),
            "{who}: {headers}"
        );
        if who == "alice" {
            assert_eq!(headers["cookie"], json!(["a=1"]));
        } else {
            assert!(
                headers.get("cookie").is_none(),
                "bob never sent a cookie: {headers}"
            );
        }
    }
    // An upstream without forward_headers sees none of it.
    let headers = seen(&alice, "other_headers").await;
    assert!(
        headers.get("authorization").is_none() && headers.get("x-tenant-id").is_none(),
        "{headers}"
    );
    // A static header of the same name wins over the caller's.
    let headers = seen(&alice, "pinned_headers").await;
    assert_eq!(
        headers["x-tenant-id"],
        json!(["static-tenant"]),
        "{headers}"
    );
    gateway.stop().await;
}

#[test]
fn authorization_is_not_forwarded_while_the_gateway_checks_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gateway.toml");
    std::fs::write(
        &path,
        "[server.auth]\nbearer_tokens = [\"gateway-token\"]\n\
         [upstreams.a]\nurl = \"http://127.0.0.1:1/mcp\"\nforward_headers = [\"Authorization\"]\n",
    )
    .expect("write");
    let error = Config::load_with(Some(&path), &EnvLookup::default()).expect_err("refused");
    assert_eq!(error.problems.len(), 1, "{error}");
    assert_eq!(error.problems[0].path, "upstreams.a.forward_headers");
    assert!(
        error.problems[0].message.contains("[server.auth]"),
        "{error}"
    );
}

#[test]
fn forward_headers_refuses_names_the_transport_owns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gateway.toml");
    std::fs::write(
        &path,
        "[upstreams.a]\nurl = \"http://127.0.0.1:1/mcp\"\nforward_headers = [\"X-Tenant\", \"Host\", \"connection\", \"bad name\"]\n\
         [upstreams.b]\ncommand = \"x\"\nforward_headers = [\"authorization\"]\n",
    )
    .expect("write");
    let problems: Vec<String> = match Config::load_with(Some(&path), &EnvLookup::default()) {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(error) => error.problems.iter().map(ToString::to_string).collect(),
    };
    let expect = [
        "upstreams.a.forward_headers[1]: host is never forwarded",
        "upstreams.a.forward_headers[2]: connection is never forwarded",
        "upstreams.a.forward_headers[3]: \"bad name\" is not a valid header name",
        "upstreams.b.forward_headers: only applies to HTTP upstreams",
    ];
    for fragment in expect {
        assert!(
            problems.iter().any(|p| p.starts_with(fragment)),
            "missing {fragment:?} in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expect.len(), "{problems:#?}");
}
