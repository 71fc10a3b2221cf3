//! The gateway's background work: the periodic refresh, re-listing a domain after its upstream
//! announced `tools/list_changed` (debounced), and retrying upstreams that are down with
//! exponential backoff. Every loop ends when `shutdown` fires.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::gateway::Gateway;
use crate::upstream::UpstreamEvent;

/// Quiet time after the last list_changed of a burst before re-listing.
pub const LIST_CHANGED_DEBOUNCE: Duration = Duration::from_millis(200);
/// First retry delay of a down upstream; doubled after each failure.
pub const RETRY_INITIAL: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const RETRY_MAX: Duration = Duration::from_secs(60);
/// How often the recovery loop looks for down upstreams.
const RECOVERY_TICK: Duration = Duration::from_millis(500);

/// Runs `refresh_registry` every `server.refresh_interval` (re-read after every reload).
pub async fn periodic_refresh(gateway: Arc<Gateway>, shutdown: CancellationToken) {
    loop {
        let period = gateway.registry().settings().refresh_interval;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = gateway.settings_changed() => continue,
            () = sleep_or_forever(period) => {
                let report = gateway.refresh().await;
                tracing::info!(refreshed = report.refreshed.len(), failed = report.failed.len(), "background refresh");
            }
        }
    }
}

async fn sleep_or_forever(period: Option<Duration>) {
    match period {
        Some(period) => tokio::time::sleep(period).await,
        None => std::future::pending().await,
    }
}

/// Re-lists the domains whose upstreams announced a tool list change, a burst at a time.
pub async fn list_changed(
    gateway: Arc<Gateway>,
    mut events: mpsc::Receiver<UpstreamEvent>,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => return,
            event = events.recv() => match event { Some(event) => event, None => return },
        };
        let mut domains = BTreeSet::new();
        let UpstreamEvent::ToolsChanged(domain) = first;
        domains.insert(domain);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                event = events.recv() => match event {
                    Some(UpstreamEvent::ToolsChanged(domain)) => { domains.insert(domain); }
                    None => return,
                },
                () = tokio::time::sleep(LIST_CHANGED_DEBOUNCE) => break,
            }
        }
        let domains: Vec<String> = domains.into_iter().collect();
        tracing::info!(?domains, "re-listing after tools/list_changed");
        gateway.refresh_domains(&domains).await;
    }
}

/// The retry delay after `delay` failed: doubled, at most [`RETRY_MAX`].
pub fn next_delay(delay: Duration) -> Duration {
    (delay * 2).min(RETRY_MAX)
}

/// Retries every down upstream with exponential backoff until it answers again.
pub async fn recover(gateway: Arc<Gateway>, shutdown: CancellationToken) {
    let mut schedule: BTreeMap<String, (Instant, Duration)> = BTreeMap::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(RECOVERY_TICK) => {}
        }
        if !gateway.is_populated() {
            continue;
        }
        let down = gateway.down_domains();
        schedule.retain(|domain, _| down.contains(domain));
        let now = Instant::now();
        let due: Vec<String> = down
            .into_iter()
            .filter(|domain| {
                let (at, _) = schedule
                    .entry(domain.clone())
                    .or_insert((now + RETRY_INITIAL, RETRY_INITIAL));
                *at <= now
            })
            .collect();
        if due.is_empty() {
            continue;
        }
        let report = tokio::select! {
            () = shutdown.cancelled() => return,
            report = gateway.refresh_domains(&due) => report,
        };
        for failure in report.failed {
            if let Some((at, delay)) = schedule.get_mut(&failure.domain) {
                *delay = next_delay(*delay);
                *at = Instant::now() + *delay;
                tracing::debug!(domain = %failure.domain, retry_in = ?*delay, "upstream still down");
            }
        }
        for change in report.refreshed {
            schedule.remove(&change.domain);
            tracing::info!(domain = %change.domain, tools = change.tool_count, "upstream is back");
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
