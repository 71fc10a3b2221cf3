//! Wiring of one gateway process: bind (the port opens at once), populate the registry in the
//! background, serve, optionally refresh on a timer, and on shutdown drain and close upstreams.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::gateway::Gateway;
use crate::server;

/// A gateway whose listener is bound and whose tasks are running.
pub struct Running {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// Shared state, for tests and tooling.
    pub gateway: Arc<Gateway>,
    /// Cancel to shut down.
    pub shutdown: CancellationToken,
    /// Finishes after the drain and after upstreams are closed.
    pub done: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds and starts everything; returns once the port is open.
pub async fn start(config: &Config) -> std::io::Result<Running> {
    let listener = TcpListener::bind(config.bind_address()).await?;
    let addr = listener.local_addr()?;
    let gateway = Gateway::new(config);
    let shutdown = CancellationToken::new();
    tracing::info!(%addr, upstreams = gateway.upstreams().len(), "listening");

    let populate = gateway.clone();
    tokio::spawn(async move {
        let report = populate.refresh().await;
        let tools = populate.registry().tools().len();
        tracing::info!(tools, failed = report.failed.len(), "registry populated");
    });
    if let Some(period) = config.server.refresh_interval {
        let (gateway, shutdown) = (gateway.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = ticker.tick() => {
                        let report = gateway.refresh().await;
                        tracing::info!(failed = report.failed.len(), "background refresh done");
                    }
                }
            }
        });
    }
    let done = {
        let (gateway, shutdown) = (gateway.clone(), shutdown.clone());
        tokio::spawn(async move {
            let served = server::serve(listener, gateway.clone(), shutdown).await;
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
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let running = start(&config).await?;
    stop.await;
    tracing::info!("shutting down");
    running.shutdown.cancel();
    running.done.await.map_err(std::io::Error::other)?
}
