//! The thin HTTP core: a hyper-util accept loop routing `/mcp` (after the [`ingress`] checks) to
//! rmcp's streamable HTTP service and serving `/healthz` and `/readyz`; graceful shutdown that lets in-flight MCP requests
//! finish before long-lived streams are cancelled. The loop accepts on the main runtime and
//! hands each connection to one of the [`ConnectionWorkers`] threads, which serves it to the end.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::connection_workers::ConnectionWorkers;
use crate::direct_call::DirectCalls;
use crate::gateway::Gateway;
use crate::handler::GatewayHandler;
use crate::ingress;

/// How often the direct-call state of closed sessions is dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How long connections may take to close once streams are cancelled.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

type Body = BoxBody<Bytes, Infallible>;
type McpService = StreamableHttpService<GatewayHandler, LocalSessionManager>;

/// Counts MCP POST requests whose response has not finished yet.
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    idle: tokio::sync::Notify,
}

/// Decrements the in-flight count when the response body is done (or dropped).
struct InFlightGuard(Arc<InFlight>);

impl InFlight {
    fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.clone())
    }

    async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Serves until `shutdown` fires, each connection on one of `workers` (which end with it).
/// Then: stop accepting, let in-flight MCP requests finish for at most
/// `server.shutdown_timeout`, cancel long-lived streams and sessions, close connections.
pub async fn serve(
    listener: TcpListener,
    workers: ConnectionWorkers,
    gateway: Arc<Gateway>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let streams = CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default().with_cancellation_token(streams.clone());
    let (hosts, max_header_bytes, stateless, idle_timeout) = {
        let registry = gateway.registry();
        let settings = registry.settings();
        (
            ingress::allowed_hosts(settings),
            settings.max_header_bytes,
            settings.stateless,
            settings.session_idle_timeout,
        )
    };
    if stateless {
        // No sessions: every request stands alone (any replica can take it) and simple
        // request/response exchanges answer as plain JSON.
        config = config
            .with_legacy_session_mode(false)
            .with_json_response(true);
    }
    // rmcp's own body limit would otherwise cap `server.max_body_bytes` (read per request by
    // ingress, which already enforced it) at 4 MiB.
    config = config.with_max_request_body_bytes(usize::MAX);
    config = match hosts {
        Some(hosts) => config.with_allowed_hosts(hosts),
        None => config.disable_allowed_hosts(),
    };
    let handler = GatewayHandler::new(gateway.clone());
    // Direct calls poke a session's rmcp worker at most every `touch`; its idle clock runs that
    // much longer, so a client quiet for less than `session_idle_timeout` keeps its session.
    let touch = crate::direct_call::touch_interval(idle_timeout);
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(idle_timeout.saturating_add(touch));
    let sessions = Arc::new(sessions);
    let mcp = StreamableHttpService::new(move || Ok(handler.clone()), sessions.clone(), config);
    let direct = Arc::new(DirectCalls::new(
        gateway.clone(),
        sessions,
        ingress::HostAllowList::new(gateway.registry().settings()),
        streams.clone(),
        touch,
    ));
    tokio::spawn(sweep_sessions(direct.clone(), streams.clone()));
    let in_flight = Arc::new(InFlight::default());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A request head larger than this gets 431 (HTTP/1) or a stream reset (HTTP/2).
    builder.http1().max_buf_size(max_header_bytes);
    builder
        .http2()
        .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Small request/response messages and SSE events: never wait for Nagle.
        let _ = stream.set_nodelay(true);
        // Registered again with the serving thread's own I/O driver, there.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(error) => {
                tracing::debug!(%error, %peer, "cannot hand the connection over");
                continue;
            }
        };
        let routes = Routes {
            mcp: mcp.clone(),
            direct: direct.clone(),
            gateway: gateway.clone(),
            in_flight: in_flight.clone(),
        };
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let routes = routes.clone();
            async move { Ok::<_, Infallible>(routes.route(request).await) }
        });
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        workers.serve(move || async move {
            let stream = match tokio::net::TcpStream::from_std(stream) {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::debug!(%error, %peer, "cannot serve the connection");
                    return;
                }
            };
            let connection = watcher.watch(
                builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned(),
            );
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // Tell every connection to finish: HTTP/1 closes after its current response, HTTP/2 sends
    // GOAWAY, so keep-alive connections take no new requests while the drain runs.
    let closing = graceful.shutdown();
    tokio::pin!(closing);
    // Read now, not at start: a reload may have changed it.
    let drain = gateway.registry().settings().shutdown_timeout;
    tracing::info!(
        in_flight = in_flight.count.load(Ordering::Acquire),
        ?drain,
        "draining"
    );
    // `closed` records whether every connection already ended: a finished future must not be
    // polled again.
    let (drained, closed) = tokio::select! {
        () = &mut closing => (true, true),
        finished = tokio::time::timeout(drain, in_flight.wait_idle()) => (finished.is_ok(), false),
    };
    if !drained {
        tracing::warn!(
            in_flight = in_flight.count.load(Ordering::Acquire),
            "shutdown timeout: cancelling requests still in flight"
        );
    }
    // Long-lived streams (GET SSE) and sessions end only now.
    streams.cancel();
    if !closed && tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
        tracing::debug!("closing remaining connections");
    }
    // Connections still open past the close timeout end with their threads.
    if tokio::task::spawn_blocking(move || workers.stop())
        .await
        .is_err()
    {
        tracing::error!("stopping the connection workers failed");
    }
    Ok(())
}

/// Drops the direct-call state of sessions rmcp has closed, once a minute until `stop`.
async fn sweep_sessions(direct: Arc<DirectCalls>, stop: CancellationToken) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => direct.sweep().await,
        }
    }
}

/// What one connection's requests are routed to.
#[derive(Clone)]
struct Routes {
    mcp: McpService,
    direct: Arc<DirectCalls>,
    gateway: Arc<Gateway>,
    in_flight: Arc<InFlight>,
}

impl Routes {
    async fn route(&self, request: Request<Incoming>) -> Response<Body> {
        let Routes {
            mcp,
            direct,
            gateway,
            in_flight,
        } = self;
        // /metrics names tools and domains: it is guarded like /mcp (health routes are not).
        let guarded = matches!(request.uri().path(), "/mcp" | "/mcp/" | "/metrics");
        let max_body_bytes = if guarded {
            let registry = gateway.registry();
            if let Err(refusal) = ingress::check_headers(&request, registry.settings()) {
                return refusal.into_response();
            }
            registry.settings().max_body_bytes
        } else {
            0
        };
        match (request.method(), request.uri().path()) {
            (&Method::POST, "/mcp" | "/mcp/") => {
                let guard = in_flight.enter();
                let request = match ingress::read_body(request, max_body_bytes).await {
                    Ok(request) => request,
                    Err(refusal) => return refusal.into_response(),
                };
                let response = match direct.answer(&request).await {
                    Some(response) => response,
                    None => {
                        if let Err(refusal) = ingress::check_json_rpc(request.body()) {
                            return refusal.into_response();
                        }
                        mcp.handle(request.map(Full::new)).await
                    }
                };
                response.map(|body| {
                    body.map_frame(move |frame| {
                        let _held = &guard;
                        frame
                    })
                    .boxed()
                })
            }
            (&Method::DELETE, "/mcp" | "/mcp/") => {
                let headers = request.headers().clone();
                let mut response = mcp.handle(request).await;
                if response.status().is_success() {
                    direct.ended(&headers);
                }
                // The session is gone, not queued for deletion: rmcp says 202, and the official
                // Python SDK warns about anything but 200/204.
                if response.status() == StatusCode::ACCEPTED {
                    *response.status_mut() = StatusCode::NO_CONTENT;
                }
                response
            }
            (_, "/mcp" | "/mcp/") => mcp.handle(request).await,
            (&Method::GET | &Method::HEAD, "/healthz") => {
                json_response(StatusCode::OK, json!({ "status": "ok" }))
            }
            (&Method::GET | &Method::HEAD, "/readyz") => {
                let (ready, body) = gateway.readiness();
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                json_response(status, body)
            }
            (&Method::GET | &Method::HEAD, "/metrics") => {
                let text = gateway.metrics_text(in_flight.count.load(Ordering::Acquire));
                let mut response = Response::new(Full::new(Bytes::from(text)).boxed());
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
                );
                response
            }
            (_, "/healthz" | "/readyz" | "/metrics") => json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({ "error": "use GET" }),
            ),
            (_, path) => json_response(
                StatusCode::NOT_FOUND,
                json!({ "error": format!("no route for {path}; MCP is served at /mcp") }),
            ),
        }
    }
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
