//! A small MCP server used by the tests and benchmarks (the same code the tests run in-process):
//! `mcp-gateway-test-upstream [--name NAME] [--synthetic N] [--headers-tool] [--churn] [--http ADDR]
//! [--threads N]` serves over stdio, or with `--http` over streamable HTTP on ADDR (printing
//! `listening http://ADDR/mcp` on stdout) until stdin closes. `--churn` changes every tool's
//! description with each listing. `--threads` sets the HTTP server's runtime threads (default:
//! one per core; 1 serves on one thread, as a Node.js or asyncio server does).

#[path = "../../tests/it/support/upstream.rs"]
mod upstream;

use std::process::ExitCode;

use rmcp::ServiceExt;

const USAGE: &str = "usage: mcp-gateway-test-upstream [--name NAME] [--synthetic N] [--headers-tool] [--churn] [--http ADDR] [--threads N]";

/// The command line.
struct Options {
    name: String,
    synthetic: usize,
    headers_tool: bool,
    churn: bool,
    http: Option<String>,
    /// Runtime threads over HTTP; `None`: one per core.
    threads: Option<usize>,
}

fn options() -> Option<Options> {
    let mut options = Options {
        name: "stdio".to_string(),
        synthetic: 0,
        headers_tool: false,
        churn: false,
        http: None,
        threads: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--headers-tool" {
            options.headers_tool = true;
            continue;
        }
        if arg == "--churn" {
            options.churn = true;
            continue;
        }
        match (arg.as_str(), args.next()) {
            ("--name", Some(value)) => options.name = value,
            ("--synthetic", Some(value)) => options.synthetic = value.parse().ok()?,
            ("--http", Some(value)) => options.http = Some(value),
            ("--threads", Some(value)) => {
                options.threads = Some(value.parse().ok().filter(|n| *n > 0)?)
            }
            _ => return None,
        }
    }
    Some(options)
}

fn main() -> ExitCode {
    // `--threads` sizes the HTTP server's runtime: meaningless without `--http`.
    let Some(options) = options().filter(|o| o.threads.is_none() || o.http.is_some()) else {
        eprintln!("{USAGE}");
        return ExitCode::from(64);
    };
    let runtime = match options.http {
        // HTTP: one worker per core unless told; one thread is a current-thread runtime, as a
        // single-threaded server (Node.js, asyncio) serves. stdio: one stream, one thread.
        Some(_) if options.threads != Some(1) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(threads) = options.threads {
                builder.worker_threads(threads);
            }
            builder.enable_all().build()
        }
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start runtime: {error}");
            return ExitCode::from(70);
        }
    };
    runtime.block_on(async move {
        let server = if options.headers_tool {
            upstream::TestUpstream::with_headers_tool(&options.name)
        } else {
            upstream::TestUpstream::with_synthetic(&options.name, options.synthetic)
        };
        let server = if options.churn {
            server.churning()
        } else {
            server
        };
        match options.http {
            Some(addr) => serve_http(&addr, server).await,
            None => serve_stdio(server).await,
        }
    })
}

async fn serve_stdio(server: upstream::TestUpstream) -> ExitCode {
    match server.serve(rmcp::transport::stdio()).await {
        Ok(running) => {
            let _ = running.waiting().await;
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("stdio server failed: {error}");
            ExitCode::from(70)
        }
    }
}

/// Serves HTTP until stdin reaches EOF (the parent closed it or exited).
async fn serve_http(addr: &str, server: upstream::TestUpstream) -> ExitCode {
    use tokio::io::AsyncReadExt;
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot bind {addr}: {error}");
            return ExitCode::from(70);
        }
    };
    let Ok(bound) = listener.local_addr() else {
        return ExitCode::from(70);
    };
    let stop = tokio_util::sync::CancellationToken::new();
    upstream::serve_http(listener, server, stop.clone());
    println!("listening http://{bound}/mcp");
    let mut stdin = tokio::io::stdin();
    let mut buffer = [0u8; 64];
    while matches!(stdin.read(&mut buffer).await, Ok(n) if n > 0) {}
    stop.cancel();
    ExitCode::SUCCESS
}
