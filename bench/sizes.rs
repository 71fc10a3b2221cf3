//! The rows that grow with the registry: `discover_tools(query)` and `get_tool_schema` latency
//! (end to end, and the in-process search alone), discover latency while the registry is being
//! rebuilt, the time to rebuild a snapshot, `tools/list` bytes, idle memory, and memory growth
//! over many calls at the largest size.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use serde_json::{Value, json};

use crate::drive::{self, Call};
use crate::report::{Report, Stats, median, mib};
use crate::{Options, catalog, procs, upstream};

/// Tasks in users' words for the synthetic tools (groups × actions of `synthetic_tools`).
const QUERIES: &[&str] = &[
    "search contacts",
    "find a deal",
    "delete an invoice",
    "export the reports",
    "archive old tickets",
    "update a calendar event",
    "list users",
    "create a new file",
    "get invoice records",
    "remove contacts from the system",
];

/// Longest a listing (or the first rebuild) may take.
const LIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Tools the test server lists besides the synthetic ones.
const STANDARD_TOOLS: usize = 10;

/// Compact JSON length of a value.
fn json_bytes<T: serde::Serialize>(value: &T) -> Result<usize, String> {
    serde_json::to_vec(value)
        .map(|b| b.len())
        .map_err(|e| format!("serialise: {e}"))
}

/// Everything measured at one size.
struct SizeRow {
    tools: usize,
    discover: Stats,
    discover_during_rebuilds: Stats,
    schema: Stats,
    search_us: Stats,
    rebuild_ms: f64,
    refresh_ms: f64,
    refresh_changed_ms: f64,
    list_bytes_direct: usize,
    list_bytes_gateway: usize,
    rss_idle_kib: Option<u64>,
}

/// Runs every size, then the memory-growth check at the largest.
pub async fn run(options: &Options, report: &mut Report) -> Result<(), String> {
    let mut rows = Vec::new();
    for &size in &options.sizes {
        rows.push(one_size(options, size).await?);
    }
    let headers = [
        "tools",
        "discover(query) p50 / p99 ms",
        "… during rebuilds p99 ms",
        "search alone p50 / p99 µs",
        "get_tool_schema p50 / p99 ms",
        "snapshot rebuild ms",
        "refresh_registry ms: unchanged / every tool changed",
        "tools/list bytes direct → gateway",
        "gateway RSS idle MiB",
    ];
    let shown: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.tools.to_string(),
                format!("{:.3} / {:.3}", r.discover.p50, r.discover.p99),
                format!("{:.3}", r.discover_during_rebuilds.p99),
                format!("{:.0} / {:.0}", r.search_us.p50, r.search_us.p99),
                format!("{:.3} / {:.3}", r.schema.p50, r.schema.p99),
                format!("{:.2}", r.rebuild_ms),
                format!("{:.1} / {:.1}", r.refresh_ms, r.refresh_changed_ms),
                format!("{} → {}", r.list_bytes_direct, r.list_bytes_gateway),
                mib(r.rss_idle_kib),
            ]
        })
        .collect();
    let value: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "tools": r.tools,
                "discover_p50_ms": r.discover.p50, "discover_p99_ms": r.discover.p99,
                "discover_during_rebuilds_p99_ms": r.discover_during_rebuilds.p99,
                "search_p50_us": r.search_us.p50, "search_p99_us": r.search_us.p99,
                "schema_p50_ms": r.schema.p50, "schema_p99_ms": r.schema.p99,
                "rebuild_ms": r.rebuild_ms, "refresh_registry_ms": r.refresh_ms,
                "refresh_registry_all_changed_ms": r.refresh_changed_ms,
                "tools_list_bytes_direct": r.list_bytes_direct,
                "tools_list_bytes_gateway": r.list_bytes_gateway,
                "rss_idle_kib": r.rss_idle_kib,
            })
        })
        .collect();
    report.table(
        "Registry size: discovery, schema, rebuild, bytes, memory",
        &headers,
        &shown,
        Value::Array(value),
    );
    if let Some(&largest) = options.sizes.iter().max() {
        soak(options, largest, report).await?;
    }
    Ok(())
}

async fn one_size(options: &Options, size: usize) -> Result<SizeRow, String> {
    let upstream = procs::upstream(size).await?;
    let gateway = procs::gateway(&upstream.url, crate::GATEWAY_SERVER_KEYS).await?;
    tokio::time::sleep(crate::SETTLE).await;
    let rss_idle_kib = gateway.rss_kib();
    let direct = drive::connect(&upstream.url).await?;
    let client = drive::connect(&gateway.url).await?;

    let listing = |client: &drive::Client| {
        let peer = client.peer().clone();
        async move {
            tokio::time::timeout(LIST_TIMEOUT, peer.list_all_tools())
                .await
                .map_err(|_| format!("tools/list took longer than {LIST_TIMEOUT:?}"))?
                .map_err(|e| format!("tools/list: {e}"))
        }
    };
    let listed = listing(&direct).await?;
    let tools = listed.len();
    // The `tools` array as compact JSON: what a client puts in the model's context.
    let list_bytes_direct = json_bytes(&listed)?;
    let list_bytes_gateway = json_bytes(&listing(&client).await?)?;

    let discover: Vec<Call> = QUERIES
        .iter()
        // A non-empty result list names tools: an empty answer must not pass for a fast one.
        .map(|q| Call::direct("discover_tools", json!({"query": q})).expecting("\"name\""))
        .collect();
    let schema: Vec<Call> = listed
        .iter()
        .step_by((tools / 50).max(1))
        .map(|t| {
            Call::direct("get_tool_schema", json!({"tool_name": t.name})).expecting("parameters")
        })
        .collect();
    let n = options.calls;
    drive::sequential_mix(&client, &discover, n.min(100)).await?;
    let discover_stats = Stats::of(drive::sequential_mix(&client, &discover, n).await?);
    let schema_stats = Stats::of(drive::sequential_mix(&client, &schema, n).await?);

    // refresh_registry end to end: re-list every tool over HTTP, rebuild, swap.
    let refresh = Call::direct("refresh_registry", json!({})).expecting("refreshed");
    let reps = if size >= 5000 { 3 } else { options.reps.max(3) };
    let refresh_ms = median(&drive::sequential(&client, &refresh, reps).await?);

    // Discover while another session keeps rebuilding the registry (measured once the first
    // rebuild is done, so the two overlap).
    let rebuilding = Arc::new(AtomicBool::new(true));
    let loop_client = drive::connect(&gateway.url).await?;
    let flag = rebuilding.clone();
    let (first_done, first) = tokio::sync::oneshot::channel();
    let refresher = tokio::spawn(async move {
        let mut rebuilds = 0u32;
        let mut first_done = Some(first_done);
        let outcome = loop {
            if let Err(error) = refresh.run(&loop_client).await {
                break Err(error);
            }
            rebuilds += 1;
            if let Some(signal) = first_done.take() {
                let _ = signal.send(());
            }
            if !flag.load(Ordering::Relaxed) {
                break Ok(rebuilds);
            }
        };
        drive::close(loop_client).await;
        outcome
    });
    let _ = tokio::time::timeout(LIST_TIMEOUT, first).await;
    let during = Stats::of(drive::sequential_mix(&client, &discover, n).await?);
    rebuilding.store(false, Ordering::Relaxed);
    let rebuilds = refresher.await.map_err(|e| format!("refresher: {e}"))??;
    if rebuilds < 2 {
        return Err(format!(
            "the rebuild loop did not overlap the discover calls at {size} tools"
        ));
    }

    let (search_us, rebuild_ms) = in_process(tools.saturating_sub(STANDARD_TOOLS).max(1));
    drive::close(client).await;
    drive::close(direct).await;
    drop(gateway);
    drop(upstream);
    let refresh_changed_ms = refresh_all_changed(size, reps).await?;
    Ok(SizeRow {
        tools,
        discover: discover_stats,
        discover_during_rebuilds: during,
        schema: schema_stats,
        search_us,
        rebuild_ms,
        refresh_ms,
        refresh_changed_ms,
        list_bytes_direct,
        list_bytes_gateway,
        rss_idle_kib,
    })
}

/// `refresh_registry` (ms, median of `reps`) when every definition changed since the last
/// listing, against an upstream that changes each description with each listing: the
/// re-listing, every tool parsed again, one rebuild and swap.
async fn refresh_all_changed(size: usize, reps: usize) -> Result<f64, String> {
    let upstream = procs::upstream_with(size, &["--churn"]).await?;
    let gateway = procs::gateway(&upstream.url, crate::GATEWAY_SERVER_KEYS).await?;
    let client = drive::connect(&gateway.url).await?;
    let refresh = Call::direct("refresh_registry", json!({})).expecting("refreshed");
    let ms = median(&drive::sequential(&client, &refresh, reps).await?);
    // The population listed once, each refresh once more: the last refresh's definitions
    // must be the ones served.
    let latest = format!("(listing {})", reps + 1);
    Call::direct("get_tool_schema", json!({"tool_name": "echo"}))
        .expecting(&latest)
        .run(&client)
        .await
        .map_err(|e| format!("after refreshes of changed tools: {e}"))?;
    drive::close(client).await;
    Ok(ms)
}

/// The gateway's own work without the network: search latency (µs) over the query set, and the
/// time (ms) to build a snapshot of the same tools the upstream lists and swap it in, as a
/// refresh does (the previous snapshot passed in for its aliases).
fn in_process(synthetic: usize) -> (Stats, f64) {
    let tools = upstream::TestUpstream::with_synthetic("bench", synthetic).listing();
    let (config, upstreams) = catalog::listed_upstreams(vec![("bench".into(), None, tools)]);
    let current = ArcSwap::from_pointee(catalog::build_registry(&config, &upstreams));
    let reps = if synthetic >= 5000 { 5 } else { 10 };
    let mut builds = Vec::new();
    for generation in 0..reps {
        let started = Instant::now();
        let next = mcp_gateway::registry::build(mcp_gateway::registry::BuildInput {
            generation: generation + 2,
            config: config.clone(),
            upstreams: upstreams.clone(),
            previous: Some(current.load_full()),
        });
        current.store(Arc::new(next));
        builds.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let registry = current.load_full();
    let mut samples = Vec::new();
    for _ in 0..50 {
        for query in QUERIES {
            let started = Instant::now();
            std::hint::black_box(registry.search(query, None, 10));
            samples.push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    (Stats::of(samples), median(&builds))
}

/// Memory before and after `options.soak` execute_tool calls at `size` tools.
async fn soak(options: &Options, size: usize, report: &mut Report) -> Result<(), String> {
    let upstream = procs::upstream(size).await?;
    let gateway = procs::gateway(&upstream.url, crate::GATEWAY_SERVER_KEYS).await?;
    let call = Call::executed("echo", json!({"message": "hello"})).expecting("hello");
    let sessions = drive::sessions::<drive::Client>(&gateway.url, 16).await?;
    // Warm every path first, so one-time allocations are not counted as growth.
    drive::fixed_count(&sessions, &call, (options.soak as u64 / 10).max(100)).await?;
    let before = gateway.rss_kib();
    let rate = drive::fixed_count(&sessions, &call, options.soak as u64).await?;
    let after = gateway.rss_kib();
    drive::close_all(sessions).await;
    let growth = match (before, after) {
        (Some(b), Some(a)) => format!("{:+.1}", (a as f64 - b as f64) / 1024.0),
        _ => "?".into(),
    };
    report.memory_row(
        &format!(
            "gateway RSS over {} execute_tool calls at {size} tools (16 sessions, {rate:.0} calls/s): before → after (MiB)",
            options.soak
        ),
        json!({"tools": size, "calls": options.soak, "before_kib": before, "after_kib": after,
               "calls_per_s": rate}),
        format!("{} → {} ({growth})", mib(before), mib(after)),
    );
    Ok(())
}
