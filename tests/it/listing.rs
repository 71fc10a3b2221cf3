//! Large listings over HTTP: the gateway fetches `tools/list` pages itself and keeps each tool as
//! text (see `upstream::listing`). Every tool must still arrive unchanged, pages must be posted
//! once each (no silent fallback), and tools with SEP-2243 `x-mcp-header` annotations must still
//! reach rmcp, whose header mirroring depends on them — for stateful (SSE) and stateless (JSON)
//! upstreams in both protocol eras.

use crate::support::upstream::{TestUpstream, headers_tool, synthetic_tools};
use crate::support::{
    Client, HttpUpstream, TestGateway, call, free_addr, headers_seen, http_table, json_of,
};
use rmcp::model::Tool;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

const SYNTHETIC: usize = 1_500;
const PAGE: usize = 400;

/// The standard tools, synthetic ones, and the annotated `headers` tool.
fn server() -> TestUpstream {
    let mut tools = TestUpstream::new("crm").listing();
    tools.extend(synthetic_tools("crm", SYNTHETIC));
    tools.push(headers_tool(true));
    TestUpstream::with_tools("crm", tools).paginated(PAGE)
}

/// The `Mcp-Param-Region` values the upstream saw on a `headers` call through the gateway.
async fn mirrored_region(client: &Client) -> Option<Value> {
    headers_seen(client, "eu-west")
        .await
        .get("mcp-param-region")
        .cloned()
}

/// The registry holds exactly the upstream's tools, each definition unchanged.
fn assert_listed_unchanged(gateway: &TestGateway, upstream: &[Tool]) {
    let registry = gateway.running.gateway.registry();
    assert_eq!(registry.tools().len(), upstream.len(), "every tool listed");
    for tool in upstream {
        let entry = registry
            .tools()
            .iter()
            .find(|entry| entry.original_name() == tool.name)
            .unwrap_or_else(|| panic!("{} missing", tool.name));
        assert_eq!(
            entry.tool.input_schema(),
            *tool.input_schema,
            "{}: input schema",
            tool.name
        );
        // Every field, as listed: the compact store rebuilds the very same definition.
        assert_eq!(entry.tool.tool(), *tool, "{}", tool.name);
    }
}

/// A gateway in front of `upstream` (domain `crm`), speaking `protocol` to it.
async fn gateway_on(upstream: &HttpUpstream, protocol: &str) -> TestGateway {
    let toml = format!(
        "{}protocol = \"{protocol}\"\n",
        http_table("crm", &upstream.url())
    );
    TestGateway::start(&toml).await
}

/// The gateway listed the upstream's tools unchanged, each page posted `posts` times (twice
/// when the tap fell back to rmcp).
fn assert_listed(gateway: &TestGateway, upstream: &HttpUpstream, posts: usize) {
    let listing = upstream.server.listing();
    assert_listed_unchanged(gateway, &listing);
    let pages = listing.len().div_ceil(PAGE);
    assert_eq!(
        upstream.server.stats.lists.load(Ordering::SeqCst),
        posts * pages,
        "pages posted (a second POST means the gateway fell back to rmcp)"
    );
}

async fn check(upstream: HttpUpstream, protocol: &str) {
    let gateway = gateway_on(&upstream, protocol).await;
    let listing = upstream.server.listing();
    assert_listed(&gateway, &upstream, 1);
    // Every page came on a connection closed after it: none keeps a listing-sized buffer.
    assert_eq!(
        upstream.server.stats.closing_lists.load(Ordering::SeqCst),
        upstream.server.stats.lists.load(Ordering::SeqCst)
    );

    let client = gateway.client().await;
    let mirrored = mirrored_region(&client).await;
    if protocol == "2026-07-28" {
        assert_eq!(mirrored, Some(json!(["eu-west"])), "SEP-2243 mirroring");
    } else {
        assert_eq!(mirrored, None, "no Mcp-Param headers before 2026-07-28");
    }

    // A refresh re-lists through the same path, finds nothing changed and rebuilds nothing.
    let generation = gateway.running.gateway.registry().generation;
    let report = json_of(&call(&client, "refresh_registry", json!({})).await);
    let change = &report["refreshed"][0];
    assert_eq!(change["domain"], json!("crm"), "{report}");
    assert_eq!(change["added"], json!([]), "{report}");
    assert_eq!(change["removed"], json!([]), "{report}");
    assert_eq!(change["tool_count"], json!(listing.len()), "{report}");
    assert_eq!(gateway.running.gateway.registry().generation, generation);
    // A changed listing is rebuilt.
    upstream.server.push_tool("late_tool");
    let report = json_of(&call(&client, "refresh_registry", json!({})).await);
    assert_eq!(
        report["refreshed"][0]["added"],
        json!(["late_tool"]),
        "{report}"
    );
    assert!(gateway.running.gateway.registry().generation > generation);
    assert_listed_unchanged(&gateway, &upstream.server.listing());
    gateway.stop().await;
}

// Multi-threaded, as the gateway runs: 1,500 tools are converted on the rebuild threads from a
// runtime worker that hands off its queue first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paged_listing_over_sse_arrives_whole_in_both_eras() {
    for protocol in ["2026-07-28", "2025-11-25"] {
        check(HttpUpstream::start(server()).await, protocol).await;
    }
}

#[tokio::test]
async fn a_paged_listing_over_json_answers_arrives_whole() {
    check(HttpUpstream::start_stateless(server()).await, "2026-07-28").await;
}

#[tokio::test]
async fn a_server_request_on_the_listing_stream_falls_back_to_rmcp() {
    // The tap gives up on a stream carrying a server request (it needs rmcp's handler): rmcp
    // posts the page again and answers the ping, so each page is listed twice and arrives whole.
    let upstream = HttpUpstream::start(server().pinging_on_list()).await;
    let gateway = gateway_on(&upstream, "2025-11-25").await;
    assert_listed(&gateway, &upstream, 2);
    gateway.stop().await;
}

#[tokio::test]
async fn a_tool_that_drops_its_header_annotation_is_no_longer_mirrored() {
    // rmcp's header cache only ever inserts: the re-listed tool must reach it to be replaced.
    let upstream = HttpUpstream::start(server()).await;
    let gateway = gateway_on(&upstream, "2026-07-28").await;
    let client = gateway.client().await;
    assert_eq!(mirrored_region(&client).await, Some(json!(["eu-west"])));
    upstream.server.replace(headers_tool(false));
    let report = json_of(&call(&client, "refresh_registry", json!({})).await);
    assert!(
        report["failed"].as_array().is_some_and(Vec::is_empty),
        "{report}"
    );
    assert_eq!(mirrored_region(&client).await, None);
    gateway.stop().await;
}

#[tokio::test]
async fn a_refresh_that_fails_or_finds_nothing_new_builds_no_snapshot() {
    // The backoff recovery of a dead upstream refreshes it again and again: each failed attempt
    // used to rebuild every other upstream's tools too.
    let upstream = HttpUpstream::start(server()).await;
    let dead = format!("http://{}/mcp", free_addr());
    let toml = format!(
        "{}{}",
        http_table("crm", &upstream.url()),
        http_table("dead", &dead)
    );
    let gateway = TestGateway::start(&toml).await;
    let client = gateway.client().await;
    let generation = gateway.running.gateway.registry().generation;
    for _ in 0..3 {
        let report = json_of(&call(&client, "refresh_registry", json!({})).await);
        assert_eq!(report["failed"][0]["domain"], json!("dead"), "{report}");
        assert_eq!(report["refreshed"][0]["removed"], json!([]), "{report}");
    }
    assert_eq!(gateway.running.gateway.registry().generation, generation);
    let summary = json_of(&call(&client, "discover_tools", json!({})).await).to_string();
    assert!(
        summary.contains("\"dead\""),
        "the dead domain is still shown: {summary}"
    );
    gateway.stop().await;
}
