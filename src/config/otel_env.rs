//! The standard OpenTelemetry variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`,
//! `OTEL_TRACES_SAMPLER`, …) mapped onto `[telemetry]` keys, one figment layer per variable, so a
//! bad value is reported under the variable's name. They override the file; `GATEWAY_TELEMETRY__*`
//! overrides them.

use figment::value::{Dict, Value};

use super::sources::{EnvLookup, VarLayer};

/// Variables copied as text onto one `[telemetry]` key each; signal-specific ones come later so
/// they win over the generic ones.
const TEXT_VARS: &[(&str, &str)] = &[
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "otlp_endpoint"),
    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "otlp_traces_endpoint"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "otlp_protocol"),
    ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "otlp_protocol"),
    ("OTEL_SERVICE_NAME", "service_name"),
    ("OTEL_TRACES_SAMPLER", "sampler"),
    ("OTEL_TRACES_SAMPLER_ARG", "sampler_arg"),
];

/// Header lists (`key=value,key2=value2`, values percent-encoded).
const HEADER_VARS: &[&str] = &[
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
];

/// Timeouts in milliseconds.
const TIMEOUT_VARS: &[&str] = &[
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
];

/// One layer per `OTEL_*` variable that is set and not empty.
pub(crate) fn layers(env: &EnvLookup) -> Vec<VarLayer> {
    let mut layers = Vec::new();
    let mut push = |var: &str, key: &str, value: Value| {
        if let Some(dict) = figment::util::nest(&format!("telemetry.{key}"), value).into_dict() {
            layers.push(VarLayer {
                name: var.to_string(),
                dict,
            });
        }
    };
    let set = |var: &str| env.get(var).map(str::trim).filter(|v| !v.is_empty());
    for &(var, key) in TEXT_VARS {
        if let Some(raw) = set(var) {
            push(var, key, Value::from(raw.to_string()));
        }
    }
    if let Some(raw) = set("OTEL_TRACES_EXPORTER") {
        // A list (`otlp,console`): OTLP is the one exporter this gateway has.
        let names: Vec<&str> = raw.split(',').map(str::trim).collect();
        let value = if names.contains(&"otlp") {
            "otlp"
        } else if names.contains(&"none") {
            "none"
        } else {
            raw
        };
        push(
            "OTEL_TRACES_EXPORTER",
            "traces_exporter",
            Value::from(value),
        );
    }
    for &var in HEADER_VARS {
        if let Some(raw) = set(var) {
            push(var, "otlp_headers", Value::from(header_dict(raw)));
        }
    }
    for &var in TIMEOUT_VARS {
        if let Some(raw) = set(var) {
            // Milliseconds by the specification; anything else is passed on to be reported.
            let text = match raw.parse::<u64>() {
                Ok(ms) => format!("{ms}ms"),
                Err(_) => raw.to_string(),
            };
            push(var, "otlp_timeout", Value::from(text));
        }
    }
    if set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        push("OTEL_SDK_DISABLED", "traces_exporter", Value::from("none"));
    }
    layers
}

/// `a=1,b=x%20y` → `{a: "1", b: "x y"}`; entries without `=` are skipped, as the SDKs do.
fn header_dict(raw: &str) -> Dict {
    raw.split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| {
            let value = percent_encoding::percent_decode_str(value.trim()).decode_utf8_lossy();
            (name.trim().to_string(), Value::from(value.into_owned()))
        })
        .filter(|(name, _)| !name.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::header_dict;

    #[test]
    fn header_values_are_percent_decoded() {
        let dict = header_dict("api-key=a%20b, x-tenant = t1 ,broken");
        assert_eq!(dict.len(), 2);
        assert_eq!(dict.get("api-key").and_then(|v| v.as_str()), Some("a b"));
        assert_eq!(dict.get("x-tenant").and_then(|v| v.as_str()), Some("t1"));
    }
}
