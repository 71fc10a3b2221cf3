//! Stage one of loading: find the config file and merge it with the environment into raw values.
//!
//! Layers, lowest first: the TOML file, the fastmcp-gateway variables (`seed_env`), then nested
//! `GATEWAY_SECTION__KEY` variables. Each variable is its own figment provider, so a problem can
//! name the variable its value came from. Validation happens in `validate`, not here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::{ConfigError, Problem, seed_env};

/// The variable that names the config file when `--config` is not given.
pub const CONFIG_VAR: &str = "GATEWAY_CONFIG";
/// The file used when neither `--config` nor `GATEWAY_CONFIG` is given, if it exists.
pub const DEFAULT_FILE: &str = "gateway.toml";
/// Prefix of every gateway variable.
pub const PREFIX: &str = "GATEWAY_";

/// Where the file layer of a configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A TOML file (the path as given).
    File(PathBuf),
    /// No file: environment variables and defaults only.
    EnvOnly,
}

impl ConfigSource {
    /// The file path, if there is one (the reloader watches it).
    pub fn path(&self) -> Option<&Path> {
        match self {
            ConfigSource::File(path) => Some(path),
            ConfigSource::EnvOnly => None,
        }
    }
}

/// A snapshot of environment variables, so loading never depends on ambient state mid-way and
/// tests can inject variables without touching the process environment.
#[derive(Debug, Clone, Default)]
pub struct EnvLookup {
    vars: BTreeMap<String, String>,
}

impl EnvLookup {
    /// The current process environment (variables that are not valid UTF-8 are skipped).
    pub fn process() -> EnvLookup {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        EnvLookup { vars }
    }

    /// An explicit set of variables.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> EnvLookup {
        let vars = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        EnvLookup { vars }
    }

    /// One variable's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Every variable whose name starts with `prefix`, sorted by name.
    pub(crate) fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.vars
            .range(prefix.to_string()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Raw merged values plus what is needed to validate them.
pub(crate) struct Loaded {
    /// The merged figment, kept to name the provider of any value.
    pub figment: Figment,
    /// The merged raw values.
    pub dict: Dict,
    /// Where the file layer came from.
    pub source: ConfigSource,
    /// Problems already found while reading the environment (bad JSON and the like).
    pub problems: Vec<Problem>,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
}

/// One environment variable's contribution, as a figment provider named after the variable.
#[derive(Clone)]
pub(crate) struct VarLayer {
    /// The variable name, used as the provider name in problems.
    pub name: String,
    /// The nested values this variable sets.
    pub dict: Dict,
}

impl Provider for VarLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Resolves the file, reads every layer and merges them.
pub(crate) fn assemble(explicit: Option<&Path>, env: &EnvLookup) -> Result<Loaded, ConfigError> {
    let source = resolve_file(explicit, env)?;
    let mut seed = seed_env::read(env);
    let layered = |per_domain: Vec<VarLayer>, seed_layers: &[VarLayer]| {
        let mut figment = Figment::new();
        if let ConfigSource::File(path) = &source {
            figment = figment.merge(Toml::file_exact(path));
        }
        for layer in seed_layers
            .iter()
            .cloned()
            .chain(per_domain)
            .chain(nested_layers(env))
        {
            figment = figment.merge(layer);
        }
        figment
    };
    // First without the per-domain variables, to learn which domains exist and of what kind.
    let syntax_error = |error: figment::Error, seed_problems: Vec<Problem>| ConfigError {
        problems: seed_problems
            .into_iter()
            .chain(figment_problems(error))
            .collect(),
    };
    let preliminary = match layered(Vec::new(), &seed.layers).extract::<Dict>() {
        Ok(dict) => dict,
        Err(error) => return Err(syntax_error(error, seed.problems)),
    };
    let mut accepted = Vec::new();
    for item in std::mem::take(&mut seed.per_domain) {
        let upstream = preliminary
            .get("upstreams")
            .and_then(|u| u.find_ref(&item.domain))
            .and_then(Value::as_dict);
        match upstream {
            None => seed.warnings.push(format!(
                "{} names domain '{}', which has no upstream: ignored",
                item.var, item.domain
            )),
            Some(table) if item.key == "headers" && !table.contains_key("url") => {
                seed.warnings.push(format!(
                    "{} sets headers for '{}', which is not an HTTP upstream: ignored",
                    item.var, item.domain
                ))
            }
            Some(_) => {
                let nested = figment::util::nest(&format!("upstreams.{}", item.domain), item.value);
                if let Some(dict) = nested.into_dict() {
                    accepted.push(VarLayer {
                        name: item.var,
                        dict,
                    });
                }
            }
        }
    }
    let figment = layered(accepted, &seed.layers);
    let dict = match figment.extract::<Dict>() {
        Ok(dict) => dict,
        Err(error) => return Err(syntax_error(error, seed.problems)),
    };
    Ok(Loaded {
        figment,
        dict,
        source,
        problems: seed.problems,
        warnings: seed.warnings,
    })
}

fn resolve_file(explicit: Option<&Path>, env: &EnvLookup) -> Result<ConfigSource, ConfigError> {
    let (path, origin) = match (explicit, env.get(CONFIG_VAR)) {
        (Some(path), _) => (path.to_path_buf(), "--config"),
        (None, Some(path)) if !path.is_empty() => (PathBuf::from(path), CONFIG_VAR),
        _ => {
            let default = PathBuf::from(DEFAULT_FILE);
            return Ok(if default.is_file() {
                ConfigSource::File(default)
            } else {
                ConfigSource::EnvOnly
            });
        }
    };
    if path.is_file() {
        Ok(ConfigSource::File(path))
    } else {
        Err(ConfigError {
            problems: vec![Problem {
                path: origin.to_string(),
                message: format!(
                    "config file {} does not exist or is not a file",
                    path.display()
                ),
                origin: None,
            }],
        })
    }
}

/// `GATEWAY_SERVER__PORT=9090` → `server.port = 9090`; values parse like figment's `Env`.
fn nested_layers(env: &EnvLookup) -> impl Iterator<Item = VarLayer> + '_ {
    env.with_prefix(PREFIX).filter_map(|(name, raw)| {
        let rest = name.strip_prefix(PREFIX)?;
        if !rest.contains("__") {
            return None;
        }
        // Keys are lower-cased, except names under `env` and `headers` (API_KEY stays API_KEY).
        let segments: Vec<&str> = rest.split("__").collect();
        let keep_case_from = match segments.as_slice() {
            [first, _, map, ..]
                if first.eq_ignore_ascii_case("upstreams")
                    && (map.eq_ignore_ascii_case("env") || map.eq_ignore_ascii_case("headers")) =>
            {
                3
            }
            _ => usize::MAX,
        };
        let key = segments
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if i >= keep_case_from {
                    (*s).to_string()
                } else {
                    s.to_ascii_lowercase()
                }
            })
            .collect::<Vec<_>>()
            .join(".");
        let value: Value = raw.parse().unwrap_or_else(|_| Value::from(raw.to_string()));
        Some(VarLayer {
            name: name.to_string(),
            dict: figment::util::nest(&key, value).into_dict()?,
        })
    })
}

/// Converts a figment error (syntax, I/O) into problems with the best path available.
fn figment_problems(error: figment::Error) -> Vec<Problem> {
    error
        .into_iter()
        .map(|e| {
            let origin = e.metadata.as_ref().map(|m| match &m.source {
                Some(figment::Source::File(path)) => path.display().to_string(),
                _ => m.name.to_string(),
            });
            let path = if e.path.is_empty() {
                "config".to_string()
            } else {
                e.path.join(".")
            };
            Problem {
                path,
                message: e.kind.to_string(),
                origin,
            }
        })
        .collect()
}
