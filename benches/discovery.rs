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

    let semantic = semantic_rows(&registry, &queries);

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
    match &semantic {
        Some(rows) => print_rankers(&quality, &latencies, rows),
        None => println!(
            "\nsemantic ranker: not measured (build with `--features semantic` and run \
             scripts/fetch-model, or set MCP_GATEWAY_MODEL_DIR)"
        ),
    }
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
        "semantic": semantic.as_ref().map(|rows| rows.json.clone()),
    });
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/discovery.json");
    if let Err(error) = std::fs::write(&path, format!("{report:#}\n")) {
        eprintln!("cannot write {}: {error}", path.display());
    }
}

/// One ranker's figures.
struct RankerRow {
    name: &'static str,
    quality: catalog::Quality,
    /// Per-query latencies in µs, sorted.
    latency: Vec<f64>,
    misses: Vec<(String, Vec<String>)>,
}

/// Figures of the semantic rankers, measured on the same registry and queries.
struct SemanticRows {
    /// Embedding every tool, ms.
    embed_all_ms: f64,
    /// Each semantic ranker.
    rows: Vec<RankerRow>,
    /// The figures for `target/discovery.json`.
    json: serde_json::Value,
}

fn print_rankers(lexical: &catalog::Quality, lexical_latency: &[f64], semantic: &SemanticRows) {
    println!(
        "\nrankers side by side (embedding all tools once: {:.0} ms)",
        semantic.embed_all_ms
    );
    println!("| ranker | recall@1 | recall@5 | MRR | query p50 / p99 (µs) |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, q: &catalog::Quality, l: &[f64]| {
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.0} / {:.0} |",
            q.recall_at_1,
            q.recall_at_5,
            q.mrr,
            percentile(l, 0.5),
            percentile(l, 0.99)
        );
    };
    row("lexical (BM25F)", lexical, lexical_latency);
    for r in &semantic.rows {
        row(r.name, &r.quality, &r.latency);
    }
    for RankerRow { name, misses, .. } in &semantic.rows {
        if !misses.is_empty() {
            println!("\n{name}: queries without a correct tool in the top 5:");
            for (query, top) in misses {
                println!("- {query:?} → {top:?}");
            }
        }
    }
}

#[cfg(not(feature = "semantic"))]
fn semantic_rows(
    _: &mcp_gateway::registry::Registry,
    _: &[catalog::Query],
) -> Option<SemanticRows> {
    None
}

/// Loads the model, embeds the catalog and evaluates the semantic ranker alone and fused.
#[cfg(feature = "semantic")]
fn semantic_rows(
    registry: &mcp_gateway::registry::Registry,
    queries: &[catalog::Query],
) -> Option<SemanticRows> {
    use mcp_gateway::registry::SearchHit;
    use mcp_gateway::semantic::{Semantic, similarity};

    let dir = std::env::var_os("MCP_GATEWAY_MODEL_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2"),
        std::path::PathBuf::from,
    );
    let model = match Semantic::load(&dir) {
        Ok(model) => model,
        Err(error) => {
            eprintln!("semantic ranker: {error}");
            return None;
        }
    };
    let started = Instant::now();
    if let Err(error) = model.embed_missing(registry, &|| false) {
        eprintln!("semantic ranker: {error}");
        return None;
    }
    let embed_all_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut vectors = Vec::new();
    let mut embed_latency = Vec::new();
    for query in queries {
        let started = Instant::now();
        let vector = model.embed_query(&query.query).ok()?;
        embed_latency.push(started.elapsed().as_secs_f64() * 1e6);
        vectors.push(vector);
    }
    let position =
        |q: &catalog::Query| queries.iter().position(|x| x.query == q.query).unwrap_or(0);
    let alone = |q: &catalog::Query| -> Vec<SearchHit> {
        let vector = &vectors[position(q)];
        let mut hits: Vec<SearchHit> = registry
            .tools()
            .iter()
            .enumerate()
            .filter_map(|(index, t)| {
                let score = f64::from(similarity(vector, t.tool.embedding()?));
                Some(SearchHit { index, score })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
        hits.truncate(50);
        hits
    };
    let fused =
        |q: &catalog::Query| registry.search_with(&q.query, Some(&vectors[position(q)]), None, 50);
    let mut rows = Vec::new();
    for (name, search) in [
        (
            "semantic alone (MiniLM-L6, cosine)",
            &alone as &dyn Fn(&catalog::Query) -> Vec<SearchHit>,
        ),
        ("hybrid (BM25F + MiniLM-L6, weighted RRF)", &fused),
    ] {
        let mut misses = Vec::new();
        let quality = catalog::evaluate_with(registry, queries, search, &mut misses);
        let mut latency = Vec::new();
        for query in queries {
            let started = Instant::now();
            std::hint::black_box(search(query));
            latency.push(started.elapsed().as_secs_f64() * 1e6);
        }
        // A query's cost includes embedding it.
        let mut latency: Vec<f64> = latency
            .iter()
            .zip(&embed_latency)
            .map(|(a, b)| a + b)
            .collect();
        latency.sort_by(f64::total_cmp);
        rows.push(RankerRow {
            name,
            quality,
            latency,
            misses,
        });
    }
    let json = json!({
        "model_dir": dir.display().to_string(),
        "embed_all_ms": embed_all_ms,
        "rankers": rows.iter().map(|r| json!({
            "name": r.name, "recall_at_1": r.quality.recall_at_1,
            "recall_at_5": r.quality.recall_at_5, "mrr": r.quality.mrr,
            "query_p50_us": percentile(&r.latency, 0.5),
            "query_p99_us": percentile(&r.latency, 0.99),
        })).collect::<Vec<_>>(),
    });
    Some(SemanticRows {
        embed_all_ms,
        rows,
        json,
    })
}
