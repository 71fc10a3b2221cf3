//! Defence in depth for logs: every line the gateway writes, its own or a dependency's (rmcp and
//! reqwest print whole URLs, query strings included, in their errors), has each known secret of
//! the configuration replaced by the placeholder before it reaches stderr. The set only grows:
//! secrets of a config replaced by a reload may still appear in a retiring upstream's errors.

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, LazyLock, Mutex};

use arc_swap::ArcSwap;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{Config, REDACTED, all_secrets};

/// Shortest value scrubbed from log lines.
const MIN_LOGGED_SECRET_LEN: usize = 8;

/// Every secret seen in a loaded configuration, longest first.
static SECRETS: LazyLock<ArcSwap<Vec<String>>> =
    LazyLock::new(|| ArcSwap::from_pointee(Vec::new()));
/// Serialises updates of [`SECRETS`].
static UPDATE: Mutex<()> = Mutex::new(());

/// Adds the secrets of `config` to the set scrubbed from every log line.
pub fn protect(config: &Config) {
    let _serial = UPDATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut secrets: Vec<String> = SECRETS.load().as_ref().clone();
    // Short values and plain numbers (a stdio `PORT = "3000"`) would mangle ordinary log text
    // and JSON syntax; real credentials are longer.
    secrets.extend(all_secrets(config).into_iter().filter(|s| {
        s.len() >= MIN_LOGGED_SECRET_LEN && !s.chars().all(|c| c.is_ascii_digit() || c == '.')
    }));
    secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    secrets.dedup();
    SECRETS.store(Arc::new(secrets));
}

/// `text` with every protected secret replaced; borrowed when it holds none.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.load();
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
        }
    }
    out
}

/// A `MakeWriter` for tracing-subscriber: one buffered, scrubbed write to stderr per event.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScrubbedStderr;

/// Collects one formatted event; scrubs and writes it when dropped.
pub struct EventBuffer(Vec<u8>);

impl Write for EventBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventBuffer {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let _ = std::io::stderr().lock().write_all(scrub(&text).as_bytes());
    }
}

impl<'a> MakeWriter<'a> for ScrubbedStderr {
    type Writer = EventBuffer;

    fn make_writer(&'a self) -> EventBuffer {
        EventBuffer(Vec::with_capacity(256))
    }
}
