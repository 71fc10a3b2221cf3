//! mcp-gateway: one MCP server in front of many, exposing their tools through four meta-tools.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod error;
pub mod gateway;
pub mod handler;
pub mod instructions;
pub mod meta_tools;
pub mod registry;
pub mod server;
pub mod signature;
pub mod telemetry;
pub mod tool_table;
pub mod upstream;
