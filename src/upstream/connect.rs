//! Opens a client session to one upstream: streamable HTTP through reqwest, or a stdio child in
//! its own process group (so `npx`/`uvx` grandchildren end with it), with its stderr logged.

use std::collections::HashMap;
use std::process::Stdio;

use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::ClientService;
use crate::config::{ProtocolMode, Secret, Transport, UpstreamConfig};

/// In-flight POSTs per HTTP upstream session (rmcp's default of 16 throttles JSON upstreams).
const MAX_CONCURRENT_REQUESTS: usize = 1024;
/// Longest stderr line of a child that is logged (the rest is cut).
const MAX_STDERR_LINE: usize = 2000;

/// The identity the gateway presents to upstreams.
fn client_info() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("mcp-gateway", env!("CARGO_PKG_VERSION")),
    )
}

fn lifecycle(mode: ProtocolMode) -> ClientLifecycleMode {
    match mode {
        ProtocolMode::Auto => ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: None,
        },
        ProtocolMode::Legacy => ClientLifecycleMode::Initialize,
        ProtocolMode::Modern => ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    }
}

/// Opens a session; the error text is safe to log (no header values or env values).
pub(super) async fn open(
    domain: &str,
    config: &UpstreamConfig,
    registry_token: Option<&Secret>,
) -> Result<ClientService, String> {
    let mode = lifecycle(config.protocol);
    match &config.transport {
        Transport::Http { url, headers } => {
            let mut custom = HashMap::new();
            for (name, value) in headers {
                let name = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("invalid header name {name}"))?;
                let value = http::HeaderValue::from_str(value.expose())
                    .map_err(|_| format!("invalid value for header {name}"))?;
                custom.insert(name, value);
            }
            let mut transport_config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                .reinit_on_expired_session(true)
                .max_concurrent_requests(MAX_CONCURRENT_REQUESTS);
            if let Some(token) = registry_token
                && !custom.contains_key(&http::header::AUTHORIZATION)
            {
                transport_config = transport_config.auth_header(token.expose());
            }
            let transport_config = transport_config.custom_headers(custom);
            let client = reqwest::Client::builder()
                .connect_timeout(super::CONNECT_TIMEOUT)
                .build()
                .map_err(|e| format!("cannot build HTTP client: {e}"))?;
            let transport = StreamableHttpClientTransport::with_client(client, transport_config);
            client_info()
                .serve_with_lifecycle(transport, mode)
                .await
                .map_err(|e| {
                    format!(
                        "cannot open a session with {}: {e}",
                        crate::config::display_url(url)
                    )
                })
        }
        Transport::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args);
            for (key, value) in env {
                cmd.env(key, value.expose());
            }
            if let Some(cwd) = cwd {
                cmd.current_dir(cwd);
            }
            let mut wrapped = CommandWrap::from(cmd);
            wrapped.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
            let (transport, stderr) = TokioChildProcess::builder(wrapped)
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start {command}: {e}"))?;
            if let Some(stderr) = stderr {
                tokio::spawn(log_stderr(domain.to_string(), stderr));
            }
            client_info()
                .serve_with_lifecycle(transport, mode)
                .await
                .map_err(|e| format!("{command} did not complete the MCP handshake: {e}"))
        }
    }
}

/// Forwards a child's stderr to the log, one event per line, until the child closes it.
async fn log_stderr(domain: String, stderr: tokio::process::ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(mut line)) = lines.next_line().await {
        if line.len() > MAX_STDERR_LINE {
            let cut = (0..=MAX_STDERR_LINE)
                .rev()
                .find(|&i| line.is_char_boundary(i))
                .unwrap_or(0);
            line.truncate(cut);
        }
        tracing::info!(target: "mcp_gateway::upstream::stderr", domain = %domain, "{line}");
    }
}
