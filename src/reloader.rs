//! Reload triggers (config file changes and SIGHUP) → one reload transaction at a time, with the
//! outcome logged, shown in `/readyz`, and reported to systemd.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, EnvLookup};
use crate::gateway::{Gateway, ReloadOutcome};
use crate::{service_notify, watch};

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
pub async fn reload_once(gateway: &Gateway, loader: &ConfigLoader) -> ReloadOutcome {
    service_notify::reloading();
    let outcome = match loader.load() {
        Ok(config) => {
            for warning in &config.warnings {
                tracing::warn!("{warning}");
            }
            gateway.reload(config).await
        }
        Err(error) => gateway.reject(&error),
    };
    let status = match &outcome {
        ReloadOutcome::Unchanged => "config reloaded: unchanged".to_string(),
        ReloadOutcome::Applied { .. } => format!(
            "config generation {} applied",
            gateway.config_status().generation
        ),
        ReloadOutcome::Rejected(error) => format!(
            "config rejected ({} problems), previous config serving",
            error.problems.len()
        ),
    };
    tracing::info!(%status, "reload finished");
    service_notify::ready(&status);
    outcome
}

/// Runs until `shutdown`: reloads on every debounced file change and on SIGHUP.
pub async fn run(gateway: Arc<Gateway>, loader: ConfigLoader, shutdown: CancellationToken) {
    let (trigger, mut triggers) = mpsc::channel::<()>(1);
    let _watcher = loader.path.as_deref().and_then(|path| match watch::watch(path, trigger.clone()) {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "cannot watch the config file; SIGHUP still reloads");
            None
        }
    });
    if loader.sighup {
        spawn_sighup(trigger.clone(), shutdown.clone());
    }
    drop(trigger);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            got = watch::debounce(&mut triggers, watch::DEBOUNCE) => {
                if got.is_none() {
                    break;
                }
                reload_once(&gateway, &loader).await;
            }
        }
    }
}

fn spawn_sighup(trigger: mpsc::Sender<()>, shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(hangup) => hangup,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP");
            return;
        }
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                got = hangup.recv() => {
                    if got.is_none() {
                        break;
                    }
                    tracing::info!("SIGHUP: reloading the configuration");
                    let _ = trigger.try_send(());
                }
            }
        }
    });
}
