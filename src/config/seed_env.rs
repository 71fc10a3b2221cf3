//! The environment variables of fastmcp-gateway (the system this one replaces), kept working so
//! that its users can switch without rewriting their deployment.
//!
//! Each variable becomes one figment layer named after it. Malformed JSON is reported as a
//! problem of that variable; variables that only made sense in fastmcp-gateway produce warnings.

use figment::value::Value;
use serde_json::Value as Json;

use super::Problem;
use super::sources::{CONFIG_VAR, EnvLookup, PREFIX, VarLayer};

/// Variables mapped onto one `[server]` key each, with whether the raw text is parsed as a value
/// (numbers) or kept as a string (free text that may look like a number).
const SERVER_VARS: &[(&str, &str, bool)] = &[
    ("GATEWAY_NAME", "name", false),
    ("GATEWAY_HOST", "host", false),
    ("GATEWAY_PORT", "port", true),
    ("GATEWAY_INSTRUCTIONS", "instructions", false),
    ("GATEWAY_REGISTRY_AUTH_TOKEN", "registry_auth_token", false),
    ("GATEWAY_REFRESH_INTERVAL", "refresh_interval", true),
];

/// Inbound bearer tokens, comma-separated (`server.auth.bearer_tokens`).
const AUTH_TOKENS_VAR: &str = "GATEWAY_AUTH_TOKENS";

/// Variables that shape upstream tables, handled one by one below.
const UPSTREAM_VARS: &[&str] = &[
    "GATEWAY_UPSTREAMS",
    "GATEWAY_DOMAIN_DESCRIPTIONS",
    "GATEWAY_UPSTREAM_HEADERS",
];

/// fastmcp-gateway variables that have no meaning here, with why.
const IGNORED_VARS: &[(&str, &str)] = &[
    (
        "GATEWAY_MAX_SCHEMA_DEPTH",
        "mcp-gateway never drops tools for schema depth",
    ),
    (
        "GATEWAY_UPSTREAM_CLIENT_MODE",
        "the protocol era is chosen per upstream with upstreams.<domain>.protocol (default auto)",
    ),
    (
        "GATEWAY_TRACE_HEALTH_ROUTES",
        "health routes are not traced",
    ),
];

/// A per-domain value (description, headers): applied only to domains that exist, as
/// fastmcp-gateway ignored values for domains it did not serve.
pub(crate) struct PerDomain {
    /// The variable it came from.
    pub var: String,
    /// The domain it names.
    pub domain: String,
    /// `description` or `headers`.
    pub key: String,
    /// `{key: value}`, ready to nest under `upstreams.<domain>`.
    pub value: Value,
}

/// What the fastmcp-gateway variables contribute.
pub(crate) struct SeedEnv {
    /// One layer per variable that is set and well-formed.
    pub layers: Vec<VarLayer>,
    /// Per-domain values, applied once the set of domains is known.
    pub per_domain: Vec<PerDomain>,
    /// Malformed values.
    pub problems: Vec<Problem>,
    /// Variables that are ignored, and why.
    pub warnings: Vec<String>,
}

/// Reads every fastmcp-gateway variable from `env`.
pub(crate) fn read(env: &EnvLookup) -> SeedEnv {
    let mut seed = SeedEnv {
        layers: Vec::new(),
        per_domain: Vec::new(),
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    for &(var, key, parse) in SERVER_VARS {
        if let Some(raw) = env.get(var) {
            let value = if parse {
                raw.parse().unwrap_or_else(|_| Value::from(raw.to_string()))
            } else {
                Value::from(raw.to_string())
            };
            seed.push(var, &format!("server.{key}"), value);
        }
    }
    if let Some(raw) = env.get(AUTH_TOKENS_VAR) {
        let tokens: Vec<Value> = raw
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(Value::from)
            .collect();
        seed.push(
            AUTH_TOKENS_VAR,
            "server.auth.bearer_tokens",
            Value::from(tokens),
        );
    }
    if let Some(raw) = env.get("GATEWAY_UPSTREAMS") {
        seed.upstreams(raw);
    }
    if let Some(raw) = env.get("GATEWAY_DOMAIN_DESCRIPTIONS") {
        seed.per_domain(
            "GATEWAY_DOMAIN_DESCRIPTIONS",
            raw,
            "description",
            |v| v.is_string().then(|| v.clone()),
            "a string",
        );
    }
    if let Some(raw) = env.get("GATEWAY_UPSTREAM_HEADERS") {
        seed.per_domain(
            "GATEWAY_UPSTREAM_HEADERS",
            raw,
            "headers",
            |v| {
                v.as_object()
                    .filter(|o| o.values().all(Json::is_string))
                    .map(|_| v.clone())
            },
            "an object of header names to string values",
        );
    }
    seed.layers.extend(super::otel_env::layers(env));
    for (name, _) in env.with_prefix(PREFIX) {
        if name.contains("__") || name == CONFIG_VAR {
            continue;
        }
        if SERVER_VARS.iter().any(|(v, _, _)| *v == name)
            || UPSTREAM_VARS.contains(&name)
            || name == AUTH_TOKENS_VAR
        {
            continue;
        }
        match IGNORED_VARS.iter().find(|(v, _)| *v == name) {
            Some((_, why)) => seed.warnings.push(format!("{name} is ignored: {why}")),
            None => seed.warnings.push(format!(
                "{name} is not a mcp-gateway variable and is ignored (nested keys use GATEWAY_SECTION__KEY)"
            )),
        }
    }
    seed
}

impl SeedEnv {
    fn push(&mut self, var: &str, key: &str, value: Value) {
        if let Some(dict) = figment::util::nest(key, value).into_dict() {
            self.layers.push(VarLayer {
                name: var.to_string(),
                dict,
            });
        }
    }

    fn problem(&mut self, path: String, message: String) {
        self.problems.push(Problem {
            path,
            message,
            origin: None,
        });
    }

    fn json_object(&mut self, var: &str, raw: &str) -> Option<serde_json::Map<String, Json>> {
        match serde_json::from_str::<Json>(raw) {
            Ok(Json::Object(map)) => Some(map),
            Ok(other) => {
                self.problem(
                    var.to_string(),
                    format!("expected a JSON object, got {}", json_kind(&other)),
                );
                None
            }
            Err(error) => {
                self.problem(var.to_string(), format!("invalid JSON: {error}"));
                None
            }
        }
    }

    /// `{"crm": "http://…"}`, `{"crm": {"url": …, "description": …}}`, or the mcpServers shape
    /// fastmcp-gateway accepted for stdio: `{"files": {"mcpServers": {"files": {"command": …}}}}`.
    fn upstreams(&mut self, raw: &str) {
        const VAR: &str = "GATEWAY_UPSTREAMS";
        let Some(map) = self.json_object(VAR, raw) else {
            return;
        };
        let mut upstreams = serde_json::Map::new();
        for (domain, spec) in map {
            let table = match spec {
                Json::String(url) => serde_json::json!({ "url": url }),
                Json::Object(object) => unwrap_mcp_servers(object),
                other => {
                    self.problem(
                        format!("{VAR}.{domain}"),
                        format!(
                            "expected a URL string or an object, got {}",
                            json_kind(&other)
                        ),
                    );
                    continue;
                }
            };
            upstreams.insert(domain, table);
        }
        self.push_json(VAR, "upstreams", Json::Object(upstreams));
    }

    /// `{"crm": X}` → `upstreams.crm.<key> = X`, where `accept` checks X's shape.
    fn per_domain(
        &mut self,
        var: &str,
        raw: &str,
        key: &str,
        accept: impl Fn(&Json) -> Option<Json>,
        expected: &str,
    ) {
        let Some(map) = self.json_object(var, raw) else {
            return;
        };
        for (domain, value) in map {
            match accept(&value) {
                Some(value) => match Value::serialize(serde_json::json!({ key: value })) {
                    Ok(value) => self.per_domain.push(PerDomain {
                        var: var.to_string(),
                        domain,
                        key: key.to_string(),
                        value,
                    }),
                    Err(error) => self.problem(var.to_string(), format!("unusable value: {error}")),
                },
                None => self.problem(
                    format!("{var}.{domain}"),
                    format!("expected {expected}, got {}", json_kind(&value)),
                ),
            }
        }
    }

    fn push_json(&mut self, var: &str, key: &str, json: Json) {
        match Value::serialize(json) {
            Ok(value) => self.push(var, key, value),
            Err(error) => self.problem(var.to_string(), format!("unusable value: {error}")),
        }
    }
}

/// A fastmcp-gateway stdio entry wraps one server in `{"mcpServers": {"name": {...}}}`.
fn unwrap_mcp_servers(mut object: serde_json::Map<String, Json>) -> Json {
    if object.len() == 1
        && let Some(Json::Object(servers)) = object.get("mcpServers")
        && servers.len() == 1
        && let Some(inner) = servers.values().next()
    {
        return inner.clone();
    }
    if let Some(Json::Object(_)) = object.get("mcpServers") {
        // More than one server under one domain cannot be expressed: keep it so validation
        // reports `mcpServers` as an unknown key with its path.
        return Json::Object(std::mem::take(&mut object));
    }
    Json::Object(object)
}

/// A short name of a JSON value's type, for messages.
pub(crate) fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
