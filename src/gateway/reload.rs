//! Applying a new configuration as one transaction: diff against the running config, keep the
//! sessions of unchanged upstreams, connect added and changed ones aside, then publish one
//! snapshot. Removed and replaced upstreams close when their last in-flight call ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Value, json};

use tracing::Instrument;

use super::Gateway;
use crate::config::{Config, ConfigError};
use crate::upstream::Upstream;

/// How long a reload waits for added or changed upstreams to answer before it publishes.
pub const RELOAD_CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The outcome of the last configuration load, shown in `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigStatus {
    /// Increases with every applied configuration (1 = the one loaded at start).
    pub generation: u64,
    /// Whether the last load was applied.
    pub last_reload_ok: bool,
    /// Why the last load was rejected.
    pub error: Option<String>,
    /// When the last load happened.
    pub at: SystemTime,
}

impl ConfigStatus {
    pub(super) fn initial() -> ConfigStatus {
        ConfigStatus {
            generation: 1,
            last_reload_ok: true,
            error: None,
            at: SystemTime::now(),
        }
    }

    /// `{"generation":N,"last_reload":"ok"|"rejected","error":"..."}`.
    pub fn to_json(&self) -> Value {
        let mut value = json!({
            "generation": self.generation,
            "last_reload": if self.last_reload_ok { "ok" } else { "rejected" },
            "at": humantime::format_rfc3339_seconds(self.at).to_string(),
        });
        if let Some(error) = &self.error {
            value["error"] = json!(error);
        }
        value
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new configuration equals the running one: nothing was rebuilt or reconnected.
    Unchanged,
    /// Applied.
    Applied {
        /// Domains connected for the first time.
        added: Vec<String>,
        /// Domains closed.
        removed: Vec<String>,
        /// Domains reconnected because their connection settings changed.
        reconnected: Vec<String>,
        /// Settings that changed but need a restart (kept at their running values).
        restart_required: Vec<&'static str>,
    },
    /// The configuration was invalid; the previous one keeps serving.
    Rejected(ConfigError),
}

impl Gateway {
    /// Applies `new` (already validated) as one transaction; see the module docs.
    pub async fn reload(self: &Arc<Self>, new: Config) -> ReloadOutcome {
        let _serial = self.reload_lock.lock().await;
        let current = self.registry.load_full();
        let old = current.config();
        let mut new = new;
        let mut restart_required = Vec::new();
        if new.server.host != old.server.host {
            restart_required.push("server.host");
            new.server.host.clone_from(&old.server.host);
        }
        if new.server.port != old.server.port {
            restart_required.push("server.port");
            new.server.port = old.server.port;
        }
        if new.server.allowed_hosts != old.server.allowed_hosts {
            restart_required.push("server.allowed_hosts");
            new.server
                .allowed_hosts
                .clone_from(&old.server.allowed_hosts);
        }
        if new.server.max_header_bytes != old.server.max_header_bytes {
            restart_required.push("server.max_header_bytes");
            new.server.max_header_bytes = old.server.max_header_bytes;
        }
        if new.server.session_idle_timeout != old.server.session_idle_timeout {
            // rmcp's session manager takes it once, at start.
            restart_required.push("server.session_idle_timeout");
            new.server.session_idle_timeout = old.server.session_idle_timeout;
        }
        if new.server.worker_threads != old.server.worker_threads {
            restart_required.push("server.worker_threads");
            new.server.worker_threads = old.server.worker_threads;
        }
        if new.server.stateless != old.server.stateless {
            // Sessions already handed out would be orphaned (or needed) mid-conversation.
            restart_required.push("server.stateless");
            new.server.stateless = old.server.stateless;
        }
        if new.telemetry != old.telemetry {
            // The subscriber and the exporter are installed once, at start.
            restart_required.push("telemetry");
            new.telemetry.clone_from(&old.telemetry);
        }
        if new.search != old.search {
            // The model is loaded once at start (≈ 90 MB): not swapped under running queries.
            restart_required.push("search.model_dir");
            new.search.clone_from(&old.search);
        }
        for setting in &restart_required {
            tracing::warn!(
                setting,
                "changed in the config file: restart required to apply it"
            );
        }
        if new.server == old.server && new.upstreams == old.upstreams {
            self.mark_applied(false);
            return ReloadOutcome::Unchanged;
        }

        let token = new.server.registry_auth_token.as_ref();
        let mut upstreams: BTreeMap<String, Arc<Upstream>> = BTreeMap::new();
        let (mut added, mut reconnected, mut fresh) = (Vec::new(), Vec::new(), Vec::new());
        for (domain, config) in &new.upstreams {
            match current.upstreams().get(domain) {
                Some(existing) if existing.same_session(config, token) => {
                    existing.apply_limits(config.limits);
                    upstreams.insert(domain.clone(), existing.clone());
                }
                existing => {
                    let upstream = Arc::new(Upstream::new(
                        domain.clone(),
                        config.clone(),
                        token.cloned(),
                        Some(self.events.clone()),
                    ));
                    if existing.is_some() {
                        reconnected.push(domain.clone());
                    } else {
                        added.push(domain.clone());
                    }
                    fresh.push(upstream.clone());
                    upstreams.insert(domain.clone(), upstream);
                }
            }
        }
        let removed: Vec<String> = current
            .upstreams()
            .keys()
            .filter(|d| !new.upstreams.contains_key(*d))
            .cloned()
            .collect();
        // Connect aside: requests keep using the running snapshot meanwhile. An upstream slower
        // than RELOAD_CONNECT_WAIT joins the published snapshot when it answers.
        let connecting: Vec<_> = fresh
            .iter()
            .map(|upstream| {
                let (upstream, gateway) = (upstream.clone(), self.clone());
                tokio::spawn(
                    async move {
                        if upstream.refresh_tools().await.is_ok() {
                            gateway.republish();
                        }
                    }
                    .in_current_span(),
                )
            })
            .collect();
        let _ =
            tokio::time::timeout(RELOAD_CONNECT_WAIT, futures::future::join_all(connecting)).await;
        let retired: Vec<Arc<Upstream>> = current
            .upstreams()
            .iter()
            .filter(|(domain, old)| {
                upstreams
                    .get(*domain)
                    .is_none_or(|new| !Arc::ptr_eq(new, old))
            })
            .map(|(_, old)| old.clone())
            .collect();
        self.publish_with(Arc::new(new), upstreams);
        crate::cpu_work::drop_later(current);
        for upstream in retired {
            upstream.retire();
        }
        self.mark_applied(true);
        self.settings_changed.notify_waiters();
        tracing::info!(?added, ?removed, ?reconnected, "configuration reloaded");
        ReloadOutcome::Applied {
            added,
            removed,
            reconnected,
            restart_required,
        }
    }

    /// Records a rejected configuration: one ERROR line per problem, the old config keeps serving.
    pub fn reject(&self, error: &ConfigError) -> ReloadOutcome {
        for problem in &error.problems {
            tracing::error!(path = %problem.path, origin = ?problem.origin, "config rejected: {}", problem.message);
        }
        if let Ok(mut status) = self.config_status.lock() {
            status.last_reload_ok = false;
            status.error = Some(
                error
                    .problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            status.at = SystemTime::now();
        }
        ReloadOutcome::Rejected(error.clone())
    }

    fn mark_applied(&self, changed: bool) {
        if let Ok(mut status) = self.config_status.lock() {
            if changed {
                status.generation += 1;
            }
            status.last_reload_ok = true;
            status.error = None;
            status.at = SystemTime::now();
        }
    }
}
