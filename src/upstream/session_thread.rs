//! Where an upstream's sessions run. A stdio upstream gets a thread of its own with a
//! single-threaded runtime: rmcp's service loop, the child's pipes and its stderr reader all
//! live there, so a call hops from the connection worker to that thread and back, instead of
//! waking the main runtime's driver, which then woke a second worker to read the child's
//! answer. A busy or flooding child holds up only its own thread. HTTP upstreams' sessions
//! stay on the main runtime (the call leg posts their calls from the connection workers).

use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// How long a stopping thread lets its remaining tasks end.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// The runtime an upstream's sessions are spawned on.
#[derive(Debug)]
pub(super) enum SessionHome {
    /// The runtime the upstream was configured on (the main one).
    Shared(Handle),
    /// A thread of the upstream's own.
    Own(SessionThread),
}

impl SessionHome {
    /// A thread of its own for a stdio upstream (the shared runtime if no thread can be
    /// started); the current runtime for others, if there is one.
    pub(super) fn for_upstream(domain: &str, stdio: bool) -> Option<SessionHome> {
        if stdio {
            match SessionThread::start(domain) {
                Ok(thread) => return Some(SessionHome::Own(thread)),
                Err(error) => tracing::warn!(
                    domain,
                    %error,
                    "cannot start a thread for the upstream's sessions; they share the main runtime"
                ),
            }
        }
        Handle::try_current().ok().map(SessionHome::Shared)
    }

    /// The runtime to spawn a session on.
    pub(super) fn handle(&self) -> &Handle {
        match self {
            SessionHome::Shared(handle) => handle,
            SessionHome::Own(thread) => &thread.handle,
        }
    }
}

/// A thread running a single-threaded runtime until dropped.
#[derive(Debug)]
pub(super) struct SessionThread {
    handle: Handle,
    /// Dropped (or sent) to stop the thread.
    stop: Option<oneshot::Sender<()>>,
}

impl SessionThread {
    /// Starts the thread, named after `domain`.
    fn start(domain: &str) -> std::io::Result<SessionThread> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        // Linux keeps 15 bytes of a thread's name.
        let name: String = format!("up-{domain}").chars().take(15).collect();
        std::thread::Builder::new().name(name).spawn(move || {
            // Spawned tasks run while the thread waits here for its stop.
            runtime.block_on(async {
                let _ = stopped.await;
            });
            runtime.shutdown_timeout(STOP_GRACE);
        })?;
        Ok(SessionThread {
            handle,
            stop: Some(stop),
        })
    }
}

impl Drop for SessionThread {
    /// Stops the thread; tasks still running get [`STOP_GRACE`] to end.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stdio upstream's sessions run on its own named thread, which ends when dropped.
    #[test]
    fn stdio_sessions_get_a_thread_that_ends_with_the_upstream() {
        let Some(home) = SessionHome::for_upstream("calendar-and-more", true) else {
            panic!("no home for a stdio upstream");
        };
        assert!(matches!(home, SessionHome::Own(_)));
        let (named, ran) = std::sync::mpsc::channel();
        let finished = std::sync::Arc::new(());
        let held = finished.clone();
        // A task that would run forever: the runtime's shutdown drops it.
        home.handle().spawn(async move {
            let _ = named.send(std::thread::current().name().map(str::to_string));
            let _held = held;
            std::future::pending::<()>().await;
        });
        let name = ran
            .recv_timeout(Duration::from_secs(5))
            .expect("the task ran");
        assert_eq!(name.as_deref(), Some("up-calendar-and"));
        assert_eq!(std::sync::Arc::strong_count(&finished), 2);
        drop(home);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::sync::Arc::strong_count(&finished) > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the thread's tasks were not dropped"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Other upstreams share the runtime they are configured on (none outside one).
    #[test]
    fn http_sessions_share_the_current_runtime() {
        assert!(SessionHome::for_upstream("crm", false).is_none());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let _inside = runtime.enter();
        assert!(matches!(
            SessionHome::for_upstream("crm", false),
            Some(SessionHome::Shared(_))
        ));
    }
}
