//! `mcp-gateway import`: converts an existing MCP client configuration (`mcpServers` as Claude
//! Desktop, Claude Code and Cursor write it, `servers` as VS Code's `mcp.json` does, or a VS Code
//! `settings.json` with `mcp.servers`; JSON with comments and trailing commas, as VS Code writes,
//! is accepted) into `gateway.toml` upstream tables. What cannot be converted, or may not work
//! as converted, gets a note saying why; nothing is dropped silently.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::config::{MAX_DOMAIN_LEN, RESERVED_HEADERS};

/// The converted configuration and what the user should know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// `gateway.toml` text: a comment header and one `[upstreams.NAME]` table per server.
    pub toml: String,
    /// One line per server renamed, skipped or needing attention.
    pub notes: Vec<String>,
}

/// Converts the JSON text of an MCP client configuration; `source` names it in the header.
pub fn import(text: &str, source: &str) -> Result<Imported, String> {
    // A byte-order mark (Windows editors) and JSONC comments/trailing commas (VS Code) are fine.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Value =
        json5::from_str(text).map_err(|error| format!("{source} is not JSON: {error}"))?;
    let mut notes = Vec::new();
    if root.get("projects").is_some_and(Value::is_object) {
        notes.push(
            "projects: per-project servers (Claude Code's ~/.claude.json) are not imported; \
             import a project's .mcp.json instead"
                .to_string(),
        );
    }
    let servers = servers_of(&root).ok_or_else(|| {
        format!("{source} has no \"mcpServers\", \"servers\" or \"mcp.servers\" object")
    })?;
    let mut toml = format!(
        "# Converted from {source} by `mcp-gateway import`. Check it with `mcp-gateway check`.\n"
    );
    let mut taken = HashSet::new();
    // Sorted, so the output does not depend on the JSON's key order.
    let sorted: BTreeMap<&String, &Value> = servers.iter().collect();
    for (name, server) in sorted {
        let Some(server) = server.as_object() else {
            notes.push(format!("{name}: skipped: not an object"));
            continue;
        };
        match table(name, server, &mut taken, &mut notes) {
            Ok(text) => toml.push_str(&text),
            Err(reason) => notes.push(format!("{name}: skipped: {reason}")),
        }
    }
    if taken.is_empty() {
        return Err(format!(
            "{source}: no server could be converted{}",
            notes.iter().map(|n| format!("\n  {n}")).collect::<String>()
        ));
    }
    Ok(Imported { toml, notes })
}

/// The object mapping server names to definitions, in any of the known shapes.
fn servers_of(root: &Value) -> Option<&Map<String, Value>> {
    root.get("mcpServers")
        .or_else(|| root.get("servers"))
        .or_else(|| root.get("mcp").and_then(|mcp| mcp.get("servers")))
        .and_then(Value::as_object)
}

/// One `[upstreams.NAME]` table, or why the server cannot be converted.
fn table(
    name: &str,
    server: &Map<String, Value>,
    taken: &mut HashSet<String>,
    notes: &mut Vec<String>,
) -> Result<String, String> {
    if server.get("disabled").and_then(Value::as_bool) == Some(true) {
        return Err("disabled".into());
    }
    let kind = server.get("type").and_then(Value::as_str).unwrap_or("");
    let command = server.get("command").and_then(Value::as_str);
    let url = server
        .get("url")
        .or_else(|| server.get("serverUrl"))
        .and_then(Value::as_str);
    let mut body = String::new();
    match (kind, command, url) {
        ("sse", _, _) => {
            return Err(
                "the legacy HTTP+SSE transport is not supported; if the server also serves \
                 streamable HTTP, add it with that endpoint as `url`"
                    .into(),
            );
        }
        (_, Some(command), _) if kind.is_empty() || kind == "stdio" => {
            line(&mut body, "command", &toml_string(command));
            if let Some(args) = strings(server.get("args"), name, "args")? {
                line(&mut body, "args", &toml_array(&args));
            }
            if let Some(env) = string_map(server.get("env"), name, "env")? {
                line(&mut body, "env", &toml_inline_table(&env));
            }
            if let Some(cwd) = server.get("cwd").and_then(Value::as_str) {
                line(&mut body, "cwd", &toml_string(cwd));
            }
            if server.contains_key("envFile") {
                notes.push(format!(
                    "{name}: envFile is not read; put its variables in `env`"
                ));
            }
        }
        (_, _, Some(url)) if matches!(kind, "" | "http" | "streamable-http" | "streamableHttp") => {
            line(&mut body, "url", &toml_string(url));
            if kind.is_empty() && url.trim_end_matches('/').ends_with("/sse") {
                notes.push(format!(
                    "{name}: {url} looks like a legacy HTTP+SSE endpoint; the gateway speaks \
                     streamable HTTP (often the same server's /mcp)"
                ));
            }
            let mut headers =
                string_map(server.get("headers"), name, "headers")?.unwrap_or_default();
            headers.retain(|header, _| {
                let reserved = RESERVED_HEADERS.contains(&header.to_ascii_lowercase().as_str());
                if reserved {
                    notes.push(format!(
                        "{name}: header {header} left out (the MCP transport sets it)"
                    ));
                }
                !reserved
            });
            if headers.is_empty() {
                notes.push(format!(
                    "{name}: no headers: if the server needs a login (OAuth), give it an \
                     Authorization header"
                ));
            } else {
                line(&mut body, "headers", &toml_inline_table(&headers));
            }
        }
        _ => return Err(format!("no usable command or url (type {kind:?})")),
    }
    let domain = domain_name(name, taken);
    if body.contains("${") {
        notes.push(format!(
            "{name}: holds ${{...}} placeholders, which the gateway does not expand: put the \
             values in (or set them with GATEWAY_UPSTREAMS__{}__... variables)",
            domain.to_ascii_uppercase()
        ));
    }
    if domain != name {
        notes.push(format!(
            "{name}: renamed to {domain} (domain names are a-z, 0-9, '_', '-')"
        ));
    }
    Ok(format!("\n[upstreams.{domain}]\n{body}"))
}

fn line(body: &mut String, key: &str, value: &str) {
    let _ = writeln!(body, "{key} = {value}");
}

/// A list of strings, or an error naming the key.
fn strings(value: Option<&Value>, name: &str, key: &str) -> Result<Option<Vec<String>>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    let items = value
        .as_array()
        .ok_or_else(|| format!("{key} of {name} is not a list"))?;
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(format!("{key} of {name} holds a non-string")),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A map of strings, or an error naming the key.
fn string_map(
    value: Option<&Value>,
    name: &str,
    key: &str,
) -> Result<Option<BTreeMap<String, String>>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    let map = value
        .as_object()
        .ok_or_else(|| format!("{key} of {name} is not an object"))?;
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            Value::Number(n) => Ok((k.clone(), n.to_string())),
            Value::Bool(b) => Ok((k.clone(), b.to_string())),
            _ => Err(format!("{key}.{k} of {name} is not a string")),
        })
        .collect::<Result<BTreeMap<_, _>, _>>()
        .map(Some)
}

/// `name` as a valid, unused domain name (`^[a-z][a-z0-9_-]{0,31}$`).
fn domain_name(name: &str, taken: &mut HashSet<String>) -> String {
    let mut base: String = name
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !base.starts_with(|c: char| c.is_ascii_lowercase()) {
        base.insert_str(0, "mcp_");
    }
    base.truncate(MAX_DOMAIN_LEN);
    let mut candidate = base.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        let suffix = format!("_{n}");
        let mut shortened = base.clone();
        shortened.truncate(MAX_DOMAIN_LEN - suffix.len());
        candidate = format!("{shortened}{suffix}");
        n += 1;
    }
    taken.insert(candidate.clone());
    candidate
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn toml_array(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|item| toml_string(item)).collect();
    format!("[{}]", items.join(", "))
}

fn toml_inline_table(map: &BTreeMap<String, String>) -> String {
    let entries: Vec<String> = map
        .iter()
        .map(|(key, value)| format!("{} = {}", toml_key(key), toml_string(value)))
        .collect();
    format!("{{ {} }}", entries.join(", "))
}

/// A bare key when TOML allows one, else a quoted key.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        toml_string(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_desktop_stdio_and_remote_servers_convert() {
        let json = r#"{"mcpServers": {
            "filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]},
            "GitHub API": {"type": "http", "url": "https://api.example.com/mcp",
                           "headers": {"Authorization": "Bearer abc", "X-Team": "core"}},
            "legacy": {"type": "sse", "url": "https://old.example.com/sse"},
            "off": {"command": "x", "disabled": true},
            "time": {"command": "uvx", "args": ["mcp-server-time"], "env": {"TZ": "UTC", "DEBUG": 1}}
        }}"#;
        let imported = import(json, "claude.json").expect("converts");
        let parsed: toml::Table = toml::from_str(&imported.toml).expect("valid TOML");
        let upstreams = parsed["upstreams"].as_table().expect("upstreams");
        let names: Vec<&String> = upstreams.keys().collect();
        assert_eq!(names, ["filesystem", "github_api", "time"]);
        assert_eq!(upstreams["filesystem"]["args"][2].as_str(), Some("/tmp"));
        assert_eq!(
            upstreams["github_api"]["headers"]["X-Team"].as_str(),
            Some("core")
        );
        assert_eq!(upstreams["time"]["env"]["DEBUG"].as_str(), Some("1"));
        let notes = imported.notes.join("\n");
        assert!(
            notes.contains("GitHub API: renamed to github_api"),
            "{notes}"
        );
        assert!(
            notes.contains("legacy: skipped: the legacy HTTP+SSE transport"),
            "{notes}"
        );
        assert!(notes.contains("off: skipped: disabled"), "{notes}");
    }

    #[test]
    fn vs_code_shapes_and_placeholders() {
        let json = r#"{"inputs": [], "servers": {
            "9lives": {"type": "stdio", "command": "node", "args": ["server.js"], "cwd": "/srv",
                       "env": {"TOKEN": "${input:token}"}, "envFile": ".env"},
            "remote": {"type": "http", "url": "http://127.0.0.1:9000/mcp"}
        }}"#;
        let imported = import(json, "mcp.json").expect("converts");
        let parsed: toml::Table = toml::from_str(&imported.toml).expect("valid TOML");
        let upstreams = parsed["upstreams"].as_table().expect("upstreams");
        assert_eq!(upstreams["mcp_9lives"]["cwd"].as_str(), Some("/srv"));
        assert_eq!(
            upstreams["remote"]["url"].as_str(),
            Some("http://127.0.0.1:9000/mcp")
        );
        let notes = imported.notes.join("\n");
        assert!(
            notes.contains("9lives: holds ${...} placeholders"),
            "{notes}"
        );
        assert!(notes.contains("9lives: envFile is not read"), "{notes}");
        let settings = r#"{"mcp": {"servers": {"a": {"command": "a"}}}}"#;
        assert!(import(settings, "settings.json").is_ok());
    }

    #[test]
    fn jsonc_bom_and_risky_remote_servers_are_handled_with_notes() {
        let jsonc = "\u{feff}{\n  // VS Code writes comments\n  \"servers\": {\n    \"old\": {\"url\": \"https://h.example/sse\"},\n    \"api\": {\"type\": \"http\", \"url\": \"https://h.example/mcp\", \"headers\": {\"Content-Type\": \"x\", \"X-Key\": \"k\"}},\n  },\n  \"projects\": {}\n}";
        let imported = import(jsonc, "mcp.json").expect("JSONC with a BOM converts");
        let parsed: toml::Table = toml::from_str(&imported.toml).expect("valid TOML");
        let upstreams = parsed["upstreams"].as_table().expect("upstreams");
        let api_headers = upstreams["api"]["headers"].as_table().expect("headers");
        assert_eq!(api_headers.keys().collect::<Vec<_>>(), ["X-Key"]);
        let notes = imported.notes.join("\n");
        assert!(
            notes.contains("old: https://h.example/sse looks like a legacy HTTP+SSE endpoint"),
            "{notes}"
        );
        assert!(notes.contains("old: no headers"), "{notes}");
        assert!(
            notes.contains("api: header Content-Type left out"),
            "{notes}"
        );
        assert!(notes.contains("projects: per-project servers"), "{notes}");
    }

    #[test]
    fn nothing_convertible_is_an_error_that_says_why() {
        assert!(import("[]", "x.json").is_err_and(|e| e.contains("no \"mcpServers\"")));
        assert!(import("{", "x.json").is_err_and(|e| e.contains("not JSON")));
        let only_sse = r#"{"mcpServers": {"s": {"type": "sse", "url": "http://h/sse"}}}"#;
        assert!(import(only_sse, "x.json").is_err_and(|e| e.contains("s: skipped")));
    }

    #[test]
    fn colliding_and_long_names_stay_valid_and_distinct() {
        let mut taken = HashSet::new();
        let long = "a".repeat(40);
        let first = domain_name(&long, &mut taken);
        let second = domain_name(&long, &mut taken);
        assert_eq!(first.len(), MAX_DOMAIN_LEN);
        assert!(
            second.len() <= MAX_DOMAIN_LEN && second.ends_with("_2"),
            "{second}"
        );
        assert_eq!(domain_name("Foo.Bar", &mut taken), "foo_bar");
    }
}
