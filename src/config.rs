//! The validated, typed gateway configuration and the one entry point that loads it.
//!
//! Loading is two-staged: [`sources`] merges the TOML file and the environment into raw figment
//! values, then [`validate`] turns those into a [`Config`], reporting every problem at once with
//! its key path. Nothing outside this module reads raw configuration strings.

mod otel_env;
mod redact;
mod secret;
mod seed_env;
mod sources;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use redact::render_redacted;
pub use secret::{REDACTED, Secret, all_secrets, display_url, upstream_secrets};
pub use sources::{ConfigSource, EnvLookup};

/// The domain name of an upstream: `^[a-z][a-z0-9_-]{0,31}$`, the key of its `[upstreams.*]` table.
pub type DomainName = String;

/// The whole validated configuration of one gateway process.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Listener, identity and background settings.
    pub server: ServerSettings,
    /// `discover_tools(query=…)` ranking.
    pub search: SearchSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// The upstream MCP servers, keyed (and sorted) by domain name.
    pub upstreams: BTreeMap<DomainName, UpstreamConfig>,
    /// Where the file layer came from, for logs and `check` output.
    pub source: ConfigSource,
    /// Non-fatal findings (ignored fastmcp-gateway variables and the like), logged at start.
    pub warnings: Vec<String>,
}

/// The `[server]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Address to bind; a host name is resolved at bind time.
    pub host: String,
    /// TCP port to bind; 0 picks a free port (tests).
    pub port: u16,
    /// `serverInfo.name` sent to clients.
    pub name: String,
    /// Replaces the built-in LLM instructions when set.
    pub instructions: Option<String>,
    /// Period of the optional background refresh.
    pub refresh_interval: Option<Duration>,
    /// Bearer token sent to upstreams that configure no `Authorization` header of their own.
    pub registry_auth_token: Option<Secret>,
    /// `Host` header values accepted on `/mcp`; `None` derives them from `host`.
    pub allowed_hosts: Option<Vec<String>>,
    /// How long in-flight requests may take to finish on shutdown.
    pub shutdown_timeout: Duration,
    /// `Origin` values accepted on `/mcp` (a request without `Origin` is always accepted);
    /// `None` accepts origins whose host is an allowed host; `["*"]` accepts any.
    pub allowed_origins: Option<Vec<String>>,
    /// Largest `/mcp` request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// Largest request head (request line and headers); larger ones get 431.
    pub max_header_bytes: usize,
    /// Inbound authentication of `/mcp` (`/healthz` and `/readyz` stay open).
    pub auth: AuthSettings,
    /// A 2025-11-25 session with no request for this long is closed (the client starts a new
    /// one on its next request's 404).
    pub session_idle_timeout: Duration,
    /// Serve 2025-11-25 clients without sessions (no `Mcp-Session-Id`, JSON answers), so any
    /// replica can answer any request; 2026-07-28 clients are sessionless either way.
    pub stateless: bool,
    /// Default cap on an upstream tool description, in characters.
    pub max_description_chars: usize,
    /// Threads serving client connections, and workers of the main runtime; `None`:
    /// `TOKIO_WORKER_THREADS`, else one per core.
    pub worker_threads: Option<usize>,
    /// Default timeouts and limits of every upstream.
    pub limits: Limits,
}

/// Timeouts and limits of one upstream: `[server]` sets the defaults, each `[upstreams.*]` may
/// override them. All apply on reload without reconnecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest wait for a session to open.
    pub connect_timeout: Duration,
    /// Longest wait for the whole tool listing (all pages).
    pub discovery_timeout: Duration,
    /// Longest wait for a tool call; then it is cancelled upstream (`upstream_timeout`).
    pub call_timeout: Duration,
    /// Calls in flight at once; more wait up to `queue_timeout`, then get `upstream_busy`.
    pub max_concurrency: usize,
    /// Longest wait for a free call slot.
    pub queue_timeout: Duration,
    /// Largest tool result passed through; larger ones get `result_too_large`.
    pub max_result_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connect_timeout: Duration::from_secs(30),
            discovery_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(60),
            max_concurrency: 64,
            queue_timeout: Duration::from_secs(5),
            max_result_bytes: 8 * 1024 * 1024,
        }
    }
}

/// The `[server.auth]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthSettings {
    /// Accepted `Authorization: Bearer` tokens; empty means no authentication.
    pub bearer_tokens: Vec<Secret>,
}

/// The `[telemetry]` table (and the standard `OTEL_*` variables). Read once at start.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TelemetrySettings {
    /// How log lines are written.
    pub log_format: LogFormat,
    /// Where spans are exported; `None` (the default) means no tracing at all.
    pub otlp: Option<OtlpExport>,
    /// `service.name` of the exported spans; unset: `OTEL_RESOURCE_ATTRIBUTES`' or
    /// [`DEFAULT_SERVICE_NAME`].
    pub service_name: Option<String>,
    /// Which traces are recorded.
    pub sampler: TraceSampler,
}

/// `service.name` when neither `telemetry.service_name`, `OTEL_SERVICE_NAME` nor
/// `OTEL_RESOURCE_ATTRIBUTES` names the service.
pub const DEFAULT_SERVICE_NAME: &str = "mcp-gateway";

/// An OTLP trace exporter's destination.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpExport {
    /// The full URL spans are sent to (`…/v1/traces` for HTTP, the collector for gRPC).
    pub endpoint: url::Url,
    /// The wire protocol.
    pub protocol: OtlpProtocol,
    /// Extra request headers (collector credentials), kept out of logs.
    pub headers: BTreeMap<String, Secret>,
    /// How long one export may take.
    pub timeout: Duration,
}

/// `telemetry.otlp_protocol` / `OTEL_EXPORTER_OTLP_PROTOCOL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// `http/protobuf` (port 4318).
    #[default]
    HttpProtobuf,
    /// `grpc` (port 4317).
    Grpc,
}

/// `telemetry.sampler` / `OTEL_TRACES_SAMPLER` (with `sampler_arg` / `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum TraceSampler {
    /// Every trace.
    AlwaysOn,
    /// None.
    AlwaysOff,
    /// This fraction of traces, by trace id.
    TraceIdRatio(f64),
    /// Follow the caller's decision; record every trace the gateway starts (the default).
    #[default]
    ParentBasedAlwaysOn,
    /// Follow the caller's decision; record no trace the gateway starts.
    ParentBasedAlwaysOff,
    /// Follow the caller's decision; record this fraction of the traces the gateway starts.
    ParentBasedTraceIdRatio(f64),
}

/// `telemetry.log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line (journald, Loki).
    Json,
}

/// The `[search]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchSettings {
    /// Directory of a local sentence-embedding model (`config.json`, `tokenizer.json`,
    /// `model.safetensors`); when set, queries are ranked by the hybrid lexical + semantic ranker.
    /// A relative path in the file is relative to the file's directory.
    pub model_dir: Option<PathBuf>,
}

/// The files a model directory must hold.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// One `[upstreams.<domain>]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    /// Shown by `discover_tools()` and in the instructions.
    pub description: Option<String>,
    /// How to reach the upstream.
    pub transport: Transport,
    /// Which protocol era to speak to the upstream.
    pub protocol: ProtocolMode,
    /// Which tools are exposed, and under which names.
    pub curation: Curation,
    /// Longest tool description shown, in characters (longer ones are cut, marked with `…`).
    pub max_description_chars: usize,
    /// Timeouts and limits (the server defaults with this upstream's overrides).
    pub limits: Limits,
    /// Incoming request headers copied onto this upstream's request for each call (HTTP only;
    /// lower-case names).
    pub forward_headers: Vec<String>,
}

/// Headers an upstream's `headers` may not set: the MCP transport sets them.
pub const RESERVED_HEADERS: &[&str] = &[
    "accept",
    "mcp-session-id",
    "last-event-id",
    "content-type",
    "host",
];
/// Longest domain name (the `{0,31}` of `^[a-z][a-z0-9_-]{0,31}$`).
pub const MAX_DOMAIN_LEN: usize = 32;

/// Headers `forward_headers` may not name: hop-by-hop ones, `Host`, and those the MCP
/// transport sets itself.
pub const NEVER_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
];

/// Tool curation of one upstream. Patterns are globs matched against a tool's original name,
/// its exposed name and its `{domain}_{name}` form; deny wins.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Curation {
    /// When set, only tools matching one of these are exposed.
    pub allowed: Option<Vec<String>>,
    /// Tools matching any of these are never exposed.
    pub denied: Vec<String>,
    /// Original name → exposed name.
    pub aliases: BTreeMap<String, String>,
}

/// How the gateway talks to one upstream.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    /// MCP streamable HTTP.
    Http {
        /// The endpoint, e.g. `http://127.0.0.1:9001/mcp`.
        url: url::Url,
        /// Sent on every request to this upstream; values are secrets.
        headers: BTreeMap<String, Secret>,
    },
    /// A child process speaking MCP over stdin/stdout.
    Stdio {
        /// Program to run (looked up on `PATH`).
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment variables; values are secrets.
        env: BTreeMap<String, Secret>,
        /// Working directory, if not the gateway's own.
        cwd: Option<PathBuf>,
    },
}

/// The lifecycle used to open an upstream session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolMode {
    /// Probe `server/discover` (2026-07-28), fall back to `initialize` (2025-11-25).
    #[default]
    Auto,
    /// Always `initialize` (protocol 2025-11-25 and older).
    Legacy,
    /// Always the sessionless 2026-07-28 protocol.
    Modern,
}

impl ProtocolMode {
    /// The spelling used in `gateway.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolMode::Auto => "auto",
            ProtocolMode::Legacy => "2025-11-25",
            ProtocolMode::Modern => "2026-07-28",
        }
    }
}

/// One configuration problem, with the key path it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `upstreams.crm.url`, or the variable name for env-only input.
    pub path: String,
    /// What is wrong, lower-case, no trailing period.
    pub message: String,
    /// The provider the offending value came from, when known (file or variable).
    pub origin: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)?;
        if let Some(origin) = &self.origin {
            write!(f, " (from {origin})")?;
        }
        Ok(())
    }
}

/// Every problem found while loading a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// All problems, in key order; never empty.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            f,
            "invalid configuration ({count} problem{})",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl Config {
    /// Loads the configuration: `explicit` path, else `GATEWAY_CONFIG`, else `./gateway.toml` if it
    /// exists, else environment only; then `GATEWAY_*` variables on top.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with(explicit, &EnvLookup::process())
    }

    /// As [`Config::load`], reading variables through `env` (tests inject their own).
    pub fn load_with(explicit: Option<&Path>, env: &EnvLookup) -> Result<Config, ConfigError> {
        let loaded = sources::assemble(explicit, env)?;
        validate::validate(loaded)
    }

    /// The address string to bind, `host:port` (IPv6 literals bracketed).
    pub fn bind_address(&self) -> String {
        let host = &self.server.host;
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", self.server.port)
        } else {
            format!("{host}:{}", self.server.port)
        }
    }
}
