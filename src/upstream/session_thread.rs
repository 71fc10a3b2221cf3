//! Where an upstream's sessions run. A stdio upstream gets a thread of its own with a
//! single-threaded runtime, started with its first session: rmcp's service loop, the child's
//! pipes and its stderr reader all live there, so a call hops from the connection worker to that
//! thread and back, instead of waking the main runtime's driver, which then woke a second
//! worker to read the child's answer. A busy or flooding child holds up only its own thread.
//! HTTP upstreams' sessions stay on the main runtime (the call leg posts their calls from the
//! connection workers).

use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;

/// How long a stopping thread waits for its blocking work (a child's reaping); its async
/// tasks are dropped at once.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// The runtime an upstream's sessions are spawned on.
#[derive(Debug)]
pub(super) struct SessionHome {
    /// The runtime the upstream was configured on (the main one), if any.
    shared: Option<Handle>,
    /// A stdio upstream's own thread, started with its first session (`None` inside if it
    /// could not be started: its sessions then share the main runtime).
    own: Option<OnceLock<Option<SessionThread>>>,
}

impl SessionHome {
    /// The home of a stdio upstream's sessions (`stdio`) or another's, configured on the
    /// current runtime.
    pub(super) fn for_upstream(stdio: bool) -> SessionHome {
        SessionHome {
            shared: Handle::try_current().ok(),
            own: stdio.then(OnceLock::new),
        }
    }

    /// The runtime to open a session of `domain` on: a stdio upstream's own thread (started
    /// now if it is the first), else the shared runtime; `None`: the caller's.
    pub(super) fn handle(&self, domain: &str) -> Option<&Handle> {
        let own = self.own.as_ref().and_then(|thread| {
            thread
                .get_or_init(|| match SessionThread::start(domain) {
                    Ok(thread) => Some(thread),
                    Err(error) => {
                        tracing::warn!(
                            domain,
                            %error,
                            "cannot start a thread for the upstream's sessions; they share the main runtime"
                        );
                        None
                    }
                })
                .as_ref()
        });
        own.map(|thread| &thread.handle).or(self.shared.as_ref())
    }
}

/// A thread running a single-threaded runtime until dropped.
#[derive(Debug)]
struct SessionThread {
    handle: Handle,
    /// Sent (or dropped) to stop the thread.
    stop: Option<oneshot::Sender<()>>,
}

/// A runtime that may be dropped anywhere: if the thread meant to run it cannot be started,
/// it is dropped where the upstream is configured, inside the main runtime, where tokio
/// refuses a runtime's plain drop (it would wait for blocking work).
struct Unstarted(Option<Runtime>);

impl Drop for Unstarted {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl SessionThread {
    /// Starts the thread, named after `domain`.
    fn start(domain: &str) -> std::io::Result<SessionThread> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let mut runtime = Unstarted(Some(runtime));
        let (stop, stopped) = oneshot::channel::<()>();
        // Linux keeps 15 bytes of a thread's name.
        let name: String = format!("up-{domain}").chars().take(15).collect();
        std::thread::Builder::new().name(name).spawn(move || {
            if let Some(runtime) = runtime.0.take() {
                // Spawned tasks run while the thread waits here for its stop.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                runtime.shutdown_timeout(STOP_GRACE);
            }
        })?;
        Ok(SessionThread {
            handle,
            stop: Some(stop),
        })
    }
}

impl Drop for SessionThread {
    /// Stops the thread: the tasks still on it are dropped (a session's child was already
    /// ended by its connection).
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    /// Waits (≤ 5 s) until only the test holds `shared`.
    fn wait_for_sole_owner(shared: &Arc<()>) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(shared) > 1 {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// A stdio upstream's sessions run on its own named thread, started with the first one
    /// and ended (its tasks dropped) with the upstream.
    #[test]
    fn stdio_sessions_get_a_thread_that_ends_with_the_upstream() {
        let home = SessionHome::for_upstream(true);
        assert!(
            home.own.as_ref().is_some_and(|own| own.get().is_none()),
            "no thread before the first session"
        );
        let Some(handle) = home.handle("calendar-and-more") else {
            panic!("no runtime for a stdio upstream's session");
        };
        let (named, ran) = std::sync::mpsc::channel();
        let held = Arc::new(());
        let in_task = held.clone();
        let first = named.clone();
        // A task that would run forever: the thread's stop drops it.
        handle.spawn(async move {
            let _held = in_task;
            let current = std::thread::current();
            let _ = first.send((current.id(), current.name().map(str::to_string)));
            std::future::pending::<()>().await;
        });
        let (thread, name) = ran
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("the task did not run"));
        assert_eq!(name.as_deref(), Some("up-calendar-and"));
        assert_ne!(thread, std::thread::current().id());
        // The next session runs on the same thread.
        let Some(again) = home.handle("calendar-and-more") else {
            panic!("no runtime for the next session");
        };
        again.spawn(async move {
            let _ = named.send((std::thread::current().id(), None));
        });
        let next = ran.recv_timeout(Duration::from_secs(5)).map(|(id, _)| id);
        assert_eq!(next, Ok(thread));
        drop(home);
        assert!(
            wait_for_sole_owner(&held),
            "the thread's tasks were not dropped"
        );
    }

    /// Other upstreams' sessions share the runtime they were configured on (none outside one:
    /// the caller's).
    #[test]
    fn http_sessions_share_the_runtime_they_were_configured_on() {
        assert!(SessionHome::for_upstream(false).handle("crm").is_none());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let home = {
            let _inside = runtime.enter();
            SessionHome::for_upstream(false)
        };
        assert!(home.own.is_none(), "no thread of its own");
        let Some(handle) = home.handle("crm") else {
            panic!("the runtime it was configured on is not its home");
        };
        // A task spawned there runs when that runtime runs.
        assert_eq!(runtime.block_on(handle.spawn(async { 7 })).ok(), Some(7));
    }

    /// A runtime whose thread never started may be dropped inside another runtime.
    #[test]
    fn an_unstarted_runtime_is_dropped_inside_a_runtime_without_a_panic() {
        let outer = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let inner = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let held = Arc::new(());
        let in_task = held.clone();
        inner.spawn(async move {
            let _held = in_task;
            std::future::pending::<()>().await;
        });
        let unstarted = Unstarted(Some(inner));
        outer.block_on(async move { drop(unstarted) });
        assert!(
            wait_for_sole_owner(&held),
            "the unstarted runtime's tasks were not dropped"
        );
    }
}
