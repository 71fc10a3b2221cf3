//! Renders the effective configuration as TOML for `mcp-gateway check`, with every secret
//! (header values, tokens, stdio env values) replaced by a placeholder.

use toml::{Table, Value};

use super::secret::REDACTED;
use super::{Config, Limits, Transport};

/// The effective configuration as TOML, secrets redacted.
pub fn render_redacted(config: &Config) -> String {
    let mut root = Table::new();
    let s = &config.server;
    let mut server = Table::new();
    server.insert("host".into(), s.host.clone().into());
    server.insert("port".into(), i64::from(s.port).into());
    server.insert("name".into(), s.name.clone().into());
    if let Some(instructions) = &s.instructions {
        server.insert("instructions".into(), instructions.clone().into());
    }
    if let Some(interval) = s.refresh_interval {
        server.insert(
            "refresh_interval".into(),
            humantime::format_duration(interval).to_string().into(),
        );
    }
    if s.registry_auth_token.is_some() {
        server.insert("registry_auth_token".into(), REDACTED.into());
    }
    server.insert(
        "shutdown_timeout".into(),
        humantime::format_duration(s.shutdown_timeout)
            .to_string()
            .into(),
    );
    if let Some(hosts) = &s.allowed_hosts {
        server.insert("allowed_hosts".into(), strings(hosts.iter()));
    }
    if let Some(origins) = &s.allowed_origins {
        server.insert("allowed_origins".into(), strings(origins.iter()));
    }
    server.insert("max_body_bytes".into(), (s.max_body_bytes as i64).into());
    server.insert(
        "max_header_bytes".into(),
        (s.max_header_bytes as i64).into(),
    );
    server.insert(
        "session_idle_timeout".into(),
        humantime::format_duration(s.session_idle_timeout)
            .to_string()
            .into(),
    );
    if s.stateless {
        server.insert("stateless".into(), true.into());
    }
    server.insert(
        "max_description_chars".into(),
        (s.max_description_chars as i64).into(),
    );
    if let Some(threads) = s.worker_threads {
        server.insert("worker_threads".into(), (threads as i64).into());
    }
    insert_limits(&mut server, &s.limits, None);
    if !s.auth.bearer_tokens.is_empty() {
        let mut auth = Table::new();
        auth.insert(
            "bearer_tokens".into(),
            Value::Array(vec![REDACTED.into(); s.auth.bearer_tokens.len()]),
        );
        server.insert("auth".into(), auth.into());
    }
    root.insert("server".into(), server.into());
    let telemetry = render_telemetry(&config.telemetry);
    if !telemetry.is_empty() {
        root.insert("telemetry".into(), telemetry.into());
    }
    if let Some(dir) = &config.search.model_dir {
        let mut search = Table::new();
        search.insert("model_dir".into(), dir.display().to_string().into());
        root.insert("search".into(), search.into());
    }

    let mut upstreams = Table::new();
    for (domain, upstream) in &config.upstreams {
        let mut t = Table::new();
        match &upstream.transport {
            Transport::Http { url, headers } => {
                t.insert("url".into(), super::display_url(url).into());
                if !headers.is_empty() {
                    t.insert("headers".into(), redacted_map(headers.keys()));
                }
            }
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                t.insert("command".into(), command.clone().into());
                if !args.is_empty() {
                    t.insert("args".into(), strings(args.iter()));
                }
                if !env.is_empty() {
                    t.insert("env".into(), redacted_map(env.keys()));
                }
                if let Some(cwd) = cwd {
                    t.insert("cwd".into(), cwd.display().to_string().into());
                }
            }
        }
        if let Some(description) = &upstream.description {
            t.insert("description".into(), description.clone().into());
        }
        t.insert("protocol".into(), upstream.protocol.as_str().into());
        insert_limits(&mut t, &upstream.limits, Some(&s.limits));
        if !upstream.forward_headers.is_empty() {
            t.insert(
                "forward_headers".into(),
                strings(upstream.forward_headers.iter()),
            );
        }
        if upstream.max_description_chars != s.max_description_chars {
            t.insert(
                "max_description_chars".into(),
                (upstream.max_description_chars as i64).into(),
            );
        }
        let curation = &upstream.curation;
        if let Some(allowed) = &curation.allowed {
            t.insert("allowed_tools".into(), strings(allowed.iter()));
        }
        if !curation.denied.is_empty() {
            t.insert("denied_tools".into(), strings(curation.denied.iter()));
        }
        if !curation.aliases.is_empty() {
            let aliases = curation
                .aliases
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone())));
            t.insert("tool_aliases".into(), Value::Table(aliases.collect()));
        }
        upstreams.insert(domain.clone(), t.into());
    }
    root.insert("upstreams".into(), upstreams.into());
    toml::to_string_pretty(&root).unwrap_or_else(|e| format!("# could not render config: {e}\n"))
}

fn strings<'a>(items: impl Iterator<Item = &'a String>) -> Value {
    Value::Array(items.map(|s| Value::from(s.clone())).collect())
}

/// The `[telemetry]` keys that differ from the defaults.
fn render_telemetry(t: &super::TelemetrySettings) -> Table {
    use super::{OtlpProtocol, TraceSampler};
    let mut table = Table::new();
    if t.log_format == super::LogFormat::Json {
        table.insert("log_format".into(), "json".into());
    }
    if let Some(otlp) = &t.otlp {
        // The resolved URL spans go to (a base `otlp_endpoint` has its path added already).
        table.insert(
            "otlp_traces_endpoint".into(),
            super::display_url(&otlp.endpoint).into(),
        );
        let protocol = match otlp.protocol {
            OtlpProtocol::HttpProtobuf => "http/protobuf",
            OtlpProtocol::Grpc => "grpc",
        };
        table.insert("otlp_protocol".into(), protocol.into());
        table.insert(
            "otlp_timeout".into(),
            humantime::format_duration(otlp.timeout).to_string().into(),
        );
        if !otlp.headers.is_empty() {
            table.insert("otlp_headers".into(), redacted_map(otlp.headers.keys()));
        }
    }
    if let Some(name) = &t.service_name {
        table.insert("service_name".into(), name.clone().into());
    }
    if t.sampler != TraceSampler::default() {
        let (name, arg) = match t.sampler {
            TraceSampler::AlwaysOn => ("always_on", None),
            TraceSampler::AlwaysOff => ("always_off", None),
            TraceSampler::TraceIdRatio(r) => ("traceidratio", Some(r)),
            TraceSampler::ParentBasedAlwaysOn => ("parentbased_always_on", None),
            TraceSampler::ParentBasedAlwaysOff => ("parentbased_always_off", None),
            TraceSampler::ParentBasedTraceIdRatio(r) => ("parentbased_traceidratio", Some(r)),
        };
        table.insert("sampler".into(), name.into());
        if let Some(arg) = arg {
            table.insert("sampler_arg".into(), arg.into());
        }
    }
    table
}

fn redacted_map<'a>(keys: impl Iterator<Item = &'a String>) -> Value {
    Value::Table(keys.map(|k| (k.clone(), Value::from(REDACTED))).collect())
}

/// Writes the limits that differ from `base` (all of them without a base).
fn insert_limits(table: &mut Table, limits: &Limits, base: Option<&Limits>) {
    let duration = |d: std::time::Duration| Value::from(humantime::format_duration(d).to_string());
    let fields = [
        (
            "connect_timeout",
            duration(limits.connect_timeout),
            base.map(|b| b.connect_timeout != limits.connect_timeout),
        ),
        (
            "discovery_timeout",
            duration(limits.discovery_timeout),
            base.map(|b| b.discovery_timeout != limits.discovery_timeout),
        ),
        (
            "call_timeout",
            duration(limits.call_timeout),
            base.map(|b| b.call_timeout != limits.call_timeout),
        ),
        (
            "max_concurrency",
            Value::from(limits.max_concurrency as i64),
            base.map(|b| b.max_concurrency != limits.max_concurrency),
        ),
        (
            "queue_timeout",
            duration(limits.queue_timeout),
            base.map(|b| b.queue_timeout != limits.queue_timeout),
        ),
        (
            "max_result_bytes",
            Value::from(limits.max_result_bytes as i64),
            base.map(|b| b.max_result_bytes != limits.max_result_bytes),
        ),
    ];
    for (key, value, differs) in fields {
        if differs.unwrap_or(true) {
            table.insert(key.into(), value);
        }
    }
}
