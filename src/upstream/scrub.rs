//! Removes an upstream's secrets (URL password and query values, header values, env values, the
//! registry token) from error text before it reaches logs, `/readyz` or an LLM. Transport errors
//! from reqwest repeat the full URL, so redacting our own messages is not enough.

use crate::config::{Secret, UpstreamConfig};

/// The secret strings of one upstream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scrubber {
    secrets: Vec<String>,
}

impl Scrubber {
    /// Collects every secret of `config` (and the registry token).
    pub(crate) fn new(config: &UpstreamConfig, token: Option<&Secret>) -> Scrubber {
        Scrubber {
            secrets: crate::config::upstream_secrets(config, token),
        }
    }

    /// `text` with every secret replaced by the placeholder.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), crate::config::REDACTED);
            }
        }
        out
    }
}
