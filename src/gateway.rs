//! The gateway's shared state: the published registry snapshot (the whole routing state) and the
//! operations that replace it: refresh (re-list upstreams) and reload (apply a new config).
//! The request path only ever `load()`s.

mod diff;
mod reload;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;
use serde_json::{Value, json};
use tracing::Instrument;

pub use diff::{DomainChange, Rename};
pub use reload::{ConfigStatus, ReloadOutcome};

use crate::config::Config;
use crate::cpu_work::{drop_later, on_rebuild_threads};
use crate::metrics::{Metrics, UpstreamSample};
use crate::registry::{self, BuildInput, Registry};
use crate::semantic::Semantic;
use crate::upstream::{ToolChanges, Upstream, UpstreamState};

/// Shared state of one running gateway.
pub struct Gateway {
    /// The published snapshot; swapped whole, never mutated.
    registry: ArcSwap<Registry>,
    /// Serialises read-build-store so concurrent rebuilds never lose each other's changes. Never
    /// held across an `.await` and never taken by requests.
    publish: Mutex<()>,
    /// Serialises whole reload transactions (which connect new upstreams).
    reload_lock: tokio::sync::Mutex<()>,
    /// Generation of the next snapshot.
    next_generation: AtomicU64,
    /// Set once the first population finished (readiness).
    populated: AtomicBool,
    /// Where every upstream records its list_changed notifications.
    events: Arc<ToolChanges>,
    /// The outcome of the last config load, for `/readyz`.
    config_status: Mutex<ConfigStatus>,
    /// Woken when settings that background tasks read (refresh interval) may have changed.
    settings_changed: tokio::sync::Notify,
    /// Woken after every published snapshot (the embedding task embeds new tools).
    published: tokio::sync::Notify,
    /// The semantic ranker's model, when `[search] model_dir` is set.
    semantic: OnceLock<Arc<Semantic>>,
    /// Prometheus metrics.
    metrics: Metrics,
    /// The runtime it was created on (the main one), where refreshes a client asks for run.
    home: Option<tokio::runtime::Handle>,
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
    pub fn new(config: Config) -> Arc<Gateway> {
        let events = Arc::new(ToolChanges::default());
        let config = Arc::new(config);
        let upstreams = config
            .upstreams
            .iter()
            .map(|(domain, upstream)| {
                let token = config.server.registry_auth_token.clone();
                let upstream = Upstream::new(
                    domain.clone(),
                    upstream.clone(),
                    token,
                    Some(events.clone()),
                );
                (domain.clone(), Arc::new(upstream))
            })
            .collect();
        let registry = registry::build(BuildInput {
            generation: 0,
            config,
            upstreams,
            previous: None,
        });
        let gateway = Gateway {
            registry: ArcSwap::from_pointee(registry),
            publish: Mutex::new(()),
            reload_lock: tokio::sync::Mutex::new(()),
            next_generation: AtomicU64::new(1),
            populated: AtomicBool::new(false),
            events,
            config_status: Mutex::new(ConfigStatus::initial()),
            settings_changed: tokio::sync::Notify::new(),
            published: tokio::sync::Notify::new(),
            semantic: OnceLock::new(),
            metrics: Metrics::new(),
            home: tokio::runtime::Handle::try_current().ok(),
        };
        Arc::new(gateway)
    }

    /// The domains whose upstreams announced tool list changes (drained by `background`).
    pub fn tool_changes(&self) -> &ToolChanges {
        &self.events
    }

    /// Notified after every applied reload (settings that background tasks read may differ).
    pub fn settings_notify(&self) -> &tokio::sync::Notify {
        &self.settings_changed
    }

    /// Notified after every published snapshot (a permit is kept if nobody waits).
    pub fn published_notify(&self) -> &tokio::sync::Notify {
        &self.published
    }

    /// Turns the hybrid ranker on with `model` (once; later calls are ignored).
    pub fn enable_semantic(&self, model: Arc<Semantic>) {
        let _ = self.semantic.set(model);
    }

    /// The semantic ranker's model, when on.
    pub fn semantic(&self) -> Option<&Arc<Semantic>> {
        self.semantic.get()
    }

    /// The current snapshot. Callers must not hold it across an `.await`.
    pub fn registry(&self) -> arc_swap::Guard<Arc<Registry>> {
        self.registry.load()
    }

    /// The current snapshot as an owned `Arc`, for blocking work off the request path.
    pub fn registry_full(&self) -> Arc<Registry> {
        self.registry.load_full()
    }

    /// Whether the first population has finished.
    pub fn is_populated(&self) -> bool {
        self.populated.load(Ordering::Acquire)
    }

    /// Builds the next snapshot from what `next` picks out of the current one (config and
    /// upstreams, read with their latest listings) and publishes it. The only place that stores.
    fn publish(
        &self,
        next: impl FnOnce(&Registry) -> (Arc<Config>, BTreeMap<String, Arc<Upstream>>),
    ) -> Arc<Registry> {
        let _serialised = self
            .publish
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.registry.load_full();
        let (config, upstreams) = next(&current);
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let input = BuildInput {
            generation,
            config,
            upstreams,
            // Names seen during the first population were never settled: only carry aliases
            // from snapshots clients could have learned names from.
            previous: self.is_populated().then(|| current.clone()),
        };
        // A large build runs where its allocations are freed and reused (`on_rebuild_threads`).
        let listed: usize = input
            .upstreams
            .values()
            .filter_map(|upstream| upstream.tools())
            .map(|tools| tools.len())
            .sum();
        let large = listed >= 2 * crate::cpu_work::MIN_PARALLEL_CHUNK;
        let registry = Arc::new(on_rebuild_threads(large, || registry::build(input)));
        self.registry.store(registry.clone());
        // Freeing the replaced snapshot takes milliseconds at 10,000 tools: not on this path.
        drop_later(current);
        self.published.notify_one();
        registry
    }

    /// Publishes a snapshot of `config` served by `upstreams`.
    fn publish_with(
        &self,
        config: Arc<Config>,
        upstreams: BTreeMap<String, Arc<Upstream>>,
    ) -> Arc<Registry> {
        self.publish(|_| (config, upstreams))
    }

    /// Rebuilds the current snapshot with the upstreams' latest listings.
    pub(crate) fn republish(&self) -> Arc<Registry> {
        self.publish(|current| (current.config().clone(), current.upstreams().clone()))
    }

    /// Re-lists every upstream concurrently, connecting where needed. Each answer is published as
    /// soon as it arrives, so one slow upstream never hides the others' tools. Used at start-up,
    /// by `refresh_registry` and by the background refresh.
    pub async fn refresh(&self) -> RefreshReport {
        let domains: Vec<String> = self.registry.load().upstreams().keys().cloned().collect();
        let report = self.refresh_domains(&domains).await;
        self.populated.store(true, Ordering::Release);
        report
    }

    /// [`Gateway::refresh`] on the main runtime, for a client's `refresh_registry`: re-listing
    /// and rebuilding take tens of milliseconds of CPU at 10,000 tools, which on the caller's
    /// connection worker would hold up every other connection it serves. Runs to the end even
    /// if the caller goes away. `Err` if the refresh task failed.
    pub async fn refresh_off_connections(self: &Arc<Self>) -> Result<RefreshReport, String> {
        let Some(home) = &self.home else {
            return Ok(self.refresh().await);
        };
        let gateway = self.clone();
        home.spawn(async move { gateway.refresh().await }.in_current_span())
            .await
            .map_err(|error| format!("the refresh failed inside the gateway: {error}"))
    }

    /// Re-lists the named upstreams (unknown names are skipped) and reports what changed.
    pub async fn refresh_domains(&self, domains: &[String]) -> RefreshReport {
        let before = self.registry.load_full();
        let targets: Vec<Arc<Upstream>> = domains
            .iter()
            .filter_map(|d| before.upstreams().get(d).cloned())
            .collect();
        let mut pending: FuturesUnordered<_> = targets
            .iter()
            .map(|u| async move { (u.domain().to_string(), u.refresh_tools().await) })
            .collect();
        let mut outcomes = Vec::new();
        while let Some(outcome) = pending.next().await {
            // Only a changed listing changes the snapshot: a failed one keeps the previous
            // tools (the upstream's state is read live), an identical one is the same. The
            // embedder is still woken, so tools it failed to embed are retried.
            if matches!(outcome.1, Ok(true)) {
                self.republish();
            } else {
                self.published.notify_one();
            }
            outcomes.push(outcome);
        }
        let after = self.registry.load_full();
        let mut report = RefreshReport {
            refreshed: Vec::new(),
            failed: Vec::new(),
        };
        for (domain, outcome) in outcomes {
            match outcome {
                Ok(_) => report
                    .refreshed
                    .push(diff::domain_change(&before, &after, &domain)),
                Err(error) => report.failed.push(DomainFailure { domain, error }),
            }
        }
        report.refreshed.sort_by(|a, b| a.domain.cmp(&b.domain));
        report.failed.sort_by(|a, b| a.domain.cmp(&b.domain));
        // Usually the last holder of the replaced snapshot: freed after the answer, not before.
        drop_later(before);
        report
    }

    /// Domains whose upstream is down right now.
    pub fn down_domains(&self) -> BTreeSet<String> {
        self.registry
            .load()
            .upstreams()
            .iter()
            .filter(|(_, u)| matches!(u.state(), UpstreamState::Down { .. }))
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// The body of `/readyz` and whether the gateway is ready (populated, ≥ 1 tool).
    pub fn readiness(&self) -> (bool, Value) {
        let registry = self.registry.load();
        let ready = self.is_populated() && !registry.tools().is_empty();
        let mut domains = serde_json::Map::new();
        for (domain, upstream) in registry.upstreams() {
            let entry_of = registry.domains().get(domain);
            let tools = entry_of.map_or(0, |d| d.tools.len());
            let state = upstream.state();
            let mut entry = json!({ "tools": tools, "state": state.label() });
            if let UpstreamState::Down { error } = &state {
                entry["error"] = json!(error);
            }
            if let Some(filtered) = entry_of.map(|d| d.filtered).filter(|n| *n > 0) {
                entry["filtered"] = json!(filtered);
            }
            if let Some(rejected) = registry.rejected().get(domain) {
                entry["rejected"] = json!(rejected);
            }
            domains.insert(domain.to_string(), entry);
        }
        let config = self.config_status().to_json();
        let search = match self.semantic() {
            Some(_) => json!({
                "ranker": "hybrid",
                "embedded": registry.tools().iter().filter(|t| t.tool.embedding().is_some()).count(),
            }),
            None => json!({ "ranker": "lexical" }),
        };
        let body = json!({
            "status": if ready { "ready" } else { "not_ready" },
            "tools": registry.tools().len(),
            "generation": registry.generation,
            "domains": domains,
            "config": config,
            "search": search,
        });
        (ready, body)
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The `/metrics` exposition; `in_flight` is the HTTP layer's count of MCP requests.
    pub fn metrics_text(&self, in_flight: usize) -> String {
        let samples: Vec<UpstreamSample> = {
            let registry = self.registry.load();
            registry
                .upstreams()
                .iter()
                .map(|(domain, upstream)| UpstreamSample {
                    domain: domain.clone(),
                    up: matches!(upstream.state(), UpstreamState::Ok),
                    tools: registry.domains().get(domain).map_or(0, |d| d.tools.len()),
                })
                .collect()
        };
        let generation = self.config_status().generation;
        self.metrics.render(in_flight, generation, &samples)
    }

    /// The outcome of the last config load.
    pub fn config_status(&self) -> ConfigStatus {
        self.config_status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Closes every upstream session for good (stdio children end).
    pub async fn close(&self) {
        let upstreams: Vec<Arc<Upstream>> =
            self.registry.load().upstreams().values().cloned().collect();
        futures::future::join_all(upstreams.iter().map(|u| u.close())).await;
    }
}
