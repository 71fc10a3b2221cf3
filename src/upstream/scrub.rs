//! Removes an upstream's secrets (URL password and query values, header values, env values, the
//! registry token) from error text before it reaches logs, `/readyz` or an LLM. Transport errors
//! from reqwest repeat the full URL, so redacting our own messages is not enough.

use crate::config::{Secret, Transport, UpstreamConfig};

/// Secrets shorter than this are not scrubbed: they would mangle ordinary words.
const MIN_SECRET_LEN: usize = 4;

/// The secret strings of one upstream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scrubber {
    secrets: Vec<String>,
}

impl Scrubber {
    /// Collects every secret of `config` (and the registry token).
    pub(crate) fn new(config: &UpstreamConfig, token: Option<&Secret>) -> Scrubber {
        let mut secrets: Vec<String> = token.map(|t| t.expose().to_string()).into_iter().collect();
        match &config.transport {
            Transport::Http { url, headers } => {
                if let Some(password) = url.password() {
                    secrets.push(password.to_string());
                }
                if let Some(query) = url.query() {
                    secrets.push(query.to_string());
                }
                for (_, value) in url.query_pairs() {
                    secrets.push(value.into_owned());
                }
                for value in headers.values() {
                    let value = value.expose();
                    secrets.push(value.to_string());
                    // `Bearer abc` is also printed as just `abc` by some errors.
                    if let Some((_, token)) = value.split_once(' ') {
                        secrets.push(token.to_string());
                    }
                }
            }
            Transport::Stdio { env, .. } => {
                secrets.extend(env.values().map(|v| v.expose().to_string()));
            }
        }
        secrets.retain(|s| s.len() >= MIN_SECRET_LEN);
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Scrubber { secrets }
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
