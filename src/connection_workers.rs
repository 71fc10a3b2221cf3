//! The threads that serve client connections. Each thread runs a one-worker runtime of its own,
//! and a connection stays on the thread it was given to, with every task it starts.
//!
//! On one shared work-stealing runtime, the tasks of a single call (the client's connection, the
//! upstream connection, the HTTP client's bookkeeping) were woken on both worker threads in turn.
//! Each hand-off was a futex or eventfd wake-up on the call's path, and the woken thread spun
//! looking for work. Here the tasks of a call stay on one thread. The acceptor gives each new
//! connection to the thread serving the fewest, so the threads share the load across cores. The
//! call leg keeps one HTTP client per thread for the same reason (`upstream/call_leg.rs`):
//! pooled upstream connections are served by the thread that opened them.
//!
//! Background work (reloads, listings, upstream sessions, a client's `refresh_registry`) stays
//! on the main runtime. What runs on a connection's thread: its requests, the tasks they start
//! (rmcp's session worker for a session initialised on it, the calls it answers itself, also
//! once detached) and the upstream connections its calls post on. One connection is served by
//! one core, so a client that multiplexes many calls over one HTTP/2 connection gets one core;
//! clients with connections of their own, and proxies with keep-alive pools, spread over all of
//! them. Work on a connection's path that takes long (parsing a result of many megabytes,
//! compiling a tool's schema on its first call) holds up the other connections of its thread;
//! nothing steals them.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The period of each thread's idle tick (see [`Worker::start`]): shorter than any timeout a
/// call arms.
const TIMER_ANCHOR: Duration = Duration::from_millis(500);
/// How long a stopping worker waits for its connections to end, then for its blocking threads.
const STOP_TIMEOUT: Duration = Duration::from_secs(1);
/// Blocking threads per worker (DNS lookups, query embeddings), at most.
const MAX_BLOCKING_THREADS: usize = 64;

thread_local! {
    /// The index of the connection worker this thread belongs to, if any.
    static WORKER_INDEX: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The most connection workers started at once in this process.
static WORKER_COUNT: AtomicUsize = AtomicUsize::new(0);

/// The index of the connection worker running the caller, if it runs on one.
pub fn current_worker() -> Option<usize> {
    WORKER_INDEX.with(Cell::get)
}

/// How many connection workers there are (the most started at once): what per-worker state is
/// sized for. 0 before any started.
pub fn worker_count() -> usize {
    WORKER_COUNT.load(Ordering::Acquire)
}

/// One serving thread: its runtime, how many connections it serves, and how to stop it.
struct Worker {
    runtime: Handle,
    connections: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// The serving threads; [`ConnectionWorkers::stop`] ends them.
pub struct ConnectionWorkers {
    workers: Vec<Worker>,
}

/// Counts a connection on its worker for as long as the connection is served.
struct Serving(Arc<AtomicUsize>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnectionWorkers {
    /// Starts `count` serving threads (at least one).
    pub fn start(count: usize) -> std::io::Result<ConnectionWorkers> {
        let count = count.max(1);
        let mut workers = Vec::with_capacity(count);
        for index in 0..count {
            workers.push(Worker::start(index)?);
        }
        WORKER_COUNT.fetch_max(count, Ordering::AcqRel);
        Ok(ConnectionWorkers { workers })
    }

    /// How many threads serve connections.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether there are no serving threads (never, once started).
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Serves one connection on the thread serving the fewest. `serve` runs there, inside that
    /// thread's runtime, so the sockets it registers and the tasks it spawns belong to it.
    pub fn serve<F, Fut>(&self, serve: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static + Send,
    {
        let Some(worker) = self
            .workers
            .iter()
            .min_by_key(|worker| worker.connections.load(Ordering::Acquire))
        else {
            return;
        };
        worker.connections.fetch_add(1, Ordering::AcqRel);
        let serving = Serving(worker.connections.clone());
        worker.runtime.spawn(async move {
            let _serving = serving;
            serve().await;
        });
    }

    /// Connections served by each thread now, in thread order.
    pub fn connections(&self) -> Vec<usize> {
        self.workers
            .iter()
            .map(|worker| worker.connections.load(Ordering::Acquire))
            .collect()
    }

    /// Stops every thread: tasks still running get [`STOP_TIMEOUT`] to end, then are dropped.
    /// Blocks until the threads have ended; call it off the runtime's workers.
    pub fn stop(mut self) {
        for worker in &mut self.workers {
            if let Some(stop) = worker.stop.take() {
                let _ = stop.send(());
            }
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take()
                && thread.join().is_err()
            {
                tracing::error!("a connection worker thread panicked");
            }
        }
    }
}

impl Drop for ConnectionWorkers {
    /// Threads not stopped with [`ConnectionWorkers::stop`] are told to end, not waited for.
    fn drop(&mut self) {
        for worker in &mut self.workers {
            if let Some(stop) = worker.stop.take() {
                let _ = stop.send(());
            }
        }
    }
}

impl Worker {
    /// Starts thread `index`. Its runtime is built and dropped on the thread itself.
    fn start(index: usize) -> std::io::Result<Worker> {
        let connections = Arc::new(AtomicUsize::new(0));
        let open = connections.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let (started, handle) = std::sync::mpsc::channel::<std::io::Result<Handle>>();
        let thread = std::thread::Builder::new()
            .name(format!("mcp-conn-{index}-main"))
            .spawn(move || {
                // A multi-threaded runtime of one worker, not a current-thread one: on it
                // `block_in_place` steps off the worker (on a current-thread one it panics).
                let built = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .max_blocking_threads(MAX_BLOCKING_THREADS)
                    .thread_name(format!("mcp-conn-{index}"))
                    .on_thread_start(move || WORKER_INDEX.with(|worker| worker.set(Some(index))))
                    .enable_all()
                    .build();
                let runtime = match built {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = started.send(Err(error));
                        return;
                    }
                };
                // The I/O driver sleeps until the earliest timer. A call arms timers seconds
                // away (its timeouts); were they the earliest, each would wake the driver to
                // shorten its sleep (an eventfd write and an extra `epoll_wait`, twice per
                // call). A tick every TIMER_ANCHOR keeps an earlier deadline always set.
                runtime.spawn(async {
                    let mut tick = tokio::time::interval(TIMER_ANCHOR);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                    }
                });
                if started.send(Ok(runtime.handle().clone())).is_err() {
                    return;
                }
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                // Connections still open (the drain normally closed them) get STOP_TIMEOUT to
                // end; then the runtime drops what is left. Waited for here, on this thread's
                // clock, so a worker stuck in blocking code cannot hold the stop.
                let deadline = std::time::Instant::now() + STOP_TIMEOUT;
                while open.load(Ordering::Acquire) > 0 && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                runtime.shutdown_timeout(STOP_TIMEOUT);
            })?;
        let runtime = handle
            .recv()
            .map_err(|_| std::io::Error::other("a connection worker ended while starting"))??;
        Ok(Worker {
            runtime,
            connections,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_to_the_least_busy_thread_and_stay_there() {
        let workers = ConnectionWorkers::start(2).unwrap_or_else(|e| panic!("{e}"));
        let (release, hold) = tokio::sync::watch::channel(false);
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        for _ in 0..4 {
            let mut hold = hold.clone();
            let seen = seen_tx.clone();
            workers.serve(move || async move {
                let thread = std::thread::current().name().map(str::to_string);
                assert_eq!(
                    current_worker().map(|index| format!("mcp-conn-{index}")),
                    thread,
                    "the thread knows its worker"
                );
                tokio::task::yield_now().await;
                let again = std::thread::current().name().map(str::to_string);
                let _ = seen.send((thread, again));
                let _ = hold.wait_for(|released| *released).await;
            });
        }
        let mut threads = Vec::new();
        for _ in 0..4 {
            let (first, again) = seen_rx
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("a connection never ran: {e}"));
            assert_eq!(first, again, "a connection moved between threads");
            threads.push(first.unwrap_or_default());
        }
        threads.sort();
        assert_eq!(
            threads,
            ["mcp-conn-0", "mcp-conn-0", "mcp-conn-1", "mcp-conn-1"],
            "four connections, two threads: two each"
        );
        assert_eq!(workers.connections(), [2, 2]);
        let _ = release.send(true);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while workers.connections() != [0, 0] && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            workers.connections(),
            [0, 0],
            "ended connections still counted"
        );
        workers.stop();
    }

    #[test]
    fn stopping_ends_the_threads_even_with_work_still_running() {
        let workers = ConnectionWorkers::start(1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(workers.len(), 1);
        let (dropped_tx, dropped_rx) = std::sync::mpsc::channel::<()>();
        struct Dropped(std::sync::mpsc::Sender<()>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        workers.serve(move || async move {
            let _dropped = Dropped(dropped_tx);
            std::future::pending::<()>().await;
        });
        let started = std::time::Instant::now();
        workers.stop();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            dropped_rx.recv_timeout(Duration::from_secs(1)).is_ok(),
            "the pending connection was not dropped"
        );
    }
}
