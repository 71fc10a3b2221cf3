//! A string that must never reach logs, errors or `check` output: header values, tokens, env.

use std::fmt;

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
    if url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    match shown.set_password(Some(REDACTED)) {
        Ok(()) => shown.to_string(),
        Err(()) => format!("{}://{}", url.scheme(), url.host_str().unwrap_or("")),
    }
}
