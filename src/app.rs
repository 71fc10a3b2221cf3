//! Wiring of one gateway process: bind (the port opens at once), populate the registry in the
//! background, serve, run the background tasks and the reloader, and on shutdown drain requests,
//! stop the tasks and close every upstream.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::connection_workers::ConnectionWorkers;
use crate::gateway::Gateway;
use crate::reloader::{ConfigLoader, Reloader};
use crate::semantic::Semantic;
use crate::telemetry::spans;
use crate::{background, server, service_notify};
use tracing::Instrument;

/// A gateway whose listener is bound and whose tasks are running.
pub struct Running {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// Shared state, for tests and tooling.
    pub gateway: Arc<Gateway>,
    /// Cancel to shut down.
    pub shutdown: CancellationToken,
    /// Finishes after the drain, the background tasks and the upstreams are closed.
    pub done: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Loads the semantic ranker's model named by `[search] model_dir` (blocking read, ≈ 90 MB).
/// A model that cannot be loaded is a configuration error (`ErrorKind::InvalidInput`).
async fn load_model(config: &Config) -> std::io::Result<Option<Arc<Semantic>>> {
    let Some(dir) = config.search.model_dir.clone() else {
        return Ok(None);
    };
    let started = std::time::Instant::now();
    let loaded = tokio::task::spawn_blocking(move || Semantic::load(&dir))
        .await
        .map_err(std::io::Error::other)?;
    match loaded {
        Ok(model) => {
            tracing::info!(model = %model.dir().display(),
                elapsed_ms = started.elapsed().as_millis() as u64, "semantic ranker loaded");
            Ok(Some(Arc::new(model)))
        }
        Err(error) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("search.model_dir: {error}"),
        )),
    }
}

/// Binds and starts everything; returns once the port is open. `loader` enables reloads.
/// Fails with `ErrorKind::InvalidInput` when the configured search model cannot be loaded.
pub async fn start(config: Config, loader: Option<ConfigLoader>) -> std::io::Result<Running> {
    let model = load_model(&config).await?;
    let reloader = loader.map(Reloader::new);
    let listener = TcpListener::bind(config.bind_address()).await?;
    let addr = listener.local_addr()?;
    let upstream_count = config.upstreams.len();
    let gateway = Gateway::new(config);
    let shutdown = CancellationToken::new();
    let worker_threads = tokio::runtime::Handle::current().metrics().num_workers();
    // Before any upstream session opens: the call leg sizes its per-worker clients by them.
    let workers = ConnectionWorkers::start(worker_threads)?;
    tracing::info!(%addr, upstreams = upstream_count, worker_threads, "listening");

    let mut tasks = JoinSet::new();
    let populate = gateway.clone();
    let span = spans::populate_all();
    tasks.spawn(
        async move {
            let report = populate.refresh().await;
            let tools = populate.registry().tools().len();
            spans::record_count(spans::DOMAIN_COUNT, upstream_count);
            spans::record_count(spans::TOTAL_TOOLS, tools);
            spans::record_count(spans::RESULT_COUNT, report.refreshed.len());
            if !report.failed.is_empty() {
                spans::fail(&tracing::Span::current(), "upstream_unavailable");
            }
            tracing::info!(tools, failed = report.failed.len(), "registry populated");
            service_notify::ready(&format!("serving {tools} tools"));
        }
        .instrument(span),
    );
    tasks.spawn(background::periodic_refresh(
        gateway.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(background::list_changed(gateway.clone(), shutdown.clone()));
    tasks.spawn(background::recover(gateway.clone(), shutdown.clone()));
    if let Some(model) = model {
        gateway.enable_semantic(model.clone());
        tasks.spawn(background::embed_tools(
            gateway.clone(),
            model,
            shutdown.clone(),
        ));
    }
    if let Some(reloader) = reloader {
        tasks.spawn(reloader.run(gateway.clone(), shutdown.clone()));
    }

    let done = {
        let (gateway, shutdown) = (gateway.clone(), shutdown.clone());
        tokio::spawn(async move {
            let served = server::serve(listener, workers, gateway.clone(), shutdown).await;
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            gateway.close().await;
            served
        })
    };
    Ok(Running {
        addr,
        gateway,
        shutdown,
        done,
    })
}

/// Runs until `stop` resolves, then shuts down gracefully.
pub async fn run(
    config: Config,
    loader: Option<ConfigLoader>,
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let running = start(config, loader).await?;
    stop.await;
    tracing::info!("shutting down");
    service_notify::stopping();
    running.shutdown.cancel();
    running.done.await.map_err(std::io::Error::other)?
}
