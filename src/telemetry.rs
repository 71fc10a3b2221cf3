//! Logs and traces. Logs go through tracing-subscriber to stderr (journald picks them up under
//! systemd), with the configuration's secrets scrubbed from every line (`log_redact`).
//! `RUST_LOG` wins; otherwise fastmcp-gateway's `LOG_LEVEL` (DEBUG, INFO, WARNING, ERROR, …).
//! Traces are exported over OTLP only when an endpoint is configured ([`otlp`]); the span names
//! and attributes are in [`spans`], trace context in and out in [`trace_context`].

mod otlp;
pub mod spans;
pub mod trace_context;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::filter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{LogFormat, TelemetrySettings};

/// How long shutdown waits for the last spans to be exported.
pub const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
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

/// The installed telemetry; [`Telemetry::shutdown`] exports the spans still buffered.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn traces_exported(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes and stops the exporter (bounded by [`FLUSH_TIMEOUT`]); a no-op without one.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The SDK blocks while the batch task (on this runtime) exports: keep it off the workers.
        let stopping =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT));
        // The SDK ignores its own timeout here: bound the wait, and leave a stuck export behind.
        match tokio::time::timeout(FLUSH_TIMEOUT, stopping).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, "trace export did not finish"),
            Ok(Err(error)) => tracing::warn!(%error, "trace export shutdown failed"),
            Err(_) => tracing::warn!("trace export did not finish in time"),
        }
    }
}

/// Installs the global subscriber: log lines in `settings.log_format`, and the OTLP exporter when
/// an endpoint is configured. Call it inside the tokio runtime (the exporter's batch task runs
/// there). A second call is a no-op.
pub fn init(settings: &TelemetrySettings) -> Telemetry {
    let directive = filter_directive(
        std::env::var("RUST_LOG").ok().as_deref(),
        std::env::var("LOG_LEVEL").ok().as_deref(),
    );
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let mut failure = None;
    let provider =
        settings
            .otlp
            .as_ref()
            .and_then(|export| match otlp::provider(settings, export) {
                Ok(provider) => Some(provider),
                Err(error) => {
                    failure = Some(error);
                    None
                }
            });
    let traces = provider.as_ref().map(trace_layer);
    let installed = tracing_subscriber::registry()
        .with(log_layer(settings.log_format).with_filter(filter))
        .with(traces)
        .try_init()
        .is_ok();
    if let Some(error) = failure {
        tracing::error!(%error, "traces are not exported");
    }
    match (&settings.otlp, &provider) {
        (Some(export), Some(_)) if installed => tracing::info!(
            endpoint = %crate::config::display_url(&export.endpoint),
            service = settings.service_name.as_deref().unwrap_or(crate::config::DEFAULT_SERVICE_NAME),
            "exporting traces over OTLP"
        ),
        _ => {}
    }
    Telemetry {
        provider: provider.filter(|_| installed),
    }
}

/// The log line layer, in `format`.
fn log_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // Colours only on a terminal: journald and log files want plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer()
        .with_timer(LogClock)
        .with_writer(crate::log_redact::ScrubbedStderr);
    match format {
        LogFormat::Json => layer
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => layer.with_ansi(ansi).boxed(),
    }
}

/// The time on each log line: RFC 3339 in UTC with microseconds, as tracing-subscriber's
/// default clock writes it (`2026-11-27T05:03:42.123456Z`), but in one write: that clock goes
/// through a formatting call per field, a sixth of a call's log line.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogClock;

impl FormatTime for LogClock {
    fn format_time(&self, writer: &mut Writer<'_>) -> std::fmt::Result {
        let now = std::time::SystemTime::now();
        if humantime_writes(now) {
            write_time(writer, now)
        } else {
            // A clock set before 1970 or past 9999: tracing-subscriber's writes those too.
            tracing_subscriber::fmt::time::SystemTime.format_time(writer)
        }
    }
}

/// 10000-01-01T00:00:00Z in seconds since the Unix epoch: where humantime stops.
const YEAR_10000: u64 = 253_402_300_800;

/// Whether humantime can write `at`: it panics before the Unix epoch and refuses from the year
/// 10000 on.
fn humantime_writes(at: std::time::SystemTime) -> bool {
    at.duration_since(std::time::UNIX_EPOCH)
        .is_ok_and(|since| since.as_secs() < YEAR_10000)
}

/// Writes `at` as [`LogClock`] does; only for instants [`humantime_writes`].
fn write_time(writer: &mut impl std::fmt::Write, at: std::time::SystemTime) -> std::fmt::Result {
    writer.write_fmt(format_args!("{}", humantime::format_rfc3339_micros(at)))
}

/// The layer that turns the gateway's spans (and its events inside them) into OpenTelemetry
/// spans of `provider`, and switches span recording on. Public so that tests can install it
/// with an in-memory exporter.
pub fn trace_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + Send + Sync + use<S>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    spans::enable();
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("mcp-gateway"))
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        // The gateway's own spans only: log events never leave through the exporter (they are
        // scrubbed on the way to stderr; span attributes carry no secrets).
        .with_filter(filter::filter_fn(|meta| {
            meta.is_span() && meta.target() == spans::TARGET
        }))
}

#[cfg(test)]
mod tests {
    use super::filter_directive;
    use tracing_subscriber::fmt::time::FormatTime;

    /// The log clock writes what tracing-subscriber's own clock writes, to the microsecond.
    #[test]
    fn log_clock_writes_what_the_default_clock_writes() {
        let format = |timer: &dyn FormatTime| {
            let mut text = String::new();
            timer
                .format_time(&mut super::Writer::new(&mut text))
                .expect("formats");
            text
        };
        // The two read the clock in turn: the same up to the second and in layout (retried a
        // bounded number of times, across a second's edge).
        let same = (0..100).any(|_| {
            let ours = format(&super::LogClock);
            let theirs = format(&tracing_subscriber::fmt::time::SystemTime);
            let layout = |text: &str| {
                text.chars()
                    .map(|c| if c.is_ascii_digit() { '0' } else { c })
                    .collect::<String>()
            };
            ours.get(..20) == theirs.get(..20)
                && layout(&ours) == layout(&theirs)
                && layout(&ours) == "0000-00-00T00:00:00.000000Z"
        });
        assert!(
            same,
            "{} vs {}",
            format(&super::LogClock),
            format(&tracing_subscriber::fmt::time::SystemTime)
        );
        // Fixed instants, against the layout the default clock uses.
        for (seconds, micros, text) in [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (1_795_000_000, 7, "2026-11-18T11:06:40.000007Z"),
            (951_782_400, 999_999, "2000-02-29T00:00:00.999999Z"),
        ] {
            let at = std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(seconds)
                + std::time::Duration::from_micros(micros);
            // Nanoseconds are cut off, not rounded, as the default clock does.
            let at = at + std::time::Duration::from_nanos(999);
            let mut written = String::new();
            assert!(super::humantime_writes(at));
            super::write_time(&mut written, at).expect("formats");
            assert_eq!(written, text);
        }
        // The edges of humantime's range: the clock falls back to tracing-subscriber's outside.
        let epoch = std::time::UNIX_EPOCH;
        let second = std::time::Duration::from_secs(1);
        let last = epoch + std::time::Duration::from_secs(super::YEAR_10000) - second;
        assert!(super::humantime_writes(epoch) && super::humantime_writes(last));
        let mut written = String::new();
        super::write_time(&mut written, last).expect("formats");
        assert_eq!(written, "9999-12-31T23:59:59.000000Z");
        assert!(!super::humantime_writes(last + second));
        assert!(!super::humantime_writes(epoch - second));
    }

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
