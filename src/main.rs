//! The `mcp-gateway` binary: parse the command line, set up logging, load the config, hand over
//! to the library. Exit codes: 0 ok, 1 `check` found problems or `tools` found none, 78 bad
//! config for `run` (EX_CONFIG), 70 runtime failure.

use std::process::ExitCode;

use clap::Parser;
use mcp_gateway::cli::{Cli, Command};
use mcp_gateway::config::{Config, EnvLookup, render_redacted};
use mcp_gateway::reloader::ConfigLoader;
use mcp_gateway::{app, gateway::Gateway, telemetry, tool_table};

/// Config invalid (sysexits EX_CONFIG).
const EXIT_CONFIG: u8 = 78;
/// Runtime failure (sysexits EX_SOFTWARE).
const EXIT_FAILURE: u8 = 70;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Run);
    if let Command::Import { file } = &command {
        return import(file);
    }
    // Liveness needs no config: a file the running gateway rejected must not fail the probe.
    if let Command::Healthcheck {
        url: Some(url),
        timeout,
    } = &command
    {
        return report_health(mcp_gateway::health_probe::probe_url(url, *timeout));
    }
    let env = EnvLookup::process();
    let config = match Config::load_with(cli.config.as_deref(), &env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("mcp-gateway: {error}");
            return ExitCode::from(if command == Command::Check {
                1
            } else {
                EXIT_CONFIG
            });
        }
    };
    if let Command::Healthcheck { timeout, .. } = command {
        return report_health(mcp_gateway::health_probe::probe(&config.server, timeout));
    }
    // `check` only prints: one thread does.
    let mut builder = if command == Command::Check {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if let Some(threads) = config
        .server
        .worker_threads
        .filter(|_| command != Command::Check)
    {
        builder.worker_threads(threads); // else TOKIO_WORKER_THREADS, else one per core
    }
    // Rebuilds spread over as many threads as the runtime has workers.
    let rebuild_threads = config.server.worker_threads.or_else(|| {
        std::env::var("TOKIO_WORKER_THREADS")
            .ok()
            .and_then(|n| n.parse().ok())
    });
    if command != Command::Check {
        mcp_gateway::cpu_work::init_pool(rebuild_threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mcp-gateway: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    // Secrets are known before the first log line; the format comes from the config. Only a
    // running gateway exports traces; the exporter's batch task lives on the runtime.
    mcp_gateway::log_redact::protect(&config);
    let telemetry = {
        let _inside = runtime.enter();
        let mut settings = config.telemetry.clone();
        if command != Command::Run {
            settings.otlp = None;
        }
        telemetry::init(&settings)
    };
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    if command == Command::Check {
        print!("{}", render_redacted(&config));
        return ExitCode::SUCCESS;
    }
    let loader = ConfigLoader {
        path: config.source.path().map(Into::into),
        env,
        sighup: true,
    };
    let code = runtime.block_on(async move {
        let code = match command {
            Command::Tools { json } => list_tools(config, json).await,
            _ => match app::run(config, Some(loader), shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("mcp-gateway: {error}");
                    ExitCode::from(if error.kind() == std::io::ErrorKind::InvalidInput {
                        EXIT_CONFIG
                    } else {
                        EXIT_FAILURE
                    })
                }
            },
        };
        telemetry.shutdown().await;
        code
    });
    // A trace export stuck on a black-holed collector must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// `healthcheck`'s exit code: 0 healthy, 1 (with the reason) otherwise.
fn report_health(outcome: Result<(), String>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mcp-gateway: unhealthy: {error}");
            ExitCode::from(1)
        }
    }
}

/// `import`: the converted TOML on stdout, notes on stderr; 1 when nothing converts.
fn import(file: &std::path::Path) -> ExitCode {
    let source = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("mcp-gateway: cannot read {source}: {error}");
            return ExitCode::from(1);
        }
    };
    match mcp_gateway::import::import(&text, &source) {
        Ok(imported) => {
            print!("{}", imported.toml);
            for note in &imported.notes {
                eprintln!("note: {note}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("mcp-gateway: {error}");
            ExitCode::from(1)
        }
    }
}

async fn list_tools(config: Config, json: bool) -> ExitCode {
    let gateway = Gateway::new(config);
    let report = gateway.refresh().await;
    if json {
        println!("{:#}", tool_table::render_json(&gateway, &report));
    } else {
        print!("{}", tool_table::render_text(&gateway, &report));
    }
    let empty = gateway.registry().tools().is_empty();
    gateway.close().await;
    if empty {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
