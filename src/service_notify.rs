//! systemd service notifications for `Type=notify` units: READY, RELOADING (with
//! MONOTONIC_USEC), STOPPING and STATUS. Every call is a no-op when `NOTIFY_SOCKET` is unset, and
//! nothing but STOPPING is sent once shutdown began (a late READY would confuse systemd).

use std::sync::atomic::{AtomicBool, Ordering};

use sd_notify::NotifyState;

/// The variable systemd sets for `Type=notify` services; removed from stdio children's env.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Set by [`stopping`].
static STOPPING: AtomicBool = AtomicBool::new(false);

fn send(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "systemd notification failed");
    }
}

/// The service is ready (after the first population, or after a reload).
pub fn ready(status: &str) {
    if !STOPPING.load(Ordering::Acquire) {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }
}

/// A reload starts; systemd wants the monotonic time with it.
pub fn reloading() {
    if STOPPING.load(Ordering::Acquire) {
        return;
    }
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(error) => tracing::warn!(%error, "cannot read the monotonic clock for systemd"),
    }
}

/// Shutdown starts.
pub fn stopping() {
    STOPPING.store(true, Ordering::Release);
    send(&[NotifyState::Stopping]);
}

/// A free-form status line (`systemctl status` shows it).
pub fn status(text: &str) {
    if !STOPPING.load(Ordering::Acquire) {
        send(&[NotifyState::Status(text)]);
    }
}
