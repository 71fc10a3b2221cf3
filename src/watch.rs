//! Turns changes of the config file into reload requests: watches the file's directory (so
//! editors that save by rename, and Kubernetes' `..data` symlink swap, are seen), ignores access
//! events (reading the file must not trigger another reload), and debounces bursts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::EventKind;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Quiet time after the last event before a reload starts.
pub const DEBOUNCE: Duration = Duration::from_millis(250);
/// The entry Kubernetes swaps when a mounted ConfigMap changes.
const KUBERNETES_DATA: &str = "..data";

/// Whether an event about `paths` of `kind` concerns the config file named `file_name`.
pub fn is_relevant(kind: &EventKind, paths: &[PathBuf], file_name: &OsString) -> bool {
    if matches!(kind, EventKind::Access(_)) {
        return false;
    }
    paths.iter().any(|p| {
        p.file_name()
            .is_some_and(|n| n == file_name.as_os_str() || n == KUBERNETES_DATA)
    })
}

/// Starts watching `path`; every relevant event sends `()` on `trigger`. Keep the watcher alive.
pub fn watch(path: &Path, trigger: mpsc::Sender<()>) -> notify::Result<RecommendedWatcher> {
    let file_name = path.file_name().map(OsString::from).unwrap_or_default();
    let directory = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            Ok(event) if is_relevant(&event.kind, &event.paths, &file_name) => {
                // Full means a reload is already queued: dropping the event loses nothing.
                let _ = trigger.try_send(());
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "config watcher error"),
        }
    })?;
    watcher.watch(&directory, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

/// Waits for a first trigger, then until `quiet` has passed without another. `None` when the
/// channel closed.
pub async fn debounce(triggers: &mut mpsc::Receiver<()>, quiet: Duration) -> Option<()> {
    triggers.recv().await?;
    loop {
        tokio::select! {
            more = triggers.recv() => more?,
            () = tokio::time::sleep(quiet) => return Some(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_becomes_one_trigger_after_the_quiet_time() {
        let (tx, mut rx) = mpsc::channel(16);
        let started = tokio::time::Instant::now();
        let sender = tokio::spawn(async move {
            for _ in 0..5 {
                let _ = tx.send(()).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        assert_eq!(debounce(&mut rx, DEBOUNCE).await, Some(()));
        // last event at 400 ms, then 250 ms of quiet
        assert_eq!(started.elapsed(), Duration::from_millis(650));
        sender.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_channel_ends_the_wait() {
        let (tx, mut rx) = mpsc::channel::<()>(1);
        drop(tx);
        assert_eq!(debounce(&mut rx, DEBOUNCE).await, None);
    }

    #[test]
    fn access_events_and_other_files_are_ignored() {
        use notify::event::{AccessKind, CreateKind, ModifyKind};
        let name = OsString::from("gateway.toml");
        let file = vec![PathBuf::from("/etc/gw/gateway.toml")];
        assert!(!is_relevant(
            &EventKind::Access(AccessKind::Any),
            &file,
            &name
        ));
        assert!(is_relevant(
            &EventKind::Modify(ModifyKind::Any),
            &file,
            &name
        ));
        assert!(!is_relevant(
            &EventKind::Modify(ModifyKind::Any),
            &[PathBuf::from("/etc/gw/other.toml")],
            &name
        ));
        assert!(is_relevant(
            &EventKind::Create(CreateKind::Any),
            &[PathBuf::from("/etc/gw/..data")],
            &name
        ));
    }
}
