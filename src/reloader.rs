//! Reload triggers → one reload transaction at a time, with the outcome logged, shown in
//! `/readyz`, and reported to systemd. SIGHUP reloads at once (so `systemctl reload` is
//! answered promptly with RELOADING=1); file changes are debounced first.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, EnvLookup};
use crate::gateway::{Gateway, ReloadOutcome};
use crate::telemetry::spans;
use crate::{service_notify, watch};
use tracing::Instrument;

/// How to read the configuration again: the file chosen at start and the environment the
/// process started with (changing `GATEWAY_*` variables needs a restart).
#[derive(Debug, Clone)]
pub struct ConfigLoader {
    /// The file, if the gateway runs from one.
    pub path: Option<PathBuf>,
    /// The start-up environment.
    pub env: EnvLookup,
    /// Whether SIGHUP triggers a reload (the binary: yes; in-process tests: no).
    pub sighup: bool,
}

impl ConfigLoader {
    /// Reads and validates the configuration.
    pub fn load(&self) -> Result<Config, ConfigError> {
        Config::load_with(self.path.as_deref(), &self.env)
    }
}

/// Loads the configuration and applies it (or records its rejection).
pub async fn reload_once(gateway: &Arc<Gateway>, loader: &ConfigLoader) -> ReloadOutcome {
    service_notify::reloading();
    let span = spans::reload();
    let outcome = async {
        match loader.load() {
            Ok(config) => {
                crate::log_redact::protect(&config);
                for warning in &config.warnings {
                    tracing::warn!("{warning}");
                }
                gateway.reload(config).await
            }
            Err(error) => gateway.reject(&error),
        }
    }
    .instrument(span.clone())
    .await;
    let generation = gateway.config_status().generation;
    spans::set(&span, spans::CONFIG_GENERATION, || {
        i64::try_from(generation).unwrap_or(i64::MAX)
    });
    match &outcome {
        ReloadOutcome::Applied {
            added,
            removed,
            reconnected,
            ..
        } => spans::set_count(
            &span,
            spans::RESULT_COUNT,
            added.len() + removed.len() + reconnected.len(),
        ),
        ReloadOutcome::Rejected(error) => {
            spans::set_count(&span, spans::RESULT_COUNT, error.problems.len());
            spans::fail(&span, "config_rejected");
        }
        ReloadOutcome::Unchanged => spans::set_count(&span, spans::RESULT_COUNT, 0),
    }
    let status = match &outcome {
        ReloadOutcome::Unchanged => "config reloaded: unchanged".to_string(),
        ReloadOutcome::Applied { .. } => {
            format!("config generation {generation} applied")
        }
        ReloadOutcome::Rejected(error) => format!(
            "config rejected ({} problems), previous config serving",
            error.problems.len()
        ),
    };
    gateway.metrics().reload(match &outcome {
        ReloadOutcome::Unchanged => "unchanged",
        ReloadOutcome::Applied { .. } => "applied",
        ReloadOutcome::Rejected(_) => "rejected",
    });
    tracing::info!(%status, "reload finished");
    service_notify::ready(&status);
    outcome
}

/// A SIGHUP stream, or one that never yields when signals cannot be had (or are not wanted).
async fn next_sighup(hangup: &mut Option<tokio::signal::unix::Signal>) {
    match hangup {
        Some(signal) => {
            if signal.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// The reloader of one gateway: its loader and, when wanted, the SIGHUP stream.
pub struct Reloader {
    loader: ConfigLoader,
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Reloader {
    /// Installs the SIGHUP handler at once (call before the port opens: an early SIGHUP must
    /// reload, not kill the process). Needs a Tokio runtime.
    pub fn new(loader: ConfigLoader) -> Reloader {
        let hangup = if loader.sighup {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                Ok(signal) => Some(signal),
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGHUP");
                    None
                }
            }
        } else {
            None
        };
        Reloader { loader, hangup }
    }

    /// Runs until `shutdown`: reloads on SIGHUP and on every debounced change of the file.
    pub async fn run(self, gateway: Arc<Gateway>, shutdown: CancellationToken) {
        let Reloader { loader, mut hangup } = self;
        let (trigger, mut triggers) = mpsc::channel::<()>(1);
        let _watchers = loader
            .path
            .as_deref()
            .map(|path| watch::watch(path, &trigger))
            .unwrap_or_default();
        drop(trigger);
        let mut file_events = true;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = next_sighup(&mut hangup) => {
                    tracing::info!("SIGHUP: reloading the configuration");
                    reload_once(&gateway, &loader).await;
                }
                got = watch::debounce(&mut triggers, watch::DEBOUNCE, watch::DEBOUNCE_MAX), if file_events => {
                    match got {
                        Some(()) => {
                            reload_once(&gateway, &loader).await;
                        }
                        None => file_events = false,
                    }
                }
            }
        }
    }
}
