//! The `[telemetry]` table: log format, and the OTLP trace export (off unless an endpoint is set).

use std::collections::BTreeMap;
use std::time::Duration;

use figment::value::{Dict, Value};

use super::{Table, Walk, kind, show};
use crate::config::{LogFormat, OtlpExport, OtlpProtocol, Secret, TelemetrySettings, TraceSampler};

/// How long one OTLP export may take unless `telemetry.otlp_timeout` says otherwise (the
/// OpenTelemetry default).
pub const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(10);
/// The path an OTLP/HTTP collector receives spans on, appended to `otlp_endpoint`.
const HTTP_TRACES_PATH: &str = "v1/traces";
/// Accepted `telemetry.sampler` values.
const SAMPLERS: &str = "always_on, always_off, traceidratio, parentbased_always_on, \
                        parentbased_always_off, parentbased_traceidratio";

impl Walk<'_> {
    pub(super) fn telemetry(&mut self, dict: &Dict) -> TelemetrySettings {
        let mut t = Table::new("telemetry", dict);
        let log_format = self.log_format(&mut t);
        let service_name = self
            .non_empty(&mut t, "service_name")
            .map(|name| name.trim().to_string());
        let sampler = self.sampler(&mut t);
        let otlp = self.otlp(&mut t);
        self.finish(t);
        TelemetrySettings {
            log_format,
            otlp,
            service_name,
            sampler,
        }
    }

    fn log_format(&mut self, t: &mut Table<'_>) -> LogFormat {
        let raw = t.dict.get("log_format");
        match self.string(t, "log_format").as_deref().map(str::trim) {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                self.report(
                    "telemetry.log_format",
                    raw,
                    format!("expected \"pretty\" or \"json\", got {other:?}"),
                );
                LogFormat::Pretty
            }
        }
    }

    /// The exporter, when an endpoint is set and `traces_exporter` is not `none`.
    fn otlp(&mut self, t: &mut Table<'_>) -> Option<OtlpExport> {
        let exporter_raw = t.dict.get("traces_exporter");
        let enabled = match self.string(t, "traces_exporter").as_deref().map(str::trim) {
            None | Some("otlp") => true,
            Some("none") => false,
            Some(other) => {
                self.report(
                    "telemetry.traces_exporter",
                    exporter_raw,
                    format!("expected \"otlp\" or \"none\", got {other:?}"),
                );
                true
            }
        };
        let protocol = self.otlp_protocol(t);
        let headers = self.otlp_headers(t);
        let timeout = self.duration(t, "otlp_timeout");
        let base = self.endpoint(t, "otlp_endpoint");
        let exact = self.endpoint(t, "otlp_traces_endpoint");
        let endpoint = match (exact, base) {
            (Some(exact), _) => exact,
            (None, Some(base)) if protocol == OtlpProtocol::HttpProtobuf => with_traces_path(base),
            (None, Some(base)) => base,
            (None, None) => return None,
        };
        if protocol == OtlpProtocol::Grpc && endpoint.scheme() == "https" {
            let raw = t
                .dict
                .get("otlp_endpoint")
                .or(t.dict.get("otlp_traces_endpoint"));
            self.report(
                "telemetry.otlp_endpoint",
                raw,
                "https:// needs otlp_protocol = \"http/protobuf\" (gRPC export is plain text)",
            );
            return None;
        }
        enabled.then(|| OtlpExport {
            endpoint,
            protocol,
            headers,
            timeout: timeout.unwrap_or(DEFAULT_OTLP_TIMEOUT),
        })
    }

    fn otlp_protocol(&mut self, t: &mut Table<'_>) -> OtlpProtocol {
        let raw = t.dict.get("otlp_protocol");
        match self.string(t, "otlp_protocol").as_deref().map(str::trim) {
            None | Some("http/protobuf") => OtlpProtocol::HttpProtobuf,
            Some("grpc") => OtlpProtocol::Grpc,
            Some(other) => {
                self.report(
                    "telemetry.otlp_protocol",
                    raw,
                    format!("expected \"http/protobuf\" or \"grpc\", got {other:?}"),
                );
                OtlpProtocol::HttpProtobuf
            }
        }
    }

    fn otlp_headers(&mut self, t: &mut Table<'_>) -> BTreeMap<String, Secret> {
        let path = t.key_path("otlp_headers");
        let mut headers = BTreeMap::new();
        for (name, value) in self.string_map(t, "otlp_headers") {
            let key_path = format!("{path}.{name}");
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.report(&key_path, None, "invalid HTTP header name");
            } else if http::HeaderValue::from_str(&value).is_err() {
                self.report(
                    &key_path,
                    None,
                    "invalid HTTP header value (control characters or non-ASCII)",
                );
            } else {
                headers.insert(name.to_ascii_lowercase(), Secret::new(value));
            }
        }
        headers
    }

    /// An `http://` or `https://` URL.
    fn endpoint(&mut self, t: &mut Table<'_>, key: &'static str) -> Option<url::Url> {
        let raw = t.dict.get(key);
        let text = self.non_empty(t, key)?;
        let path = t.key_path(key);
        match url::Url::parse(text.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
            Ok(url) => {
                self.report(
                    &path,
                    raw,
                    format!(
                        "expected an http:// or https:// URL, got scheme {:?}",
                        url.scheme()
                    ),
                );
                None
            }
            Err(error) => {
                self.report(&path, raw, format!("invalid URL: {error}"));
                None
            }
        }
    }

    fn sampler(&mut self, t: &mut Table<'_>) -> TraceSampler {
        let raw = t.dict.get("sampler");
        let name = self
            .string(t, "sampler")
            .map(|s| s.trim().to_ascii_lowercase());
        let arg = self.sampler_arg(t);
        let ratio = arg.unwrap_or(1.0);
        match name.as_deref() {
            None | Some("parentbased_always_on") => TraceSampler::ParentBasedAlwaysOn,
            Some("always_on") => TraceSampler::AlwaysOn,
            Some("always_off") => TraceSampler::AlwaysOff,
            Some("traceidratio") => TraceSampler::TraceIdRatio(ratio),
            Some("parentbased_always_off") => TraceSampler::ParentBasedAlwaysOff,
            Some("parentbased_traceidratio") => TraceSampler::ParentBasedTraceIdRatio(ratio),
            Some(other) => {
                self.report(
                    "telemetry.sampler",
                    raw,
                    format!("unknown sampler {other:?} (expected one of: {SAMPLERS})"),
                );
                TraceSampler::default()
            }
        }
    }

    /// A ratio in [0, 1]; a string is accepted (it comes from `OTEL_TRACES_SAMPLER_ARG`).
    fn sampler_arg(&mut self, t: &mut Table<'_>) -> Option<f64> {
        let value = t.take("sampler_arg")?;
        let parsed = match value {
            Value::String(_, text) => text.trim().parse::<f64>().ok(),
            Value::Num(..) => value.to_f64(),
            _ => None,
        };
        match parsed {
            Some(ratio) if (0.0..=1.0).contains(&ratio) => Some(ratio),
            _ => {
                let message = match value {
                    Value::String(..) | Value::Num(..) => {
                        format!("expected a ratio from 0 to 1, got {}", show(value))
                    }
                    other => format!("expected a number, got {}", kind(other)),
                };
                self.report("telemetry.sampler_arg", Some(value), message);
                None
            }
        }
    }
}

/// `base` with `/v1/traces` appended to its path (as `OTEL_EXPORTER_OTLP_ENDPOINT` is read).
fn with_traces_path(base: url::Url) -> url::Url {
    let mut url = base;
    let path = format!("{}/{HTTP_TRACES_PATH}", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

#[cfg(test)]
mod tests {
    use super::with_traces_path;

    #[test]
    fn traces_path_is_appended_once() {
        let url = |s: &str| {
            url::Url::parse(s)
                .map(with_traces_path)
                .map(|u| u.to_string())
        };
        assert_eq!(
            url("http://127.0.0.1:4318").ok().as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(
            url("http://collector/otlp/").ok().as_deref(),
            Some("http://collector/otlp/v1/traces")
        );
    }
}
