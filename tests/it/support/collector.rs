//! A stand-in OpenTelemetry collector on 127.0.0.1: accepts OTLP/HTTP posts and keeps what it
//! received (path, content type, body), and counts every connection it accepted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// One request the collector received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request path (`/v1/traces`).
    pub path: String,
    /// Its `Content-Type`.
    pub content_type: String,
    /// The body (OTLP protobuf).
    pub body: Vec<u8>,
}

/// A collector serving until dropped.
pub struct Collector {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
    stop: CancellationToken,
}

impl Collector {
    /// Listens on a free port.
    pub async fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind collector");
        Collector::serve(listener)
    }

    /// Serves on `listener`.
    pub fn serve(listener: TcpListener) -> Collector {
        let addr = listener.local_addr().expect("local addr");
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let (store, count, token) = (received.clone(), connections.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    () = token.cancelled() => break,
                    accepted = listener.accept() => match accepted { Ok((s, _)) => s, Err(_) => continue },
                };
                count.fetch_add(1, Ordering::SeqCst);
                let store = store.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let store = store.clone();
                            async move {
                                let path = req.uri().path().to_string();
                                let content_type = req
                                    .headers()
                                    .get(http::header::CONTENT_TYPE)
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or_default()
                                    .to_string();
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes().to_vec())
                                    .unwrap_or_default();
                                if let Ok(mut all) = store.lock() {
                                    all.push(Received {
                                        path,
                                        content_type,
                                        body,
                                    });
                                }
                                Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                                    Bytes::new(),
                                )))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Collector {
            addr,
            received,
            connections,
            stop,
        }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
