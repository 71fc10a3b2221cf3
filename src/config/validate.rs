//! Stage two of loading: raw figment values → a typed [`Config`], collecting every problem.
//!
//! serde would stop at the first bad value; users fixing a config want the whole list, each with
//! its key path and the file or variable it came from. So the raw tree is walked key by key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::value::{Dict, Value};

use super::sources::Loaded;

mod telemetry;
use super::{
    AuthSettings, Config, ConfigError, Curation, Limits, MAX_DOMAIN_LEN, MODEL_FILES,
    NEVER_FORWARDED, Problem, ProtocolMode, RESERVED_HEADERS, SearchSettings, Secret,
    ServerSettings, Transport, UpstreamConfig,
};

/// Default `server.host`.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Default `server.port`.
pub const DEFAULT_PORT: u16 = 8080;
/// Default `server.name` (`serverInfo.name`).
pub const DEFAULT_NAME: &str = "mcp-gateway";
/// Default `server.max_body_bytes` (4 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Most `server.worker_threads` accepted.
const MAX_WORKER_THREADS: usize = 1024;
/// Default `server.max_header_bytes` (64 KiB).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Smallest `server.max_header_bytes` the HTTP layer supports.
const MIN_HEADER_BYTES: usize = 8 * 1024;
/// Longest duration any setting accepts (a year): later arithmetic never overflows.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
/// Most call slots per upstream.
const MAX_CONCURRENCY: usize = 1 << 20;
/// Default `server.max_description_chars`.
pub const DEFAULT_MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Default `server.session_idle_timeout` (rmcp's own default).
pub const DEFAULT_SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default `server.shutdown_timeout`.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Validates merged raw values into a [`Config`], or returns every problem found.
pub(crate) fn validate(loaded: Loaded) -> Result<Config, ConfigError> {
    let mut walk = Walk {
        figment: &loaded.figment,
        problems: loaded.problems,
    };
    let mut root = Table::new("", &loaded.dict);
    let server = match root.take("server") {
        Some(value) => match walk.table("server", value) {
            Some(dict) => walk.server(dict),
            None => None,
        },
        None => walk.server(&Dict::new()),
    };
    let search = match root.take("search") {
        Some(value) => match walk.table("search", value) {
            Some(dict) => walk.search(dict),
            None => SearchSettings::default(),
        },
        None => SearchSettings::default(),
    };
    let telemetry = match root.take("telemetry") {
        Some(value) => match walk.table("telemetry", value) {
            Some(dict) => walk.telemetry(dict),
            None => super::TelemetrySettings::default(),
        },
        None => super::TelemetrySettings::default(),
    };
    let description_cap = server
        .as_ref()
        .map_or(DEFAULT_MAX_DESCRIPTION_CHARS, |s| s.max_description_chars);
    let base_limits = server.as_ref().map_or_else(Limits::default, |s| s.limits);
    let mut upstreams = BTreeMap::new();
    if let Some(value) = root.take("upstreams")
        && let Some(dict) = walk.table("upstreams", value)
    {
        for (domain, value) in dict {
            let path = format!("upstreams.{domain}");
            let name_ok = walk.domain_name(&path, domain, value);
            if let Some(table) = walk.table(&path, value)
                && let Some(upstream) = walk.upstream(&path, table, description_cap, base_limits)
                && name_ok
            {
                upstreams.insert(domain.clone(), upstream);
            }
        }
    }
    if let Some(server) = &server
        && !server.auth.bearer_tokens.is_empty()
    {
        for (domain, upstream) in &upstreams {
            if upstream
                .forward_headers
                .iter()
                .any(|h| h == "authorization")
            {
                walk.problems.push(Problem {
                    path: format!("upstreams.{domain}.forward_headers"),
                    message:
                        "authorization cannot be forwarded while [server.auth] is on: callers' \
                              tokens are the gateway's own"
                            .into(),
                    origin: None,
                });
            }
        }
    }
    walk.finish(root);
    let mut warnings = loaded.warnings;
    // The standard OTEL_* variables are often set for every process on a host: a value the
    // gateway does not support is ignored with a warning (the OpenTelemetry rule), not fatal.
    let (ignored, problems): (Vec<Problem>, Vec<Problem>) = std::mem::take(&mut walk.problems)
        .into_iter()
        .partition(|p| p.origin.as_deref().is_some_and(|o| o.starts_with("OTEL_")));
    walk.problems = problems;
    warnings.extend(ignored.iter().map(|p| format!("ignored: {p}")));
    if upstreams.is_empty() && walk.problems.is_empty() {
        warnings.push("no upstreams are configured: the gateway will expose no tools".into());
    }
    match server {
        Some(server) if walk.problems.is_empty() => Ok(Config {
            server,
            search,
            telemetry,
            upstreams,
            source: loaded.source,
            warnings,
        }),
        _ => {
            let mut problems = walk.problems;
            problems.sort_by(|a, b| a.path.cmp(&b.path));
            Err(ConfigError { problems })
        }
    }
}

/// The keys of one table, tracking which were read so the rest can be reported as unknown.
struct Table<'a> {
    path: String,
    dict: &'a Dict,
    known: BTreeSet<&'static str>,
}

impl<'a> Table<'a> {
    fn new(path: &str, dict: &'a Dict) -> Table<'a> {
        Table {
            path: path.to_string(),
            dict,
            known: BTreeSet::new(),
        }
    }

    fn take(&mut self, key: &'static str) -> Option<&'a Value> {
        self.known.insert(key);
        self.dict.get(key)
    }

    fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }
}

/// Collects problems while reading values.
struct Walk<'f> {
    figment: &'f Figment,
    problems: Vec<Problem>,
}

impl Walk<'_> {
    fn origin(&self, value: &Value) -> Option<String> {
        let metadata = self.figment.get_metadata(value.tag())?;
        Some(match &metadata.source {
            Some(figment::Source::File(path)) => path.display().to_string(),
            _ => metadata.name.to_string(),
        })
    }

    fn report(&mut self, path: &str, value: Option<&Value>, message: impl Into<String>) {
        let origin = value.and_then(|v| self.origin(v));
        self.problems.push(Problem {
            path: path.to_string(),
            message: message.into(),
            origin,
        });
    }

    /// Reports every key of `table` that was never taken.
    fn finish(&mut self, table: Table<'_>) {
        for (key, value) in table.dict {
            if !table.known.contains(key.as_str()) {
                let expected = table.known.iter().copied().collect::<Vec<_>>().join(", ");
                let path = table.key_path(key);
                self.report(
                    &path,
                    Some(value),
                    format!("unknown key (expected one of: {expected})"),
                );
            }
        }
    }

    fn table<'v>(&mut self, path: &str, value: &'v Value) -> Option<&'v Dict> {
        match value {
            Value::Dict(_, dict) => Some(dict),
            other => {
                self.report(
                    path,
                    Some(other),
                    format!("expected a table, got {}", kind(other)),
                );
                None
            }
        }
    }

    fn string(&mut self, table: &mut Table<'_>, key: &'static str) -> Option<String> {
        let value = table.take(key)?;
        let path = table.key_path(key);
        match value {
            Value::String(_, s) => Some(s.clone()),
            Value::Char(_, c) => Some(c.to_string()),
            other => {
                self.report(
                    &path,
                    Some(other),
                    format!("expected a string, got {}", kind(other)),
                );
                None
            }
        }
    }

    fn non_empty(&mut self, table: &mut Table<'_>, key: &'static str) -> Option<String> {
        let value = self.string(table, key)?;
        if value.trim().is_empty() {
            let path = table.key_path(key);
            let raw = table.dict.get(key);
            self.report(&path, raw, "must not be empty");
            return None;
        }
        Some(value)
    }

    /// A table of string values; numbers and booleans are accepted and written as text.
    fn string_map(&mut self, table: &mut Table<'_>, key: &'static str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(value) = table.take(key) else {
            return out;
        };
        let path = table.key_path(key);
        let Some(dict) = self.table(&path, value) else {
            return out;
        };
        for (name, value) in dict {
            match scalar_text(value) {
                Some(text) => {
                    out.insert(name.clone(), text);
                }
                None => self.report(
                    &format!("{path}.{name}"),
                    Some(value),
                    format!("expected a string, got {}", kind(value)),
                ),
            }
        }
        out
    }

    fn string_list(&mut self, table: &mut Table<'_>, key: &'static str) -> Vec<String> {
        let Some(value) = table.take(key) else {
            return Vec::new();
        };
        let path = table.key_path(key);
        let Value::Array(_, items) = value else {
            self.report(
                &path,
                Some(value),
                format!("expected an array of strings, got {}", kind(value)),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match scalar_text(item) {
                Some(text) => out.push(text),
                None => self.report(
                    &format!("{path}[{index}]"),
                    Some(item),
                    format!("expected a string, got {}", kind(item)),
                ),
            }
        }
        out
    }

    fn server(&mut self, dict: &Dict) -> Option<ServerSettings> {
        let mut t = Table::new("server", dict);
        let before = self.problems.len();
        let host = self
            .non_empty(&mut t, "host")
            .unwrap_or_else(|| DEFAULT_HOST.into());
        let port = self.port(&mut t);
        let name = self
            .non_empty(&mut t, "name")
            .unwrap_or_else(|| DEFAULT_NAME.into());
        let instructions = self
            .string(&mut t, "instructions")
            .filter(|s| !s.trim().is_empty());
        let refresh_interval = self.duration(&mut t, "refresh_interval");
        let registry_auth_token = self
            .non_empty(&mut t, "registry_auth_token")
            .map(Secret::new);
        let allowed_hosts = if t.dict.contains_key("allowed_hosts") {
            let hosts = self.string_list(&mut t, "allowed_hosts");
            if hosts.is_empty() {
                // rmcp treats an empty list as "allow every host": never let it fail open.
                let raw = t.dict.get("allowed_hosts");
                self.report(
                    "server.allowed_hosts",
                    raw,
                    "must list at least one host (remove the key to use the default)",
                );
            }
            Some(hosts)
        } else {
            t.take("allowed_hosts");
            None
        };
        let shutdown_timeout = self
            .duration(&mut t, "shutdown_timeout")
            .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT);
        let allowed_origins = if t.dict.contains_key("allowed_origins") {
            let origins = self.string_list(&mut t, "allowed_origins");
            if origins.is_empty() {
                let raw = t.dict.get("allowed_origins");
                self.report(
                    "server.allowed_origins",
                    raw,
                    "must list at least one origin (remove the key to use the default)",
                );
            }
            Some(origins)
        } else {
            t.take("allowed_origins");
            None
        };
        let max_body_bytes = self
            .size(&mut t, "max_body_bytes", 1)
            .unwrap_or(DEFAULT_MAX_BODY_BYTES);
        let max_header_bytes = self
            .size(&mut t, "max_header_bytes", MIN_HEADER_BYTES)
            .unwrap_or(DEFAULT_MAX_HEADER_BYTES);
        let max_description_chars = self
            .size(&mut t, "max_description_chars", 1)
            .unwrap_or(DEFAULT_MAX_DESCRIPTION_CHARS);
        let worker_threads = self.threads(&mut t, "worker_threads");
        let limits = self.limits(&mut t, Limits::default());
        let stateless = self.boolean(&mut t, "stateless").unwrap_or(false);
        let session_idle_timeout = self
            .duration(&mut t, "session_idle_timeout")
            .unwrap_or(DEFAULT_SESSION_IDLE_TIMEOUT);
        let auth = match t.take("auth") {
            Some(value) => match self.table("server.auth", value) {
                Some(dict) => self.auth(dict),
                None => AuthSettings::default(),
            },
            None => AuthSettings::default(),
        };
        self.finish(t);
        (self.problems.len() == before).then_some(ServerSettings {
            host,
            port,
            name,
            instructions,
            refresh_interval,
            registry_auth_token,
            allowed_hosts,
            shutdown_timeout,
            allowed_origins,
            max_body_bytes,
            max_header_bytes,
            auth,
            session_idle_timeout,
            stateless,
            max_description_chars,
            worker_threads,
            limits,
        })
    }

    /// `forward_headers`: valid header names, lower-cased, none the transport owns.
    fn forward_headers(&mut self, t: &mut Table<'_>) -> Vec<String> {
        let raw = t.dict.get("forward_headers");
        let path = t.key_path("forward_headers");
        let names = self.string_list(t, "forward_headers");
        let mut out = Vec::new();
        for (index, name) in names.into_iter().enumerate() {
            let lower = name.trim().to_ascii_lowercase();
            let problem = if http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
                Some(format!("{name:?} is not a valid header name"))
            } else if NEVER_FORWARDED.contains(&lower.as_str()) {
                Some(format!(
                    "{lower} is never forwarded (hop-by-hop, Host, or set by the MCP transport)"
                ))
            } else {
                None
            };
            match problem {
                Some(message) => self.report(&format!("{path}[{index}]"), raw, message),
                None if !out.contains(&lower) => out.push(lower),
                None => {}
            }
        }
        out
    }

    fn auth(&mut self, dict: &Dict) -> AuthSettings {
        let mut t = Table::new("server.auth", dict);
        let raw = t.dict.get("bearer_tokens");
        let tokens = self.string_list(&mut t, "bearer_tokens");
        if tokens.iter().any(|token| token.trim().is_empty()) {
            self.report("server.auth.bearer_tokens", raw, "tokens must not be empty");
        } else if raw.is_some_and(|v| matches!(v, Value::Array(_, items) if items.is_empty())) {
            self.report(
                "server.auth.bearer_tokens",
                raw,
                "must list at least one token (remove the key to turn authentication off)",
            );
        }
        self.finish(t);
        AuthSettings {
            bearer_tokens: tokens.into_iter().map(Secret::new).collect(),
        }
    }

    /// A byte count: a positive integer, at least `min`.
    /// A boolean (`true`/`false`; from the environment also `1`/`0`, `yes`/`no`).
    fn boolean(&mut self, t: &mut Table<'_>, key: &'static str) -> Option<bool> {
        let value = t.take(key)?;
        let parsed = match value {
            Value::Bool(_, b) => Some(*b),
            _ => scalar_text(value).and_then(|text| match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Some(true),
                "false" | "0" | "no" | "off" => Some(false),
                _ => None,
            }),
        };
        if parsed.is_none() {
            let path = t.key_path(key);
            self.report(
                &path,
                Some(value),
                format!("expected true or false, got {}", show(value)),
            );
        }
        parsed
    }

    fn size(&mut self, t: &mut Table<'_>, key: &'static str, min: usize) -> Option<usize> {
        let value = t.take(key)?;
        let path = t.key_path(key);
        match integer(value).and_then(|n| usize::try_from(n).ok()) {
            Some(n) if n >= min => Some(n),
            _ => {
                self.report(
                    &path,
                    Some(value),
                    format!(
                        "expected a number of bytes of at least {min}, got {}",
                        show(value)
                    ),
                );
                None
            }
        }
    }

    /// A thread count from 1 to [`MAX_WORKER_THREADS`].
    fn threads(&mut self, t: &mut Table<'_>, key: &'static str) -> Option<usize> {
        let value = t.take(key)?;
        let path = t.key_path(key);
        match integer(value).and_then(|n| usize::try_from(n).ok()) {
            Some(n @ 1..=MAX_WORKER_THREADS) => Some(n),
            _ => {
                self.report(
                    &path,
                    Some(value),
                    format!(
                        "expected a whole number of threads from 1 to {MAX_WORKER_THREADS}, got {}",
                        show(value)
                    ),
                );
                None
            }
        }
    }

    fn search(&mut self, dict: &Dict) -> SearchSettings {
        let mut t = Table::new("search", dict);
        let raw = t.dict.get("model_dir");
        let model_dir = self.non_empty(&mut t, "model_dir").map(|dir| {
            let dir = PathBuf::from(dir);
            // Relative to the file that says it, so the service's working directory is moot.
            match raw.and_then(|v| self.figment.get_metadata(v.tag())) {
                Some(figment::Metadata {
                    source: Some(figment::Source::File(file)),
                    ..
                }) if dir.is_relative() => file.parent().map_or(dir.clone(), |p| p.join(&dir)),
                _ => dir,
            }
        });
        if let Some(dir) = &model_dir {
            if !cfg!(feature = "semantic") {
                self.report(
                    "search.model_dir",
                    raw,
                    "this build has no semantic ranker (rebuild with `--features semantic`, or remove the key)",
                );
            } else {
                let missing: Vec<&str> = MODEL_FILES
                    .into_iter()
                    .filter(|file| !dir.join(file).is_file())
                    .collect();
                if !missing.is_empty() {
                    self.report(
                        "search.model_dir",
                        raw,
                        format!(
                            "{} lacks {} (scripts/fetch-model installs the default model)",
                            dir.display(),
                            missing.join(", ")
                        ),
                    );
                }
            }
        }
        self.finish(t);
        SearchSettings { model_dir }
    }

    fn port(&mut self, t: &mut Table<'_>) -> u16 {
        let Some(value) = t.take("port") else {
            return DEFAULT_PORT;
        };
        match integer(value).and_then(|n| u16::try_from(n).ok()) {
            Some(port) => port,
            None => {
                self.report(
                    "server.port",
                    Some(value),
                    format!("expected a port number 0-65535, got {}", show(value)),
                );
                DEFAULT_PORT
            }
        }
    }

    /// `"5m"`, `"90s"` (humantime) or a number of seconds (as fastmcp-gateway's variable).
    fn duration(&mut self, t: &mut Table<'_>, key: &'static str) -> Option<Duration> {
        let value = t.take(key)?;
        let path = t.key_path(key);
        let parsed = match value {
            Value::String(_, text) => humantime::parse_duration(text.trim())
                .map_err(|e| format!("expected a duration such as \"30s\" or \"5m\": {e}")),
            Value::Num(..) => match value.to_f64() {
                Some(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => {
                    Ok(Duration::from_secs_f64(secs))
                }
                _ => Err(format!(
                    "expected a positive number of seconds, got {}",
                    show(value)
                )),
            },
            other => Err(format!("expected a duration, got {}", kind(other))),
        };
        match parsed {
            Ok(duration) if duration > MAX_DURATION => {
                self.report(
                    &path,
                    Some(value),
                    format!("must be at most {} days", MAX_DURATION.as_secs() / 86_400),
                );
                None
            }
            Ok(duration) if duration.is_zero() => {
                self.report(&path, Some(value), "must be longer than zero");
                None
            }
            Ok(duration) => Some(duration),
            Err(message) => {
                self.report(&path, Some(value), message);
                None
            }
        }
    }

    fn domain_name(&mut self, path: &str, domain: &str, value: &Value) -> bool {
        let mut chars = domain.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        let ok = first_ok && rest_ok && domain.len() <= MAX_DOMAIN_LEN;
        if !ok {
            self.report(
                path,
                Some(value),
                "invalid domain name: use 1-32 characters a-z, 0-9, '_' or '-', starting with a letter",
            );
        }
        ok
    }

    fn upstream(
        &mut self,
        path: &str,
        dict: &Dict,
        description_cap: usize,
        base_limits: Limits,
    ) -> Option<UpstreamConfig> {
        let mut t = Table::new(path, dict);
        let before = self.problems.len();
        let description = self
            .string(&mut t, "description")
            .filter(|s| !s.trim().is_empty());
        let protocol = self.protocol(&mut t);
        let url = self.non_empty(&mut t, "url");
        let command = self.non_empty(&mut t, "command");
        let headers = self.headers(&mut t);
        let has = |key: &str| dict.contains_key(key);
        let args = self.string_list(&mut t, "args");
        let env = self.string_map(&mut t, "env");
        let cwd = self.non_empty(&mut t, "cwd").map(PathBuf::from);
        let curation = self.curation(&mut t);
        let max_description_chars = self
            .size(&mut t, "max_description_chars", 1)
            .unwrap_or(description_cap);
        let limits = self.limits(&mut t, base_limits);
        let forward_headers = self.forward_headers(&mut t);
        self.finish(t);
        let transport = match (url, command) {
            (Some(url), None) => {
                for key in ["args", "env", "cwd"] {
                    if has(key) {
                        self.report(
                            &format!("{path}.{key}"),
                            dict.get(key),
                            "only applies to stdio upstreams (command), not url",
                        );
                    }
                }
                self.url(&format!("{path}.url"), dict.get("url"), &url)
                    .map(|url| Transport::Http { url, headers })
            }
            (None, Some(command)) => {
                if has("forward_headers") {
                    self.report(
                        &format!("{path}.forward_headers"),
                        dict.get("forward_headers"),
                        "only applies to HTTP upstreams (url): stdio has no headers",
                    );
                }
                if has("headers") {
                    self.report(
                        &format!("{path}.headers"),
                        dict.get("headers"),
                        "only applies to HTTP upstreams (url), use env for stdio",
                    );
                }
                Some(Transport::Stdio {
                    command,
                    args,
                    env: env.into_iter().map(|(k, v)| (k, Secret::new(v))).collect(),
                    cwd,
                })
            }
            (Some(_), Some(_)) => {
                self.report(
                    path,
                    dict.get("url"),
                    "set exactly one of url or command, not both",
                );
                None
            }
            (None, None) => {
                if !has("url") && !has("command") {
                    self.report(
                        path,
                        None,
                        "missing url (HTTP upstream) or command (stdio upstream)",
                    );
                }
                None
            }
        };
        let transport = transport?;
        (self.problems.len() == before).then_some(UpstreamConfig {
            description,
            transport,
            protocol,
            curation,
            max_description_chars,
            limits,
            forward_headers,
        })
    }

    /// The timeout and limit keys of a `[server]` or `[upstreams.*]` table over `base`.
    fn limits(&mut self, t: &mut Table<'_>, base: Limits) -> Limits {
        Limits {
            connect_timeout: self
                .duration(t, "connect_timeout")
                .unwrap_or(base.connect_timeout),
            discovery_timeout: self
                .duration(t, "discovery_timeout")
                .unwrap_or(base.discovery_timeout),
            call_timeout: self
                .duration(t, "call_timeout")
                .unwrap_or(base.call_timeout),
            max_concurrency: self
                .size(t, "max_concurrency", 1)
                .map(|n| n.min(MAX_CONCURRENCY))
                .unwrap_or(base.max_concurrency),
            queue_timeout: self
                .duration(t, "queue_timeout")
                .unwrap_or(base.queue_timeout),
            max_result_bytes: self
                .size(t, "max_result_bytes", 1)
                .unwrap_or(base.max_result_bytes),
        }
    }

    /// `allowed_tools` / `denied_tools` globs and `tool_aliases`.
    fn curation(&mut self, t: &mut Table<'_>) -> Curation {
        let allowed = if t.dict.contains_key("allowed_tools") {
            Some(self.globs(t, "allowed_tools"))
        } else {
            t.take("allowed_tools");
            None
        };
        let denied = self.globs(t, "denied_tools");
        let path = t.key_path("tool_aliases");
        let aliases = self.string_map(t, "tool_aliases");
        for (original, alias) in &aliases {
            if crate::registry::names::expose(alias).as_deref() != Ok(alias.as_str()) {
                self.report(
                    &format!("{path}.{original}"),
                    None,
                    format!("alias {alias:?} must match ^[A-Za-z0-9_-]{{1,64}}$"),
                );
            }
        }
        Curation {
            allowed,
            denied,
            aliases,
        }
    }

    fn globs(&mut self, t: &mut Table<'_>, key: &'static str) -> Vec<String> {
        let path = t.key_path(key);
        let patterns = self.string_list(t, key);
        for (index, pattern) in patterns.iter().enumerate() {
            if let Err(error) = globset::Glob::new(pattern) {
                self.report(
                    &format!("{path}[{index}]"),
                    None,
                    format!("invalid glob: {error}"),
                );
            }
        }
        patterns
    }

    fn url(&mut self, path: &str, raw: Option<&Value>, text: &str) -> Option<url::Url> {
        match url::Url::parse(text.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(url)
            }
            Ok(url) => {
                self.report(
                    path,
                    raw,
                    format!(
                        "unsupported URL scheme {:?}: use http or https",
                        url.scheme()
                    ),
                );
                None
            }
            Err(error) => {
                self.report(path, raw, error.to_string());
                None
            }
        }
    }

    fn headers(&mut self, t: &mut Table<'_>) -> BTreeMap<String, Secret> {
        let path = t.key_path("headers");
        let raw = self.string_map(t, "headers");
        let mut headers = BTreeMap::new();
        for (name, value) in raw {
            let key_path = format!("{path}.{name}");
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.report(&key_path, None, "invalid HTTP header name");
                continue;
            }
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                self.report(
                    &key_path,
                    None,
                    "this header is managed by the MCP transport and cannot be set",
                );
                continue;
            }
            if http::HeaderValue::from_str(&value).is_err() {
                self.report(
                    &key_path,
                    None,
                    "invalid HTTP header value (control characters or non-ASCII)",
                );
                continue;
            }
            // Header names are case-insensitive: one spelling, so file and env layers merge.
            headers.insert(name.to_ascii_lowercase(), Secret::new(value));
        }
        headers
    }

    fn protocol(&mut self, t: &mut Table<'_>) -> ProtocolMode {
        let path = t.key_path("protocol");
        let raw = t.dict.get("protocol");
        match self.string(t, "protocol").as_deref() {
            None | Some("auto") => ProtocolMode::Auto,
            Some("2025-11-25" | "legacy") => ProtocolMode::Legacy,
            Some("2026-07-28" | "modern") => ProtocolMode::Modern,
            Some(other) => {
                self.report(
                    &path,
                    raw,
                    format!(
                        "unknown protocol {other:?}: use \"auto\", \"2025-11-25\" or \"2026-07-28\""
                    ),
                );
                ProtocolMode::Auto
            }
        }
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(_, s) => Some(s.clone()),
        Value::Char(_, c) => Some(c.to_string()),
        Value::Bool(_, b) => Some(b.to_string()),
        Value::Num(..) => integer(value)
            .map(|n| n.to_string())
            .or_else(|| value.to_f64().map(|f| f.to_string())),
        _ => None,
    }
}

/// An integer of any width or signedness (TOML gives i64, env values the smallest unsigned type).
fn integer(value: &Value) -> Option<i128> {
    value
        .to_i128()
        .or_else(|| value.to_u128().and_then(|n| i128::try_from(n).ok()))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(..) | Value::Char(..) => "a string",
        Value::Bool(..) => "a boolean",
        Value::Num(..) => "a number",
        Value::Empty(..) => "nothing",
        Value::Dict(..) => "a table",
        Value::Array(..) => "an array",
    }
}

fn show(value: &Value) -> String {
    scalar_text(value).map_or_else(|| kind(value).to_string(), |text| format!("{text:?}"))
}
