//! The gateway's shared state: the configured upstreams, the published registry snapshot, and
//! the one operation that rebuilds it (refresh). The request path only ever `load()`s.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::{Config, ServerSettings};
use crate::registry::{self, BuildInput, Registry};
use crate::upstream::Upstream;

/// Shared state of one running gateway.
pub struct Gateway {
    /// `[server]` settings (name, instructions override).
    settings: ServerSettings,
    /// Every configured upstream, sorted by domain.
    upstreams: Vec<Arc<Upstream>>,
    /// The published snapshot; swapped whole, never mutated.
    registry: ArcSwap<Registry>,
    /// Generation of the next snapshot.
    next_generation: AtomicU64,
    /// Serialises rebuilds so two refreshes never interleave their stores.
    refresh_lock: tokio::sync::Mutex<()>,
    /// Set once the first population finished (readiness).
    populated: AtomicBool,
}

/// What one refresh changed in one domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainChange {
    /// The domain.
    pub domain: String,
    /// Exposed names that appeared.
    pub added: Vec<String>,
    /// Exposed names that disappeared.
    pub removed: Vec<String>,
    /// Tools whose exposed name changed because a collision appeared or disappeared.
    pub renamed: Vec<Rename>,
    /// Tools the domain exposes now.
    pub tool_count: usize,
}

/// One tool whose exposed name changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rename {
    /// The previous exposed name.
    pub from: String,
    /// The new exposed name.
    pub to: String,
}

/// A domain that could not be refreshed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainFailure {
    /// The domain.
    pub domain: String,
    /// Why (no secrets).
    pub error: String,
}

/// The result of `refresh_registry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshReport {
    /// Domains that answered, with their changes.
    pub refreshed: Vec<DomainChange>,
    /// Domains that did not; their previous tools stay routable.
    pub failed: Vec<DomainFailure>,
}

impl Gateway {
    /// Creates the state for `config`; nothing is connected yet.
    pub fn new(config: &Config) -> Arc<Gateway> {
        let upstreams: Vec<Arc<Upstream>> = config
            .upstreams
            .iter()
            .map(|(domain, upstream)| {
                Arc::new(Upstream::new(
                    domain.clone(),
                    upstream.clone(),
                    config.server.registry_auth_token.clone(),
                ))
            })
            .collect();
        let registry = registry::build(BuildInput {
            generation: 0,
            upstreams: &upstreams,
        });
        Arc::new(Gateway {
            settings: config.server.clone(),
            upstreams,
            registry: ArcSwap::from_pointee(registry),
            next_generation: AtomicU64::new(1),
            refresh_lock: tokio::sync::Mutex::new(()),
            populated: AtomicBool::new(false),
        })
    }

    /// The `[server]` settings.
    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }

    /// The current snapshot. Callers must not hold it across an `.await`.
    pub fn registry(&self) -> arc_swap::Guard<Arc<Registry>> {
        self.registry.load()
    }

    /// Every configured upstream.
    pub fn upstreams(&self) -> &[Arc<Upstream>] {
        &self.upstreams
    }

    /// Whether the first population has finished.
    pub fn is_populated(&self) -> bool {
        self.populated.load(Ordering::Acquire)
    }

    /// Connects (where needed) and re-lists every upstream concurrently, then publishes a new
    /// snapshot and reports what changed. Used at start-up, by `refresh_registry` and by the
    /// background refresh.
    pub async fn refresh(&self) -> RefreshReport {
        let _serialised = self.refresh_lock.lock().await;
        let old = self.registry.load_full();
        let outcomes = futures::future::join_all(
            self.upstreams
                .iter()
                .map(|u| async move { (u.domain().to_string(), u.refresh_tools().await) }),
        )
        .await;
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let new = Arc::new(registry::build(BuildInput {
            generation,
            upstreams: &self.upstreams,
        }));
        let mut report = RefreshReport {
            refreshed: Vec::new(),
            failed: Vec::new(),
        };
        for (domain, outcome) in outcomes {
            match outcome {
                Ok(_) => report.refreshed.push(diff_domain(&old, &new, &domain)),
                Err(error) => report.failed.push(DomainFailure { domain, error }),
            }
        }
        self.registry.store(new);
        self.populated.store(true, Ordering::Release);
        report
    }

    /// The body of `/readyz` and whether the gateway is ready (populated, ≥ 1 tool).
    pub fn readiness(&self) -> (bool, Value) {
        let registry = self.registry.load();
        let ready = self.is_populated() && !registry.tools().is_empty();
        let mut domains = serde_json::Map::new();
        for upstream in &self.upstreams {
            let domain = upstream.domain();
            let tools = registry.domains().get(domain).map_or(0, |d| d.tools.len());
            let state = upstream.state();
            let mut entry = json!({ "tools": tools, "state": state.label() });
            if let crate::upstream::UpstreamState::Down { error } = &state {
                entry["error"] = json!(error);
            }
            if let Some(rejected) = registry.rejected().get(domain) {
                entry["rejected"] = json!(rejected);
            }
            domains.insert(domain.to_string(), entry);
        }
        let body = json!({
            "status": if ready { "ready" } else { "not_ready" },
            "tools": registry.tools().len(),
            "generation": registry.generation,
            "domains": domains,
        });
        (ready, body)
    }

    /// Closes every upstream session (stdio children end).
    pub async fn close(&self) {
        futures::future::join_all(self.upstreams.iter().map(|u| u.close())).await;
    }
}

/// Names of one domain in a snapshot: original name → exposed name.
fn domain_names(registry: &Registry, domain: &str) -> BTreeMap<String, String> {
    registry
        .tools()
        .iter()
        .filter(|t| t.domain == domain)
        .map(|t| (t.original_name.clone(), t.name.clone()))
        .collect()
}

fn diff_domain(old: &Registry, new: &Registry, domain: &str) -> DomainChange {
    let before = domain_names(old, domain);
    let after = domain_names(new, domain);
    let mut change = DomainChange {
        domain: domain.to_string(),
        added: Vec::new(),
        removed: Vec::new(),
        renamed: Vec::new(),
        tool_count: after.len(),
    };
    let originals: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for original in originals {
        match (before.get(original), after.get(original)) {
            (None, Some(to)) => change.added.push(to.clone()),
            (Some(from), None) => change.removed.push(from.clone()),
            (Some(from), Some(to)) if from != to => change.renamed.push(Rename {
                from: from.clone(),
                to: to.clone(),
            }),
            _ => {}
        }
    }
    change.added.sort();
    change.removed.sort();
    change
}
