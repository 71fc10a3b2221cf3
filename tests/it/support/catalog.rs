//! The recorded tool catalog (`tests/fixtures/tool_catalog/`: real servers' `tools/list`) and the
//! hand-written query set, loaded into a registry without any network, and the search-quality
//! evaluation shared by the test and the `discovery` benchmark.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mcp_gateway::config::{Config, EnvLookup, ProtocolMode, Transport, UpstreamConfig};
use mcp_gateway::registry::{self, BuildInput, Registry, SearchHit};
use mcp_gateway::upstream::Upstream;
use rmcp::model::Tool;
use serde::Deserialize;
use serde_json::{Value, json};

/// The catalog directory.
pub fn catalog_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tool_catalog")
}

/// One recorded server.
#[derive(Deserialize)]
pub struct CatalogFile {
    /// Domain name the tools are served under.
    pub domain: String,
    /// Where the listing came from.
    pub source: Value,
    /// The listing as the server returned it.
    pub tools: Vec<Tool>,
}

/// One hand-written task and the tool(s) that do it, as `domain/original_name`.
#[derive(Deserialize, Clone)]
pub struct Query {
    /// The task in a user's words.
    pub query: String,
    /// Correct tools.
    pub expected: Vec<String>,
}

/// Every catalog file, sorted by domain.
pub fn load_catalog() -> Vec<CatalogFile> {
    let mut files: Vec<CatalogFile> = std::fs::read_dir(catalog_dir())
        .expect("catalog directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name().is_some_and(|n| n != "queries.json")
        })
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read catalog file");
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect();
    files.sort_by(|a, b| a.domain.cmp(&b.domain));
    files
}

/// The query set.
pub fn load_queries() -> Vec<Query> {
    let text = std::fs::read_to_string(catalog_dir().join("queries.json")).expect("queries.json");
    serde_json::from_str(&text).expect("queries.json parses")
}

/// A registry holding the whole catalog, built exactly as the gateway builds its snapshots.
pub fn catalog_registry(files: &[CatalogFile]) -> Registry {
    let domains: Vec<(String, Option<String>, Vec<Tool>)> = files
        .iter()
        .map(|file| {
            // The package's own registry summary, as an operator would describe the upstream.
            let description = file.source["description"]
                .as_str()
                .filter(|d| !d.is_empty())
                .map(String::from);
            (file.domain.clone(), description, file.tools.clone())
        })
        .collect();
    let (config, upstreams) = listed_upstreams(domains);
    build_registry(&config, &upstreams)
}

/// Upstreams that already hold the given listings (domain, description, tools), and the config
/// that names them; nothing is connected.
pub fn listed_upstreams(
    domains: Vec<(String, Option<String>, Vec<Tool>)>,
) -> (Arc<Config>, BTreeMap<String, Arc<Upstream>>) {
    let mut upstreams = BTreeMap::new();
    let mut config = Config::load_with(None, &EnvLookup::default()).expect("default config");
    for (domain, description, tools) in domains {
        let upstream_config = UpstreamConfig {
            description,
            transport: Transport::Stdio {
                command: "recorded".into(),
                args: Vec::new(),
                env: BTreeMap::new(),
                cwd: None,
            },
            protocol: ProtocolMode::Auto,
            curation: Default::default(),
            max_description_chars: usize::MAX,
            limits: Default::default(),
            forward_headers: Vec::new(),
        };
        let upstream = Upstream::new(domain.clone(), upstream_config.clone(), None, None);
        upstream.set_listing(tools);
        config.upstreams.insert(domain.clone(), upstream_config);
        upstreams.insert(domain, Arc::new(upstream));
    }
    (Arc::new(config), upstreams)
}

/// A snapshot of `upstreams`' current listings, as the gateway builds it on every refresh.
pub fn build_registry(
    config: &Arc<Config>,
    upstreams: &BTreeMap<String, Arc<Upstream>>,
) -> Registry {
    registry::build(BuildInput {
        generation: 1,
        config: config.clone(),
        upstreams: upstreams.clone(),
        previous: None,
    })
}

/// Search quality over the query set.
#[derive(Debug, Clone, Copy)]
pub struct Quality {
    /// Queries.
    pub queries: usize,
    /// Share with a correct tool first.
    pub recall_at_1: f64,
    /// Share with a correct tool in the top 5.
    pub recall_at_5: f64,
    /// Mean reciprocal rank of the first correct tool (0 beyond 50).
    pub mrr: f64,
}

/// Runs every query against `registry`'s lexical search; `misses` receives queries without a
/// top-5 hit.
pub fn evaluate(
    registry: &Registry,
    queries: &[Query],
    misses: &mut Vec<(String, Vec<String>)>,
) -> Quality {
    evaluate_with(
        registry,
        queries,
        |q| registry.search(&q.query, None, 50),
        misses,
    )
}

/// As [`evaluate`], ranking each query with `search` (the query's position is its argument).
pub fn evaluate_with(
    registry: &Registry,
    queries: &[Query],
    search: impl Fn(&Query) -> Vec<SearchHit>,
    misses: &mut Vec<(String, Vec<String>)>,
) -> Quality {
    let (mut at1, mut at5, mut rr) = (0usize, 0usize, 0.0);
    for query in queries {
        let hits = search(query);
        let ids: Vec<String> = hits
            .iter()
            .filter_map(|h| registry.tool(h.index))
            .map(|t| format!("{}/{}", t.domain, t.original_name()))
            .collect();
        let rank = ids.iter().position(|id| query.expected.contains(id));
        if rank == Some(0) {
            at1 += 1;
        }
        if rank.is_some_and(|r| r < 5) {
            at5 += 1;
        } else {
            misses.push((query.query.clone(), ids.into_iter().take(5).collect()));
        }
        if let Some(r) = rank {
            rr += 1.0 / (r as f64 + 1.0);
        }
    }
    let n = queries.len().max(1) as f64;
    Quality {
        queries: queries.len(),
        recall_at_1: at1 as f64 / n,
        recall_at_5: at5 as f64 / n,
        mrr: rr / n,
    }
}

/// Bytes a model reads in a typical workflow (tools/list, one query, one schema) against loading
/// every tool's definition up front; averaged over the query set.
pub fn workflow_bytes(
    registry: &Registry,
    queries: &[Query],
    meta_tools: &[Tool],
) -> (usize, usize) {
    let list = serde_json::to_string(meta_tools).map_or(0, |s| s.len());
    let mut total = 0usize;
    for query in queries {
        let hits = registry.search(&query.query, None, 10);
        let results: Vec<Value> = hits
            .iter()
            .filter_map(|h| Some((registry.tool(h.index)?, h.score)))
            .map(|(t, score)| json!({"name": t.name, "domain": t.domain, "description": t.description(), "score": score}))
            .collect();
        let discover = json!({"query": query.query, "results": results})
            .to_string()
            .len();
        let schema = hits.first().and_then(|h| registry.tool(h.index)).map_or(0, |t| {
            json!({"name": t.name, "domain": t.domain, "group": t.group, "description": t.description(),
                   "parameters": t.tool.input_schema()}).to_string().len()
        });
        total += list + discover + schema;
    }
    let every: Vec<Tool> = registry.tools().iter().map(|t| t.tool.tool()).collect();
    let up_front = serde_json::to_string(&every).map_or(0, |s| s.len());
    (total / queries.len().max(1), up_front)
}
