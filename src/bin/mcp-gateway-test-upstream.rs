//! A small MCP server used by the tests and benchmarks (the same code the tests run in-process):
//! `mcp-gateway-test-upstream [--name NAME] [--synthetic N] [--headers-tool]` serves over stdio.

#[path = "../../tests/it/support/upstream.rs"]
mod upstream;

use rmcp::ServiceExt;

fn main() -> std::process::ExitCode {
    let mut name = "stdio".to_string();
    let mut synthetic = 0usize;
    let mut headers_tool = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--headers-tool" {
            headers_tool = true;
            continue;
        }
        match (arg.as_str(), args.next()) {
            ("--name", Some(value)) => name = value,
            ("--synthetic", Some(value)) => synthetic = value.parse().unwrap_or(0),
            _ => {
                eprintln!(
                    "usage: mcp-gateway-test-upstream [--name NAME] [--synthetic N] [--headers-tool]"
                );
                return std::process::ExitCode::from(64);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start runtime: {error}");
            return std::process::ExitCode::from(70);
        }
    };
    runtime.block_on(async move {
        let server = if headers_tool {
            upstream::TestUpstream::with_headers_tool(&name)
        } else {
            upstream::TestUpstream::with_synthetic(&name, synthetic)
        };
        match server.serve(rmcp::transport::stdio()).await {
            Ok(running) => {
                let _ = running.waiting().await;
                std::process::ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("stdio server failed: {error}");
                std::process::ExitCode::from(70)
            }
        }
    })
}
