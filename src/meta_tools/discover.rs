//! `discover_tools`: the domain summary, one domain's (or group's) tools, or a query search.

use std::sync::Arc;

use rmcp::model::{CallToolResult, JsonObject};
use serde::Deserialize;
use serde_json::{Value, json};

use super::args::{non_blank, parse};
use super::{DISCOVER_TOOLS, finish};
use crate::error::{GatewayError, json_result};
use crate::gateway::Gateway;
use crate::registry::Registry;
use crate::signature;
use crate::telemetry::spans;

/// Longest query considered, in characters.
const MAX_QUERY_CHARS: usize = 1000;
/// Default and largest `limit` of a query.
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    domain: Option<String>,
    group: Option<String>,
    query: Option<String>,
    limit: Option<i64>,
    format: Option<String>,
}

/// How tool lists are rendered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Objects with name, group, description.
    Json,
    /// One-line signatures with a short description: cheapest in tokens.
    Signatures,
}

fn format_of(raw: Option<&str>) -> Result<Format, GatewayError> {
    match raw.map(str::trim) {
        None | Some("" | "json") => Ok(Format::Json),
        Some("signatures" | "signature") => Ok(Format::Signatures),
        Some(other) => Err(GatewayError::InvalidArguments {
            tool: DISCOVER_TOOLS.into(),
            problems: vec![format!(
                "format must be \"json\" or \"signatures\" (got {other:?})"
            )],
            signature: None,
        }),
    }
}

pub(super) async fn run(gateway: &Arc<Gateway>, arguments: JsonObject) -> CallToolResult {
    finish(discover(gateway, arguments).await)
}

/// The query's embedding when the semantic ranker is on (computed on a blocking thread); `None`
/// falls back to lexical ranking.
async fn query_vector(gateway: &Gateway, query: Option<&str>) -> Option<Arc<[f32]>> {
    let model = gateway.semantic()?.clone();
    let query = query?.to_string();
    match tokio::task::spawn_blocking(move || model.embed_query(&query)).await {
        Ok(Ok(vector)) => Some(vector),
        Ok(Err(error)) => {
            tracing::warn!(%error, "query not embedded: ranked lexically");
            None
        }
        Err(error) => {
            tracing::warn!(%error, "query embedding task failed: ranked lexically");
            None
        }
    }
}

async fn discover(
    gateway: &Arc<Gateway>,
    arguments: JsonObject,
) -> Result<CallToolResult, GatewayError> {
    let args: Args = parse(DISCOVER_TOOLS, arguments)?;
    let domain = non_blank(args.domain);
    let group = non_blank(args.group);
    let format = format_of(args.format.as_deref())?;
    // A query is a task in a few words: the rest of a huge one is not worth tokenising.
    let query = non_blank(args.query).map(|q| q.chars().take(MAX_QUERY_CHARS).collect::<String>());
    if let Some(domain) = &domain {
        spans::record(spans::DOMAIN, || {
            domain.chars().take(128).collect::<String>()
        });
    }
    if let Some(query) = &query {
        spans::record(spans::QUERY, || {
            query
                .chars()
                .take(spans::MAX_QUERY_CHARS)
                .collect::<String>()
        });
    }
    let vector = query_vector(gateway, query.as_deref()).await;
    let registry = gateway.registry();
    if let Some(domain) = &domain
        && !registry.domains().contains_key(domain)
    {
        return Err(domain_not_found(&registry, domain));
    }
    if let Some(query) = query {
        let limit = match args.limit {
            None => DEFAULT_LIMIT,
            Some(n) if n < 1 => {
                return Err(GatewayError::InvalidArguments {
                    tool: DISCOVER_TOOLS.into(),
                    problems: vec![format!("limit must be at least 1 (got {n})")],
                    signature: None,
                });
            }
            Some(n) => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
        };
        return Ok(json_result(search(
            &registry,
            &query,
            vector.as_deref(),
            domain.as_deref(),
            limit,
            format,
        )));
    }
    match (domain, group) {
        (None, None) => Ok(json_result(summary(&registry))),
        (None, Some(_)) => Err(GatewayError::InvalidArguments {
            tool: DISCOVER_TOOLS.into(),
            problems: vec!["group needs domain: pass the domain the group belongs to".into()],
            signature: None,
        }),
        (Some(domain), group) => {
            domain_tools(&registry, &domain, group.as_deref(), format).map(json_result)
        }
    }
}

fn domain_not_found(registry: &Registry, domain: &str) -> GatewayError {
    GatewayError::DomainNotFound {
        domain: domain.to_string(),
        available: registry.domains().keys().cloned().collect(),
    }
}

fn summary(registry: &Registry) -> Value {
    let domains: Vec<Value> = registry
        .domains()
        .iter()
        .map(|(name, entry)| {
            let mut value = json!({
                "name": name,
                "description": entry.description.as_deref().unwrap_or(""),
                "tool_count": entry.tools.len(),
                "groups": entry.groups.keys().collect::<Vec<_>>(),
            });
            let down = registry
                .upstreams()
                .get(name)
                .is_some_and(|u| u.state().label() == "down");
            if down {
                value["available"] = json!(false);
            }
            value
        })
        .collect();
    spans::record_count(spans::RESULT_COUNT, domains.len());
    json!({ "domains": domains, "total_tools": registry.tools().len() })
}

fn domain_tools(
    registry: &Registry,
    domain: &str,
    group: Option<&str>,
    format: Format,
) -> Result<Value, GatewayError> {
    let entry = registry
        .domains()
        .get(domain)
        .ok_or_else(|| domain_not_found(registry, domain))?;
    let indexes = match group {
        None => &entry.tools,
        Some(group) => entry
            .groups
            .get(group)
            .ok_or_else(|| GatewayError::GroupNotFound {
                domain: domain.to_string(),
                group: group.to_string(),
                available: entry.groups.keys().cloned().collect(),
            })?,
    };
    let tools: Vec<Value> = indexes
        .iter()
        .filter_map(|&i| registry.tool(i))
        .map(|t| match (format, group) {
            (Format::Signatures, _) => json!(signature::render_with_summary(t)),
            (Format::Json, None) => {
                json!({ "name": t.name, "group": t.group, "description": t.description() })
            }
            (Format::Json, Some(_)) => json!({ "name": t.name, "description": t.description() }),
        })
        .collect();
    spans::record_count(spans::RESULT_COUNT, tools.len());
    Ok(match group {
        None => json!({ "domain": domain, "tools": tools }),
        Some(group) => json!({ "domain": domain, "group": group, "tools": tools }),
    })
}

fn search(
    registry: &Registry,
    query: &str,
    vector: Option<&[f32]>,
    domain: Option<&str>,
    limit: usize,
    format: Format,
) -> Value {
    let results: Vec<Value> = registry
        .search_with(query, vector, domain, limit)
        .into_iter()
        .filter_map(|hit| Some((registry.tool(hit.index)?, hit.score)))
        .map(|(t, score)| match format {
            Format::Signatures => json!(signature::render_with_summary(t)),
            Format::Json => json!({
                "name": t.name, "domain": t.domain, "description": t.description(), "score": score,
            }),
        })
        .collect();
    spans::record_count(spans::RESULT_COUNT, results.len());
    let ranker = if vector.is_some() {
        "hybrid"
    } else {
        "lexical"
    };
    let mut value = json!({ "query": query, "ranker": ranker, "results": results });
    if value["results"].as_array().is_some_and(Vec::is_empty) {
        let domains: Vec<&String> = registry.domains().keys().collect();
        value["message"] = json!(format!(
            "No tool matched. Try other words, or browse a domain with discover_tools(domain=...). Domains: {}.",
            domains
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    value
}
