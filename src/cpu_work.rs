//! CPU-bound work of a rebuild (converting a listing, indexing a snapshot, freeing the old one)
//! kept off the async workers and spread over the rebuild threads: a rayon pool of the
//! gateway's own (not rayon's global one, which the semantic ranker's maths uses), sized like
//! its runtime (`server.worker_threads`, else one thread per core).

use std::sync::OnceLock;

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

/// Fewest listed tools worth handing to another thread (~1 ms of work at a few µs each).
pub const MIN_PARALLEL_CHUNK: usize = 256;

/// The rebuild threads, made on first use (or by [`init_pool`]); `None` if they could not be.
static POOL: OnceLock<Option<ThreadPool>> = OnceLock::new();

fn new_pool(threads: Option<usize>) -> Option<ThreadPool> {
    let mut builder =
        ThreadPoolBuilder::new().thread_name(|index| format!("gateway-rebuild-{index}"));
    if let Some(threads) = threads {
        builder = builder.num_threads(threads);
    }
    builder.build().ok()
}

/// Sizes the rebuild threads to `threads` (one per core when `None`). Call once, before any
/// rebuild; `false` if the pool was already made (it keeps its size) or cannot be (rebuilds
/// then run on the calling thread).
pub fn init_pool(threads: Option<usize>) -> bool {
    POOL.set(new_pool(threads)).is_ok() && threads_available() > 0
}

fn pool() -> Option<&'static ThreadPool> {
    POOL.get_or_init(|| new_pool(None)).as_ref()
}

/// How many rebuild threads there are (0: rebuilds run on the calling thread).
pub fn threads_available() -> usize {
    pool().map_or(0, ThreadPool::current_num_threads)
}

/// `a` and `b`, on two rebuild threads when `parallel` (and there are two), else one after the
/// other here.
pub fn join<A: Send, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    match pool() {
        Some(pool) if parallel && pool.current_num_threads() >= 2 => {
            pool.install(|| rayon::join(a, b))
        }
        _ => (a(), b()),
    }
}

/// Runs `work` (CPU-bound, tens of milliseconds for a large registry) without holding up the
/// requests queued on this runtime worker: on a multi-threaded runtime the worker hands its
/// queue to another thread first. Elsewhere it simply runs.
pub fn off_the_workers<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// Runs `work` (CPU-bound work of a rebuild that allocates what the next snapshot keeps, or
/// what is freed soon after) on a rebuild thread when `large`, waiting for it off the async
/// workers. glibc keeps an arena per thread and hands little of a freed arena back: keeping a
/// large rebuild's allocations on the rebuild threads leaves the workers' arenas small (about
/// 1.2 MiB less resident at 10,000 tools). Here when small (a hand-off costs more than it
/// saves), when there are no rebuild threads, or when this is one.
pub fn on_rebuild_threads<T: Send>(large: bool, work: impl FnOnce() -> T + Send) -> T {
    match pool() {
        Some(pool) if large && pool.current_thread_index().is_none() => {
            off_the_workers(|| pool.install(work))
        }
        _ => work(),
    }
}

/// `items` mapped by `each`, in order: on the rebuild threads in chunks of at least
/// `min_chunk` items when there are two chunks' worth, else on this thread (a hand-off costs
/// more than a short list takes). Items that are each much work already (slices of a list)
/// take a `min_chunk` of 1.
pub fn map_in_order<T: Send, R: Send>(
    items: Vec<T>,
    min_chunk: usize,
    each: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let min_chunk = min_chunk.max(1);
    let pool = match pool() {
        Some(pool) if items.len() >= 2 * min_chunk && pool.current_num_threads() >= 2 => pool,
        _ => return items.into_iter().map(each).collect(),
    };
    // A reference to a `Sync` function can be sent to the other threads.
    let each = &each;
    pool.install(|| {
        items
            .into_par_iter()
            .with_min_len(min_chunk)
            .map(each)
            .collect()
    })
}

/// Drops `value` (a replaced snapshot: freeing 10,000 tools takes milliseconds) on the
/// runtime's blocking threads, so whoever replaced it answers first. Inline outside a runtime.
pub fn drop_later<T: Send + 'static>(value: T) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => drop(handle.spawn_blocking(move || drop(value))),
        Err(_) => drop(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_short_lists_keep_their_order() {
        // Four threads even on a one-CPU runner, so the parallel path runs.
        init_pool(Some(4));
        for (len, min_chunk) in [(0, 1), (3, 1), (3, MIN_PARALLEL_CHUNK), (10_000, 256)] {
            let items: Vec<usize> = (0..len).collect();
            let doubled = map_in_order(items, min_chunk, |i| i * 2);
            assert_eq!(doubled, (0..len).map(|i| i * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn rebuild_work_runs_on_a_rebuild_thread_from_any_runtime_and_nested() {
        /// The rebuild thread this runs on, and the one nested rebuild work runs on.
        fn on_pool() -> (Option<usize>, Option<usize>) {
            // Nested: already on a rebuild thread, the work runs right here.
            let nested = on_rebuild_threads(true, rayon::current_thread_index);
            (rayon::current_thread_index(), nested)
        }
        init_pool(Some(2));
        let outside = on_rebuild_threads(true, on_pool);
        assert_eq!(
            on_rebuild_threads(false, on_pool).0,
            None,
            "small work stays here"
        );
        assert!(outside.0.is_some(), "ran on a rebuild thread");
        assert_eq!(outside.0, outside.1, "nested work stays on the same thread");
        for multi in [false, true] {
            let mut builder = if multi {
                tokio::runtime::Builder::new_multi_thread()
            } else {
                tokio::runtime::Builder::new_current_thread()
            };
            let runtime = builder.worker_threads(2).build().expect("runtime");
            let inside = runtime.block_on(async {
                tokio::spawn(async move { on_rebuild_threads(true, on_pool) }).await
            });
            let inside = inside.expect("the task finished");
            assert!(
                inside.0.is_some(),
                "ran on a rebuild thread (multi-thread: {multi})"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_value_dropped_later_is_dropped() {
        let shared = std::sync::Arc::new(());
        drop_later(shared.clone());
        for _ in 0..200 {
            if std::sync::Arc::strong_count(&shared) == 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the value was never dropped");
    }
}
