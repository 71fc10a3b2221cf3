//! Discovery benchmark: search quality (recall@1, recall@5, MRR) of `discover_tools(query)` over
//! the recorded real-server catalog and the hand-written query set, query latency, registry
//! build time, and the bytes/tokens of a typical discovery workflow against loading every schema
//! up front. `cargo bench --bench discovery`; prints a table and writes
//! `target/discovery.json`.

#[path = "../tests/it/support/catalog.rs"]
mod catalog;

use std::time::Instant;

use serde_json::json;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() {
    let files = catalog::load_catalog();
    let queries = catalog::load_queries();
    let tools: usize = files.iter().map(|f| f.tools.len()).sum();

    let mut builds = Vec::new();
    let mut registry = catalog::catalog_registry(&files);
    for _ in 0..10 {
        let started = Instant::now();
        registry = catalog::catalog_registry(&files);
        builds.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    builds.sort_by(f64::total_cmp);

    let mut misses = Vec::new();
    let quality = catalog::evaluate(&registry, &queries, &mut misses);

    let mut latencies = Vec::new();
    for _ in 0..20 {
        for query in &queries {
            let started = Instant::now();
            let hits = registry.search(&query.query, None, 10);
            latencies.push(started.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(hits);
        }
    }
    latencies.sort_by(f64::total_cmp);

    let meta = mcp_gateway::meta_tools::list();
    let (workflow, up_front) = catalog::workflow_bytes(&registry, &queries, &meta);

    println!(
        "discovery benchmark: {} tools in {} domains, {} queries",
        tools,
        files.len(),
        queries.len()
    );
    println!("| metric | value |");
    println!("|---|---|");
    println!("| recall@1 | {:.3} |", quality.recall_at_1);
    println!("| recall@5 | {:.3} |", quality.recall_at_5);
    println!("| MRR | {:.3} |", quality.mrr);
    println!(
        "| search p50 / p99 (µs) | {:.0} / {:.0} |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    println!(
        "| registry build p50 (ms) | {:.2} |",
        percentile(&builds, 0.5)
    );
    println!(
        "| workflow bytes (tools/list + discover + schema) | {workflow} (~{} tokens) |",
        workflow / 4
    );
    println!(
        "| every schema up front | {up_front} (~{} tokens) |",
        up_front / 4
    );
    println!(
        "| saving | {:.1}× |",
        up_front as f64 / workflow.max(1) as f64
    );
    if !misses.is_empty() {
        println!("\nqueries without a correct tool in the top 5:");
        for (query, top) in &misses {
            println!("- {query:?} → {top:?}");
        }
    }
    let report = json!({
        "tools": tools, "domains": files.len(), "queries": queries.len(),
        "recall_at_1": quality.recall_at_1, "recall_at_5": quality.recall_at_5, "mrr": quality.mrr,
        "search_p50_us": percentile(&latencies, 0.5), "search_p99_us": percentile(&latencies, 0.99),
        "build_p50_ms": percentile(&builds, 0.5),
        "workflow_bytes": workflow, "up_front_bytes": up_front,
    });
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/discovery.json");
    if let Err(error) = std::fs::write(&path, format!("{report:#}\n")) {
        eprintln!("cannot write {}: {error}", path.display());
    }
}
