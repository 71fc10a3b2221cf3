//! mcp-gateway: one MCP server in front of many, exposing their tools through four meta-tools
//! so an LLM loads tool schemas on demand.
//!
//! # Layout
//! - [`config`]: `gateway.toml` + `GATEWAY_*` variables → a validated [`config::Config`].
//! - [`app`]: process wiring; [`server`]: the hyper core; [`handler`]: the MCP server side.
//! - [`gateway`]: shared state, refresh and reload; [`registry`]: the immutable snapshot.
//! - [`upstream`]: one session per upstream server; [`meta_tools`]: the four tools.
//! - [`reloader`], [`watch`], [`background`]: reload triggers and background loops.
//!
//! ARCHITECTURE.md has the code map and the invariants.
#![forbid(unsafe_code)]

pub mod answer;
pub mod app;
pub mod argument_text;
pub mod background;
pub mod cli;
pub mod config;
pub mod connection_workers;
pub mod cpu_work;
pub mod detach_on_drop;
pub mod direct_call;
pub mod error;
pub mod fast_hash;
pub mod gateway;
pub mod handler;
pub mod health_probe;
pub mod import;
pub mod ingress;
pub mod instructions;
pub mod log_redact;
pub mod meta_tools;
pub mod metrics;
pub mod registry;
pub mod reloader;
pub mod sanitize;
pub mod semantic;
pub mod server;
pub mod service_notify;
pub mod signature;
pub mod telemetry;
pub mod tool_table;
pub mod upstream;
pub mod validation;
pub mod watch;
