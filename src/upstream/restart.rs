//! Restart backoff: a session that ends soon after it opened (a stdio child that crashes at
//! start, an HTTP upstream that drops every session) is reopened after a delay that doubles
//! with each quick exit (0.5 s up to 30 s), so a flapping upstream costs a few attempts a
//! minute, not a busy loop. A session that lasted [`STABLE_AFTER`] resets the count.

use std::time::{Duration, Instant};

/// A session that lived this long was not a flap.
pub(crate) const STABLE_AFTER: Duration = Duration::from_secs(10);
/// Delay after the first quick exit.
pub(crate) const RESTART_INITIAL: Duration = Duration::from_millis(500);
/// Longest delay.
pub(crate) const RESTART_MAX: Duration = Duration::from_secs(30);

/// The restart history of one upstream.
#[derive(Debug, Default)]
pub(crate) struct RestartBackoff {
    /// When the current (or last) session opened, until its end is counted.
    opened_at: Option<Instant>,
    /// Quick exits in a row.
    quick_exits: u32,
    /// No new session before this.
    not_before: Option<Instant>,
}

impl RestartBackoff {
    /// A session opened.
    pub(crate) fn opened(&mut self) {
        self.opened_at = Some(Instant::now());
    }

    /// The session that was open has ended (counted once per session).
    pub(crate) fn ended(&mut self) {
        let Some(opened_at) = self.opened_at.take() else {
            return;
        };
        if opened_at.elapsed() >= STABLE_AFTER {
            self.quick_exits = 0;
            self.not_before = None;
            return;
        }
        self.quick_exits = self.quick_exits.saturating_add(1);
        let doublings = self.quick_exits.saturating_sub(1).min(16);
        let delay = RESTART_INITIAL
            .saturating_mul(1u32 << doublings)
            .min(RESTART_MAX);
        self.not_before = Some(Instant::now() + delay);
    }

    /// Why no session may open yet, if so.
    pub(crate) fn hold(&self) -> Option<String> {
        let wait = self.not_before?.checked_duration_since(Instant::now())?;
        Some(format!(
            "the upstream ended {} session(s) within {}s of opening; next attempt in {} ms",
            self.quick_exits,
            STABLE_AFTER.as_secs(),
            wait.as_millis()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{RESTART_INITIAL, RestartBackoff};

    #[test]
    fn quick_exits_double_the_delay_up_to_the_cap() {
        let mut backoff = RestartBackoff::default();
        assert!(backoff.hold().is_none());
        backoff.ended();
        assert!(backoff.hold().is_none(), "no session was open");
        let mut last = std::time::Duration::ZERO;
        for _ in 0..12 {
            backoff.opened();
            backoff.ended();
            let wait = backoff
                .not_before
                .map(|t| t - std::time::Instant::now())
                .unwrap_or_default();
            assert!(wait >= last.saturating_sub(std::time::Duration::from_millis(5)));
            assert!(wait <= super::RESTART_MAX);
            last = wait;
        }
        assert!(last > RESTART_INITIAL * 16, "doubled: {last:?}");
        assert!(backoff.hold().is_some_and(|h| h.contains("12 session(s)")));
    }
}
