//! The call slots of one upstream: at most `max_concurrency` calls in flight; a caller beyond it
//! waits up to `queue_timeout` for a slot, then is told the upstream is busy. The size follows
//! reloads: growing adds slots at once, shrinking takes slots out as calls return them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots; cheap to share.
#[derive(Debug)]
pub(crate) struct CallSlots {
    semaphore: Arc<Semaphore>,
    size: Mutex<usize>,
}

impl CallSlots {
    /// `size` slots.
    pub(crate) fn new(size: usize) -> CallSlots {
        CallSlots {
            semaphore: Arc::new(Semaphore::new(size)),
            size: Mutex::new(size),
        }
    }

    /// Waits at most `wait` for a slot; `None` when none came free.
    pub(crate) async fn acquire(&self, wait: Duration) -> Option<OwnedSemaphorePermit> {
        // A free slot is taken without arming the timer.
        if let Ok(permit) = self.semaphore.clone().try_acquire_owned() {
            return Some(permit);
        }
        tokio::time::timeout(wait, self.semaphore.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// Changes the number of slots to `size`.
    pub(crate) fn resize(&self, size: usize) {
        let mut current = self
            .size
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if size > *current {
            self.semaphore.add_permits(size - *current);
        } else if size < *current {
            let surplus = u32::try_from(*current - size).unwrap_or(u32::MAX);
            let semaphore = self.semaphore.clone();
            // Slots in use now are retired when their calls return them.
            tokio::spawn(async move {
                if let Ok(permits) = semaphore.acquire_many_owned(surplus).await {
                    permits.forget();
                }
            });
        }
        *current = size;
    }

    /// Calls in flight now (for `/readyz`).
    pub(crate) fn in_use(&self) -> usize {
        let size = *self
            .size
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        size.saturating_sub(self.semaphore.available_permits())
    }
}
