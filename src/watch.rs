//! Turns changes of the config file into reload requests: watches the file's directory (so
//! editors that save by rename, and Kubernetes' `..data` symlink swap, are seen) and, when the
//! path is a symlink, the directory of its target too; ignores access events (reading the file
//! must not trigger another reload); treats a lost-events rescan as a change; debounces bursts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::EventKind;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Quiet time after the last event before a reload starts.
pub const DEBOUNCE: Duration = Duration::from_millis(250);
/// Longest a stream of events can postpone the reload.
pub const DEBOUNCE_MAX: Duration = Duration::from_secs(2);
/// The entry Kubernetes swaps when a mounted ConfigMap changes.
const KUBERNETES_DATA: &str = "..data";

/// Whether an event concerns one of `file_names`.
pub fn is_relevant(event: &notify::Event, file_names: &[OsString]) -> bool {
    if event.need_rescan() {
        return true;
    }
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    event.paths.iter().any(|p| {
        p.file_name()
            .is_some_and(|n| n == KUBERNETES_DATA || file_names.iter().any(|f| f == n))
    })
}

fn split(path: &Path) -> (PathBuf, OsString) {
    let name = path.file_name().map(OsString::from).unwrap_or_default();
    let directory = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    (directory, name)
}

/// Watches `path` (and a symlink's target); every relevant event sends `()` on `trigger`.
/// Keep the returned watchers alive. Failures are logged: SIGHUP still reloads.
pub fn watch(path: &Path, trigger: &mpsc::Sender<()>) -> Vec<RecommendedWatcher> {
    let mut places = vec![split(path)];
    if let Ok(target) = std::fs::canonicalize(path) {
        let target = split(&target);
        if !places.contains(&target) {
            places.push(target);
        }
    }
    let names: Vec<OsString> = places.iter().map(|(_, name)| name.clone()).collect();
    let mut watchers = Vec::new();
    for (directory, _) in places {
        let (names, trigger) = (names.clone(), trigger.clone());
        let handler = move |event: notify::Result<notify::Event>| match event {
            Ok(event) if is_relevant(&event, &names) => {
                // Full means a reload is already queued: dropping the event loses nothing.
                let _ = trigger.try_send(());
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "config watcher error"),
        };
        let watched = notify::recommended_watcher(handler).and_then(|mut watcher| {
            watcher
                .watch(&directory, RecursiveMode::NonRecursive)
                .map(|()| watcher)
        });
        match watched {
            Ok(watcher) => watchers.push(watcher),
            Err(error) => {
                tracing::warn!(%error, directory = %directory.display(), "cannot watch the config directory; SIGHUP still reloads")
            }
        }
    }
    watchers
}

/// Waits for a first trigger, then until `quiet` has passed without another, or `max` after the
/// first at the latest. `None` when the channel closed.
pub async fn debounce(
    triggers: &mut mpsc::Receiver<()>,
    quiet: Duration,
    max: Duration,
) -> Option<()> {
    triggers.recv().await?;
    let deadline = Instant::now() + max;
    loop {
        let wake = (Instant::now() + quiet).min(deadline);
        tokio::select! {
            more = triggers.recv() => {
                more?;
                if Instant::now() >= deadline {
                    return Some(());
                }
            }
            () = tokio::time::sleep_until(wake) => return Some(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind, Flag, ModifyKind};

    #[tokio::test(start_paused = true)]
    async fn a_burst_becomes_one_trigger_after_the_quiet_time() {
        let (tx, mut rx) = mpsc::channel(16);
        let started = Instant::now();
        let sender = tokio::spawn(async move {
            for _ in 0..5 {
                let _ = tx.send(()).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        assert_eq!(debounce(&mut rx, DEBOUNCE, DEBOUNCE_MAX).await, Some(()));
        // last event at 400 ms, then 250 ms of quiet
        assert_eq!(started.elapsed(), Duration::from_millis(650));
        sender.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn an_endless_stream_still_reloads_after_the_maximum_wait() {
        let (tx, mut rx) = mpsc::channel(16);
        let started = Instant::now();
        let sender = tokio::spawn(async move {
            for _ in 0..1000 {
                let _ = tx.send(()).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        assert_eq!(debounce(&mut rx, DEBOUNCE, DEBOUNCE_MAX).await, Some(()));
        assert!(
            started.elapsed() <= DEBOUNCE_MAX + Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
        sender.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_channel_ends_the_wait() {
        let (tx, mut rx) = mpsc::channel::<()>(1);
        drop(tx);
        assert_eq!(debounce(&mut rx, DEBOUNCE, DEBOUNCE_MAX).await, None);
    }

    fn event(kind: EventKind, path: &str) -> notify::Event {
        notify::Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn access_events_and_other_files_are_ignored_rescans_are_not() {
        let names = vec![OsString::from("gateway.toml")];
        assert!(!is_relevant(
            &event(EventKind::Access(AccessKind::Any), "/etc/gw/gateway.toml"),
            &names
        ));
        assert!(is_relevant(
            &event(EventKind::Modify(ModifyKind::Any), "/etc/gw/gateway.toml"),
            &names
        ));
        assert!(!is_relevant(
            &event(EventKind::Modify(ModifyKind::Any), "/etc/gw/other.toml"),
            &names
        ));
        assert!(is_relevant(
            &event(EventKind::Create(CreateKind::Any), "/etc/gw/..data"),
            &names
        ));
        let rescan = notify::Event::new(EventKind::Other).set_flag(Flag::Rescan);
        assert!(is_relevant(&rescan, &names));
    }
}
