//! The gateway's background work: the periodic refresh, re-listing domains whose upstreams
//! announced `tools/list_changed` (coalesced), retrying upstreams that are down with
//! exponential backoff, and embedding new tools for the semantic ranker, each on its own
//! schedule. Every loop ends when `shutdown` fires.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::gateway::{Gateway, RefreshReport};
use crate::semantic::Semantic;
use crate::telemetry::spans;
use tracing::Instrument;

/// Quiet time after the last list_changed of a burst before re-listing.
pub const LIST_CHANGED_DEBOUNCE: Duration = Duration::from_millis(200);
/// Longest a burst of list_changed can postpone the re-list.
pub const LIST_CHANGED_MAX_WAIT: Duration = Duration::from_secs(2);
/// First retry delay of a down upstream; doubled after each failure.
pub const RETRY_INITIAL: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const RETRY_MAX: Duration = Duration::from_secs(60);
/// How often the recovery loop looks for down upstreams.
const RECOVERY_TICK: Duration = Duration::from_millis(500);

/// Runs `refresh_registry` every `server.refresh_interval`. A reload that changes the interval
/// moves the next run, measured from the last one (reloads never postpone it indefinitely).
pub async fn periodic_refresh(gateway: Arc<Gateway>, shutdown: CancellationToken) {
    let mut last_run = Instant::now();
    loop {
        let changed = gateway.settings_notify().notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let period = gateway.registry().settings().refresh_interval;
        let due = async {
            match period {
                Some(period) => tokio::time::sleep_until(last_run + period).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = &mut changed => continue,
            () = due => {
                let report = traced_refresh(&gateway, None).await;
                last_run = Instant::now();
                tracing::info!(refreshed = report.refreshed.len(), failed = report.failed.len(), "background refresh");
            }
        }
    }
}

/// Re-lists the domains whose upstreams announced a tool list change, a burst at a time: after
/// [`LIST_CHANGED_DEBOUNCE`] of quiet, or [`LIST_CHANGED_MAX_WAIT`] at the latest.
pub async fn list_changed(gateway: Arc<Gateway>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = gateway.tool_changes().changed() => {}
        }
        let deadline = Instant::now() + LIST_CHANGED_MAX_WAIT;
        loop {
            let quiet = (Instant::now() + LIST_CHANGED_DEBOUNCE).min(deadline);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = gateway.tool_changes().changed() => {
                    if Instant::now() >= deadline {
                        break;
                    }
                }
                () = tokio::time::sleep_until(quiet) => break,
            }
        }
        let domains: Vec<String> = gateway.tool_changes().take().into_iter().collect();
        if domains.is_empty() {
            continue;
        }
        tracing::info!(?domains, "re-listing after tools/list_changed");
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = traced_refresh(&gateway, Some(&domains)) => {}
        }
    }
}

/// Re-lists `domains` (all when `None`) inside a `gateway.background_refresh` span.
async fn traced_refresh(gateway: &Gateway, domains: Option<&[String]>) -> RefreshReport {
    let span = spans::background_refresh();
    let report = async {
        match domains {
            Some(domains) => gateway.refresh_domains(domains).await,
            None => gateway.refresh().await,
        }
    }
    .instrument(span.clone())
    .await;
    if let [domain] = domains.unwrap_or_default() {
        spans::set(&span, spans::DOMAIN, || domain.clone());
    }
    spans::set_count(
        &span,
        spans::DOMAIN_COUNT,
        report.refreshed.len() + report.failed.len(),
    );
    let changes: usize = report.refreshed.iter().map(|c| c.change_count()).sum();
    spans::set_count(&span, spans::RESULT_COUNT, changes);
    spans::set_count(&span, spans::TOTAL_TOOLS, gateway.registry().tools().len());
    if !report.failed.is_empty() {
        spans::fail(&span, "upstream_unavailable");
    }
    report
}

/// The retry delay after `delay` failed: doubled, at most [`RETRY_MAX`].
pub fn next_delay(delay: Duration) -> Duration {
    (delay * 2).min(RETRY_MAX)
}

/// Retries every down upstream with exponential backoff until it answers again. Each retry runs
/// on its own, so one unreachable upstream never delays another's.
pub async fn recover(gateway: Arc<Gateway>, shutdown: CancellationToken) {
    let mut schedule: BTreeMap<String, (Instant, Duration)> = BTreeMap::new();
    let mut running: JoinSet<(String, bool)> = JoinSet::new();
    let mut busy: BTreeSet<String> = BTreeSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                running.abort_all();
                return;
            }
            Some(Ok((domain, answered))) = running.join_next(), if !running.is_empty() => {
                busy.remove(&domain);
                if answered {
                    schedule.remove(&domain);
                    tracing::info!(%domain, "upstream is back");
                } else if let Some((at, delay)) = schedule.get_mut(&domain) {
                    *delay = next_delay(*delay);
                    *at = Instant::now() + *delay;
                    tracing::debug!(%domain, retry_in = ?*delay, "upstream still down");
                }
                continue;
            }
            () = tokio::time::sleep(RECOVERY_TICK) => {}
        }
        if !gateway.is_populated() {
            continue;
        }
        let down = gateway.down_domains();
        schedule.retain(|domain, _| down.contains(domain) || busy.contains(domain));
        let now = Instant::now();
        for domain in down {
            if busy.contains(&domain) {
                continue;
            }
            let (at, _) = schedule
                .entry(domain.clone())
                .or_insert((now + RETRY_INITIAL, RETRY_INITIAL));
            if *at > now {
                continue;
            }
            busy.insert(domain.clone());
            let gateway = gateway.clone();
            running.spawn(async move {
                let report = traced_refresh(&gateway, Some(std::slice::from_ref(&domain))).await;
                let answered = report.failed.is_empty();
                (domain, answered)
            });
        }
    }
}

/// Embeds the tools of every published snapshot that have no embedding yet, on a blocking
/// thread, so the hybrid ranker knows them (until then they are found lexically). Bursts of
/// publications coalesce into one pass; a failure is logged and retried on the next snapshot.
pub async fn embed_tools(gateway: Arc<Gateway>, model: Arc<Semantic>, shutdown: CancellationToken) {
    loop {
        let registry = gateway.registry_full();
        let (task_model, stop) = (model.clone(), shutdown.clone());
        let started = std::time::Instant::now();
        let pass = tokio::task::spawn_blocking(move || {
            task_model.embed_missing(&registry, &|| stop.is_cancelled())
        });
        match pass.await {
            Ok(Ok(0)) => {}
            Ok(Ok(tools)) => tracing::info!(
                tools,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "tools embedded for semantic search"
            ),
            Ok(Err(error)) => {
                tracing::warn!(%error, "tools not embedded: they are found lexically only");
            }
            Err(error) => tracing::warn!(%error, "embedding task failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = gateway.published_notify().notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut delay = RETRY_INITIAL;
        let mut seen = vec![delay];
        for _ in 0..8 {
            delay = next_delay(delay);
            seen.push(delay);
        }
        let secs: Vec<u64> = seen.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
