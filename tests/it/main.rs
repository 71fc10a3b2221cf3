//! The integration tests: real MCP servers on 127.0.0.1 (in-process rmcp servers and a stdio
//! child), the real gateway, and real rmcp clients over real sockets.

mod support;

mod background;
mod call_leg;
mod catalog;
mod cli;
mod collisions;
mod config;
mod curation;
mod direct;
mod discover;
mod eras;
mod execute;
mod faults;
mod forwarding;
mod fuzz;
mod http;
mod ingress;
mod lifecycle;
mod limits;
mod listing;
mod metrics;
mod modern;
mod peers;
mod reload;
mod sanitize;
mod scale;
mod schema;
mod search;
mod semantic;
mod service;
mod stateless;
mod traces;
mod validation;
