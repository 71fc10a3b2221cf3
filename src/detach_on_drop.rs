//! A future that the task awaiting it polls in place. If that task drops it unfinished, the
//! future runs to its end on a task of its own, on the same runtime: the timers and sockets it
//! registered belong to that runtime's drivers. A panic inside it comes out as an error.
//!
//! Polling in place saves a spawn and a hand-off between tasks per call. On a multi-threaded
//! runtime each hand-off can wake the other worker thread, and that is a futex call on the
//! call's path. The guarantees of a spawned task stay: a client that goes away does not cancel
//! the work, and a panic fails one call, not the connection.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::runtime::Handle;

type Work<T> = Option<Pin<Box<dyn Future<Output = T> + Send>>>;

/// A boxed future polled in place, detached onto its own task if dropped before it ends.
pub struct DetachOnDrop<T: Send + 'static> {
    /// Only ever reached through `&mut self` (`Mutex::get_mut`, no locking): the mutex makes
    /// the wrapper `Sync` without asking it of the future.
    future: Mutex<Work<T>>,
}

/// The future panicked (or was polled again after it ended); the message, if the panic had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked(pub String);

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "panicked: {}", self.0)
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_string()
    }
}

impl<T: Send + 'static> DetachOnDrop<T> {
    /// Wraps `future`; nothing runs until it is polled (or dropped).
    pub fn new(future: impl Future<Output = T> + Send + 'static) -> DetachOnDrop<T> {
        DetachOnDrop {
            future: Mutex::new(Some(Box::pin(future))),
        }
    }

    /// Runs the rest of the future on a task of its own now (for work that must go on whether
    /// or not anyone polls for it), with its panic caught.
    pub fn detach(mut self) -> tokio::task::JoinHandle<Result<T, Panicked>> {
        let work = self.work().take();
        let finish = async move {
            let Some(future) = work else {
                return Err(Panicked("detached after it ended".to_string()));
            };
            futures::FutureExt::catch_unwind(AssertUnwindSafe(future))
                .await
                .map_err(|payload| Panicked(panic_message(payload.as_ref())))
        };
        tokio::spawn(finish)
    }

    fn work(&mut self) -> &mut Work<T> {
        self.future
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: Send + 'static> Future for DetachOnDrop<T> {
    type Output = Result<T, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let work = self.work();
        let Some(future) = work.as_mut() else {
            return Poll::Ready(Err(Panicked("polled after it ended".to_string())));
        };
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx)));
        if polled.as_ref().is_ok_and(Poll::is_pending) {
            return Poll::Pending;
        }
        // The future's own drop may panic too: caught as well.
        let dropped = std::panic::catch_unwind(AssertUnwindSafe(|| *work = None));
        match (polled, dropped) {
            (Ok(Poll::Ready(value)), Ok(())) => Poll::Ready(Ok(value)),
            (Err(payload), _) | (_, Err(payload)) => {
                Poll::Ready(Err(Panicked(panic_message(payload.as_ref()))))
            }
            (Ok(Poll::Pending), _) => Poll::Pending,
        }
    }
}

impl<T: Send + 'static> Drop for DetachOnDrop<T> {
    fn drop(&mut self) {
        let Some(future) = self.work().take() else {
            return;
        };
        // A runtime that is shutting down drops the future inside `spawn`; with no runtime it is
        // dropped here. Either way a panic in its drop is caught.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(move || match Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let finished = AssertUnwindSafe(future);
                    if let Err(payload) = futures::FutureExt::catch_unwind(finished).await {
                        tracing::error!(
                            panic = panic_message(payload.as_ref()),
                            "detached work panicked"
                        );
                    }
                });
            }
            // Only with no runtime at all: the work cannot go on.
            Err(_) => {
                drop(future);
                tracing::warn!("work dropped: no runtime to finish it on");
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn a_future_polled_to_the_end_gives_its_value() {
        let answer = DetachOnDrop::new(async { 42 }).await;
        assert_eq!(answer, Ok(42));
    }

    #[tokio::test]
    async fn a_dropped_future_runs_on_to_its_end() {
        let done = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (finished_tx, finished_rx) = tokio::sync::oneshot::channel();
        let flag = done.clone();
        let mut work = DetachOnDrop::new(async move {
            let _ = started_tx.send(());
            tokio::time::sleep(Duration::from_millis(50)).await;
            flag.store(true, Ordering::SeqCst);
            let _ = finished_tx.send(());
        });
        // Poll it until it has started and is waiting, then drop it, as a server drops the
        // response future of a client that went away.
        tokio::select! {
            _ = &mut work => panic!("ended before the drop"),
            _ = started_rx => {}
        }
        drop(work);
        assert!(!done.load(Ordering::SeqCst));
        let finished = tokio::time::timeout(Duration::from_secs(5), finished_rx).await;
        assert!(
            matches!(finished, Ok(Ok(()))),
            "the detached work never ended"
        );
        assert!(done.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_panic_comes_out_as_an_error_with_its_message() {
        let answer = DetachOnDrop::new(async {
            if std::hint::black_box(true) {
                panic!("the upstream sent nonsense");
            }
            1
        })
        .await;
        assert_eq!(answer, Err(Panicked("the upstream sent nonsense".into())));
    }

    #[tokio::test]
    async fn a_finished_future_is_not_run_again_when_dropped() {
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = runs.clone();
        let work = DetachOnDrop::new(async move {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(work.await, Ok(()));
        tokio::task::yield_now().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn detached_work_answers_through_its_handle() {
        let work = DetachOnDrop::new(async { 7 });
        let joined = work.detach().await;
        assert!(matches!(joined, Ok(Ok(7))), "{joined:?}");
        let failing = DetachOnDrop::new(async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
        });
        let joined = failing.detach().await;
        assert!(
            matches!(&joined, Ok(Err(Panicked(message))) if message == "boom"),
            "{joined:?}"
        );
    }
}
