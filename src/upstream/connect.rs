//! Opens a client session to one upstream: streamable HTTP through reqwest, or a stdio child in
//! its own process group (so `npx`/`uvx` grandchildren end with it), with its stderr logged.

use std::collections::HashMap;
use std::process::Stdio;

use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::model::ProtocolVersion;
use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};

use super::call_leg::CallLeg;
use super::client::{EventSender, UpstreamClient};
use super::leg_http::LegHttp;
use super::session::SessionCell;
use super::{ClientService, stderr};
use crate::config::{ProtocolMode, Secret, Transport, UpstreamConfig};

/// In-flight POSTs per HTTP upstream session (rmcp's default of 16 throttles JSON upstreams).
const MAX_CONCURRENT_REQUESTS: usize = 1024;
/// Variables of the gateway's own that a stdio child must not inherit: its configuration
/// (secrets) and systemd's notification socket.
const PRIVATE_VAR_PREFIXES: &[&str] = &["GATEWAY_", "NOTIFY_SOCKET"];

/// A freshly opened session.
pub(super) struct Opened {
    /// The running client.
    pub service: ClientService,
    /// The stdio child's process group: ended with its descendants if this is dropped before
    /// the connection takes it (a session that opened as its upstream was closed, or too late).
    pub group: GroupGuard,
    /// The gateway's own `tools/call` leg (HTTP upstreams).
    pub leg: Option<CallLeg>,
}

/// Kills a stdio child's process group when dropped, unless disarmed.
pub(super) struct GroupGuard(Option<i32>);

impl GroupGuard {
    /// The group, no longer killed by this guard.
    pub(super) fn disarm(&mut self) -> Option<i32> {
        self.0.take()
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            super::kill_group(group);
        }
    }
}

fn lifecycle(mode: ProtocolMode) -> ClientLifecycleMode {
    match mode {
        ProtocolMode::Auto => ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: Some(ProtocolVersion::V_2025_11_25),
        },
        ProtocolMode::Legacy => ClientLifecycleMode::Initialize,
        ProtocolMode::Modern => ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    }
}

/// The transport's response size limit: rmcp's default, or room for `max_result_bytes`.
fn transport_limit(config: &UpstreamConfig) -> usize {
    const DEFAULT: usize = 16 * 1024 * 1024;
    DEFAULT.max(config.limits.max_result_bytes.saturating_add(1024 * 1024))
}

/// Opens a session. Errors may contain secrets (reqwest repeats URLs): the caller scrubs them.
pub(super) async fn open(
    domain: &str,
    config: &UpstreamConfig,
    connect_timeout: std::time::Duration,
    registry_token: Option<&Secret>,
    events: Option<EventSender>,
) -> Result<Opened, String> {
    let handler = UpstreamClient::new(domain, ProtocolVersion::V_2025_11_25, events);
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
                // Results up to max_result_bytes must arrive whole, so the gateway can refuse
                // them itself without losing the session.
                .max_json_response_size(transport_limit(config))
                .max_sse_event_size(transport_limit(config))
                .max_concurrent_requests(MAX_CONCURRENT_REQUESTS);
            if let Some(token) = registry_token
                && !custom.contains_key(&http::header::AUTHORIZATION)
            {
                transport_config = transport_config.auth_header(token.expose());
            }
            let transport_config = transport_config.custom_headers(custom);
            // Building a client for https reads the system's CA store: off the runtime's
            // threads. One for rmcp's transport; the call leg's are one per connection worker
            // and one for calls from elsewhere, reqwest's (built alike with rmcp's) beside
            // hyper's own for plain HTTP.
            let workers = crate::connection_workers::worker_count();
            let tls = url.scheme() == "https";
            let mut clients = tokio::task::spawn_blocking(move || {
                (0..=workers + 1)
                    .map(|_| http_client(connect_timeout, tls))
                    .collect::<Result<Vec<_>, String>>()
            })
            .await
            .map_err(|e| format!("cannot build HTTP client: {e}"))??;
            let client = clients.remove(0);
            let plain = url
                .as_str()
                .parse::<http::Uri>()
                .is_ok_and(|uri| LegHttp::plain_for(&uri));
            let mut leg_clients: Vec<LegHttp> = clients
                .into_iter()
                .map(|fallback| match plain {
                    true => LegHttp::plain(connect_timeout, fallback),
                    false => LegHttp::reqwest(fallback),
                })
                .collect();
            let leg_client = leg_clients.remove(0);
            let session = SessionCell::default();
            let leg = CallLeg::new(
                leg_client,
                leg_clients,
                session.clone(),
                handler.clone(),
                transport_limit(config),
            );
            let transport = StreamableHttpClientTransport::with_client(
                super::forward::ForwardingClient::new(client, session),
                transport_config,
            );
            let service = handler
                .clone()
                .serve_with_lifecycle(transport, mode)
                .await
                .map_err(|e| {
                    format!(
                        "cannot open a session with {}: {e}",
                        crate::config::display_url(url)
                    )
                })?;
            handler.subscribe_if_modern(service.peer());
            Ok(Opened {
                service,
                group: GroupGuard(None),
                leg: Some(leg),
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
            for (name, _) in std::env::vars_os() {
                let private = name
                    .to_str()
                    .is_some_and(|n| PRIVATE_VAR_PREFIXES.iter().any(|p| n.starts_with(p)));
                if private {
                    cmd.env_remove(&name);
                }
            }
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
            let process_group = transport.id().and_then(|pid| i32::try_from(pid).ok());
            if let Some(stderr) = stderr {
                // The child may print its own secrets (its env); they never reach the log.
                let scrubber = super::scrub::Scrubber::new(config, registry_token);
                tokio::spawn(stderr::forward(domain.to_string(), stderr, scrubber));
            }
            // Until the connection takes it, the group is ours to end: on a failed handshake,
            // when this future is dropped mid-way (timeout, shutdown), and when the session it
            // opened is dropped unused. rmcp's own clean-up of the child is a task on the
            // session's runtime, which may stop before that task runs.
            let group = GroupGuard(process_group);
            let service = handler
                .clone()
                .serve_with_lifecycle(transport, mode)
                .await
                .map_err(|error| {
                    format!("{command} did not complete the MCP handshake: {error}")
                })?;
            handler.subscribe_if_modern(service.peer());
            Ok(Opened {
                service,
                group,
                leg: None,
            })
        }
    }
}

/// The HTTP client of an upstream connection (rmcp's transport and the call leg build theirs
/// alike). Only a client for an `https` upstream loads the system's trusted roots (a parsed
/// copy per client: ~70 KiB and a few milliseconds of start-up); a plain-HTTP one trusts none.
pub(super) fn http_client(
    connect_timeout: std::time::Duration,
    tls: bool,
) -> Result<reqwest::Client, String> {
    let builder = reqwest::Client::builder().connect_timeout(connect_timeout);
    let builder = if tls {
        builder
    } else {
        builder.tls_certs_only(std::iter::empty())
    };
    builder
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))
}
