//! A string that must never reach logs, errors or `check` output: header values, tokens, env.

use std::fmt;

use super::{Config, Transport, UpstreamConfig};

/// A secret value; `Debug` and `Display` print a placeholder, [`Secret::expose`] the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// What a secret looks like wherever it is printed.
pub const REDACTED: &str = "<redacted>";

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it (a header, a child's environment).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A URL as it may be printed: any password in it replaced by the placeholder.
pub fn display_url(url: &url::Url) -> String {
    if url.password().is_none() && url.query().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    if url.query().is_some() {
        // Query values often carry API keys: keep the names, hide every value.
        let names: Vec<String> = url
            .query_pairs()
            .map(|(name, _)| name.into_owned())
            .collect();
        shown
            .query_pairs_mut()
            .clear()
            .extend_pairs(names.iter().map(|name| (name.as_str(), REDACTED)));
    }
    if url.password().is_some() && shown.set_password(Some(REDACTED)).is_err() {
        return format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    }
    shown.to_string()
}

/// Secrets shorter than this are not scrubbed from text: they would mangle ordinary words.
const MIN_SECRET_LEN: usize = 4;

/// Every secret string of one upstream (and the registry token) as it may appear in text: URL
/// password and query values, header values (and the token of `Bearer <token>`), stdio env
/// values; longest first, so a secret containing another is replaced whole.
pub fn upstream_secrets(config: &UpstreamConfig, token: Option<&Secret>) -> Vec<String> {
    let mut secrets: Vec<String> = token.map(|t| t.expose().to_string()).into_iter().collect();
    match &config.transport {
        Transport::Http { url, headers } => {
            url_secrets(url, &mut secrets);
            for value in headers.values() {
                header_secrets(value.expose(), &mut secrets);
            }
        }
        Transport::Stdio { env, .. } => {
            secrets.extend(env.values().map(|v| v.expose().to_string()));
        }
    }
    tidy(secrets)
}

/// Every secret string of `config`: all upstreams', the registry token, inbound bearer tokens.
pub fn all_secrets(config: &Config) -> Vec<String> {
    let token = config.server.registry_auth_token.as_ref();
    let mut secrets: Vec<String> = config
        .upstreams
        .values()
        .flat_map(|upstream| upstream_secrets(upstream, token))
        .collect();
    secrets.extend(token.map(|t| t.expose().to_string()));
    secrets.extend(
        config
            .server
            .auth
            .bearer_tokens
            .iter()
            .map(|t| t.expose().to_string()),
    );
    if let Some(otlp) = &config.telemetry.otlp {
        for value in otlp.headers.values() {
            header_secrets(value.expose(), &mut secrets);
        }
        url_secrets(&otlp.endpoint, &mut secrets);
    }
    tidy(secrets)
}

/// A URL's password and query values (and the whole query).
fn url_secrets(url: &url::Url, secrets: &mut Vec<String>) {
    if let Some(password) = url.password() {
        secrets.push(password.to_string());
    }
    if let Some(query) = url.query() {
        secrets.push(query.to_string());
    }
    for (_, value) in url.query_pairs() {
        secrets.push(value.into_owned());
    }
}

/// A header value, and the token of `Bearer <token>` (some errors print just the token).
fn header_secrets(value: &str, secrets: &mut Vec<String>) {
    secrets.push(value.to_string());
    if let Some((_, token)) = value.split_once(' ') {
        secrets.push(token.to_string());
    }
}

fn tidy(mut secrets: Vec<String>) -> Vec<String> {
    secrets.retain(|s| s.len() >= MIN_SECRET_LEN);
    secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    secrets.dedup();
    secrets
}
