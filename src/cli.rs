//! Command-line interface: `run` (default), `check`, `tools`, `import` and `healthcheck`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// An MCP gateway: many upstream MCP servers behind four meta-tools, so an LLM loads tool
/// schemas on demand.
#[derive(Debug, Parser)]
#[command(name = "mcp-gateway", version, about, long_about = None)]
pub struct Cli {
    /// Config file (default: $GATEWAY_CONFIG, else ./gateway.toml if it exists, else env only).
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do; `run` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve MCP on /mcp (the default).
    Run,
    /// Validate the config, print it with secrets redacted, exit 0 (valid) or 1 (invalid).
    Check,
    /// Connect to the upstreams, print the merged tool table, and exit.
    Tools {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 when the gateway answers `/healthz` (container health checks: the runtime image
    /// has no curl).
    Healthcheck {
        /// The URL to probe (`http://HOST:PORT/healthz`); without it, the config's port on
        /// loopback (the config must then load).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Timeout for connecting and answering.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Convert an MCP client config (`mcpServers` as Claude Desktop/Code and Cursor write it,
    /// VS Code's `servers`) to gateway.toml on stdout; notes on what needs attention go to stderr.
    Import {
        /// The JSON file, e.g. claude_desktop_config.json or .vscode/mcp.json.
        #[arg(value_name = "MCP_JSON")]
        file: PathBuf,
    },
}
