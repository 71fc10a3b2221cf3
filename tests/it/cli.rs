//! The binary: `--help`, `--version`, `check` exit codes, `run` refusing a bad config, `tools`,
//! `import` of an MCP client config.

use std::process::{Command, Output};

use crate::support::STDIO_UPSTREAM;

const BINARY: &str = env!("CARGO_BIN_EXE_mcp-gateway");

fn run(args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(BINARY)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run mcp-gateway")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let help = run(&["--help"], dir.path());
    assert!(help.status.success());
    for word in ["run", "check", "tools", "import", "--config"] {
        assert!(text(&help.stdout).contains(word), "help lacks {word}");
    }
    let version = run(&["--version"], dir.path());
    assert_eq!(
        text(&version.stdout).trim(),
        format!("mcp-gateway {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_exit_codes_and_redaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("good.toml"), "[upstreams.crm]\nurl = \"http://127.0.0.1:9/mcp\"\nheaders = { Authorization = \"Bearer SECRET-9\" }\n").expect("write");
    std::fs::write(
        dir.path().join("bad.toml"),
        "[server]\nport = \"x\"\n[upstreams.crm]\nulr = \"x\"\n",
    )
    .expect("write");
    let good = run(&["check", "--config", "good.toml"], dir.path());
    assert_eq!(good.status.code(), Some(0), "{}", text(&good.stderr));
    let out = text(&good.stdout);
    assert!(
        out.contains("[upstreams.crm]") && out.contains("<redacted>") && !out.contains("SECRET-9"),
        "{out}"
    );

    let bad = run(&["check", "--config", "bad.toml"], dir.path());
    assert_eq!(bad.status.code(), Some(1));
    let err = text(&bad.stderr);
    assert!(
        err.contains("server.port") && err.contains("upstreams.crm.ulr: unknown key"),
        "{err}"
    );

    let refused = run(&["--config", "bad.toml"], dir.path());
    assert_eq!(
        refused.status.code(),
        Some(78),
        "run refuses a bad config with EX_CONFIG"
    );
}

#[test]
fn tools_prints_the_merged_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[upstreams.util]\ncommand = \"{STDIO_UPSTREAM}\"\nargs = [\"--name\", \"u\", \"--synthetic\", \"3\"]\n[upstreams.dead]\nurl = \"http://127.0.0.1:9/mcp\"\n"
    );
    std::fs::write(dir.path().join("gateway.toml"), toml).expect("write");
    let out = run(&["tools"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.lines().any(|l| l.starts_with("contacts_search")
            && l.contains("util")
            && l.contains("contacts")),
        "{table}"
    );
    assert!(table.contains("13 tools in 2 domains"), "{table}");
    assert!(table.contains("domain dead is down"), "{table}");

    let json = run(&["tools", "--json"], dir.path());
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(value["tools"].as_array().map(Vec::len), Some(13));
    assert_eq!(value["failed"][0]["domain"], "dead");
}

#[test]
fn import_converts_an_mcp_json_into_a_config_that_serves_its_tools() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mcp_json = serde_json::json!({"mcpServers": {
        "Util Server": {"command": STDIO_UPSTREAM, "args": ["--name", "u", "--synthetic", "2"],
                        "env": {"UTIL_MODE": "test"}},
        "old": {"type": "sse", "url": "http://127.0.0.1:9/sse"}
    }});
    std::fs::write(dir.path().join("mcp.json"), mcp_json.to_string()).expect("write");
    let out = run(&["import", "mcp.json"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let notes = text(&out.stderr);
    assert!(
        notes.contains("Util Server: renamed to util_server"),
        "{notes}"
    );
    assert!(notes.contains("old: skipped"), "{notes}");
    std::fs::write(dir.path().join("gateway.toml"), &out.stdout).expect("write");

    // The converted file is a valid config, and its upstream really serves.
    let check = run(&["check"], dir.path());
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    let tools = run(&["tools", "--json"], dir.path());
    assert_eq!(tools.status.code(), Some(0), "{}", text(&tools.stderr));
    assert!(
        text(&tools.stdout).contains("util_server"),
        "{}",
        text(&tools.stdout)
    );

    // Unreadable or shapeless input: exit 1 with the reason.
    std::fs::write(dir.path().join("empty.json"), "{}").expect("write");
    let bad = run(&["import", "empty.json"], dir.path());
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("mcpServers"),
        "{}",
        text(&bad.stderr)
    );
    assert_eq!(
        run(&["import", "missing.json"], dir.path()).status.code(),
        Some(1)
    );
}
