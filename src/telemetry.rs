//! Logging through tracing-subscriber, to stderr (journald picks it up under systemd), with the
//! configuration's secrets scrubbed from every line (`log_redact`).
//! `RUST_LOG` wins; otherwise fastmcp-gateway's `LOG_LEVEL` (DEBUG, INFO, WARNING, ERROR, …).

use tracing_subscriber::EnvFilter;

/// Level used when neither variable is set.
const DEFAULT_LEVEL: &str = "info";

/// The filter directive for the given variables.
pub fn filter_directive(rust_log: Option<&str>, log_level: Option<&str>) -> String {
    if let Some(directive) = rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        return directive.to_string();
    }
    let level = match log_level.map(|l| l.trim().to_ascii_lowercase()).as_deref() {
        Some("trace") => "trace",
        Some("debug") => "debug",
        Some("info") => "info",
        Some("warn" | "warning") => "warn",
        Some("error" | "critical" | "fatal") => "error",
        Some("off" | "none") => "off",
        _ => DEFAULT_LEVEL,
    };
    // rmcp logs every handshake in full at info; keep it to warnings unless debugging.
    match level {
        "info" | "warn" => format!("{level},rmcp=warn"),
        other => other.to_string(),
    }
}

/// Installs the global subscriber writing `format`; a second call is a no-op.
pub fn init(format: crate::config::LogFormat) {
    let directive = filter_directive(
        std::env::var("RUST_LOG").ok().as_deref(),
        std::env::var("LOG_LEVEL").ok().as_deref(),
    );
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: journald and log files want plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::log_redact::ScrubbedStderr);
    let _ = match format {
        crate::config::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        crate::config::LogFormat::Pretty => builder.with_ansi(ansi).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::filter_directive;

    #[test]
    fn log_level_maps_python_names() {
        assert_eq!(filter_directive(None, Some("WARNING")), "warn,rmcp=warn");
        assert_eq!(filter_directive(None, Some("DEBUG")), "debug");
        assert_eq!(filter_directive(None, Some("CRITICAL")), "error");
        assert_eq!(filter_directive(None, None), "info,rmcp=warn");
        assert_eq!(filter_directive(None, Some("bogus")), "info,rmcp=warn");
    }

    #[test]
    fn rust_log_wins() {
        assert_eq!(
            filter_directive(Some("mcp_gateway=trace"), Some("ERROR")),
            "mcp_gateway=trace"
        );
    }
}
