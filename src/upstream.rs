//! One configured upstream MCP server: its long-lived client session, its last tool listing and
//! its health, shared by every downstream client and every call.
//!
//! The session is opened lazily and reopened when it broke (a stdio child that exited, an HTTP
//! transport error). Calls never take a lock: they clone the current connection out of an
//! `ArcSwapOption`. Only (re)connecting is serialised.

mod call_leg;
mod client;
mod connect;
mod forward;
mod http_post;
mod leg_http;
mod listing;
mod restart;
mod scrub;
mod session;
mod session_thread;
mod size;
mod slots;
mod stderr;
mod text_definition;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, ClientRequest, ListToolsRequest,
    PaginatedRequestParams, ServerResult, Tool,
};
use rmcp::service::{PeerRequestOptions, RunningService, ServiceError};
use rmcp::{Peer, RoleClient};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

pub use client::{EventSender, ToolChanges};
pub(crate) use size::result_bytes;

use crate::answer::ToolAnswer;
use crate::argument_text::ArgumentText;
use crate::config::{Limits, Secret, UpstreamConfig};
use crate::cpu_work;
use crate::telemetry::spans;
use crate::telemetry::trace_context::TraceHeaders;
use crate::validation::ListedTool;
use scrub::Scrubber;
use slots::CallSlots;
use tracing::Instrument;

/// Most `tools/list` pages read from one upstream: a hostile cursor loop ends here.
pub const MAX_LIST_PAGES: usize = 1000;
/// After a failed connect, callers within this window get the same error at once instead of
/// queueing for their own attempt (a black-holed upstream must not stall every caller in turn).
pub const CONNECT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long a closing session may take to end by itself before its process group is killed
/// (rmcp closes a child's stdin, waits 3 s, then sends SIGTERM).
pub const CLOSE_GRACE: Duration = Duration::from_secs(4);
/// How much longer than its call timeout a retired upstream waits for in-flight calls before it
/// is closed anyway.
pub const RETIRE_GRACE: Duration = Duration::from_secs(5);

/// The client-side service type, the same for HTTP and stdio (rmcp erases the transport).
pub(crate) type ClientService = RunningService<RoleClient, client::UpstreamClient>;

/// The state of an upstream as shown by `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamState {
    /// Not tried yet (start-up in progress).
    Pending,
    /// Connected, and the last listing succeeded.
    Ok,
    /// The last connect or listing failed.
    Down {
        /// Why, without secrets.
        error: String,
    },
}

impl UpstreamState {
    /// `pending`, `ok` or `down`.
    pub fn label(&self) -> &'static str {
        match self {
            UpstreamState::Pending => "pending",
            UpstreamState::Ok => "ok",
            UpstreamState::Down { .. } => "down",
        }
    }
}

/// Why a call through an upstream failed (a tool result the upstream produced is not a failure).
#[derive(Debug, Clone, PartialEq)]
pub enum CallFailure {
    /// The upstream answered with a JSON-RPC error.
    Rejected {
        /// Its code.
        code: i32,
        /// Its message.
        message: String,
    },
    /// No answer: cannot connect, connection dropped, transport closed.
    Unavailable(String),
    /// No answer within the call timeout; the call was cancelled upstream.
    TimedOut(Duration),
    /// Every call slot stayed taken for the whole queue timeout.
    Busy {
        /// How long the call waited.
        waited: Duration,
        /// The slots.
        max_concurrency: usize,
    },
    /// The result exceeded `max_result_bytes`; it was dropped.
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The downstream client cancelled; the cancellation was forwarded upstream.
    Cancelled,
}

/// What connecting remembers between attempts.
#[derive(Debug, Default)]
struct ConnectState {
    /// Time and error of the last failed connect.
    last_failure: Option<(Instant, String)>,
    /// Delays restarts after sessions that ended quickly.
    restart: restart::RestartBackoff,
}

/// Sends SIGKILL to a stdio child's whole process group (it and everything it started).
///
/// Linux never reuses a number as a PID while a process group of that number has members, so
/// while any of the child's descendants lives, the group is still ours. Once the group is empty
/// the number may be recycled: a process whose PID is the group number but which is not our
/// child is someone else's group leader, and is left alone.
pub(crate) fn kill_group(group: i32) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let recycled = std::fs::read_to_string(format!("/proc/{group}/stat")).is_ok_and(|stat| {
        let parent = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<u32>().ok());
        parent != Some(std::process::id())
    });
    if !recycled {
        // ESRCH (already gone) is the normal case after a clean exit.
        let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
    }
}

/// A live session with an upstream.
pub(crate) struct Connection {
    peer: Peer<RoleClient>,
    /// Owned so the session lives as long as the connection; taken out to close it.
    service: Mutex<Option<ClientService>>,
    /// The stdio child's process group; killed when the connection goes away.
    process_group: Option<i32>,
    /// The gateway's own `tools/call` leg (HTTP upstreams).
    leg: Option<Arc<call_leg::CallLeg>>,
}

impl Connection {
    fn is_closed(&self) -> bool {
        self.peer.is_transport_closed()
    }

    /// Closes the session: ends the HTTP session (DELETE) or the stdio child and its group.
    async fn close(&self) {
        let service = self.service.lock().ok().and_then(|mut guard| guard.take());
        if let Some(mut service) = service {
            let _ = service.close_with_timeout(CLOSE_GRACE).await;
        }
        if let Some(group) = self.process_group {
            kill_group(group);
        }
    }
}

impl Drop for Connection {
    /// The last holder is gone (an upstream removed by a reload, or a broken session replaced):
    /// make sure no descendant of a stdio child survives it.
    fn drop(&mut self) {
        if let Some(group) = self.process_group {
            kill_group(group);
        }
    }
}

/// One configured upstream.
pub struct Upstream {
    /// The domain (config table key).
    domain: String,
    /// Its validated configuration.
    config: UpstreamConfig,
    /// Token for upstreams with no `Authorization` header of their own.
    registry_token: Option<Secret>,
    /// Removes this upstream's secrets from error text.
    scrubber: Scrubber,
    /// Where list_changed notifications go.
    events: Option<EventSender>,
    /// The live session, if any.
    connection: ArcSwapOption<Connection>,
    /// Serialises (re)connects so concurrent callers open one session, not several; holds the
    /// time and error of the last failed attempt and the restart backoff.
    connect_lock: tokio::sync::Mutex<ConnectState>,
    /// Set by [`Upstream::close`] and [`Upstream::retire`]: no session may be opened afterwards.
    closed: AtomicBool,
    /// Cancelled with `closed`: abandons a connect in progress.
    closing: CancellationToken,
    /// The last successful listing (kept while the upstream is down, so its tools stay routable).
    tools: ArcSwapOption<Vec<Arc<ListedTool>>>,
    /// The names of its tools with `x-mcp-header` annotations (rmcp posts their calls).
    annotated: ArcSwap<HashSet<Box<str>>>,
    /// Health for `/readyz`.
    state: Mutex<UpstreamState>,
    /// Timeouts and limits in force (reloads change them without reconnecting).
    limits: ArcSwap<Limits>,
    /// At most `max_concurrency` calls in flight.
    slots: CallSlots,
    /// Incoming headers each call forwards (`forward_headers`).
    forward: Vec<http::HeaderName>,
    /// Where its sessions run, whichever connection worker's call opens them: a thread of its
    /// own for a stdio upstream, else the runtime it was configured on (the main one).
    home: session_thread::SessionHome,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// A not-yet-connected upstream; `events` receives its list_changed notifications.
    pub fn new(
        domain: String,
        config: UpstreamConfig,
        registry_token: Option<Secret>,
        events: Option<EventSender>,
    ) -> Upstream {
        let limits = config.limits;
        let forward = config
            .forward_headers
            .iter()
            .filter_map(|name| http::HeaderName::from_bytes(name.as_bytes()).ok())
            .collect();
        let stdio = matches!(config.transport, crate::config::Transport::Stdio { .. });
        Upstream {
            scrubber: Scrubber::new(&config, registry_token.as_ref()),
            domain,
            config,
            registry_token,
            events,
            connection: ArcSwapOption::empty(),
            connect_lock: tokio::sync::Mutex::new(ConnectState::default()),
            closed: AtomicBool::new(false),
            closing: CancellationToken::new(),
            tools: ArcSwapOption::empty(),
            annotated: ArcSwap::default(),
            state: Mutex::new(UpstreamState::Pending),
            limits: ArcSwap::from_pointee(limits),
            slots: CallSlots::new(limits.max_concurrency),
            forward,
            home: session_thread::SessionHome::for_upstream(stdio),
        }
    }

    /// The domain name.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Whether it is reached over streamable HTTP (not a stdio child).
    pub fn is_http(&self) -> bool {
        matches!(self.config.transport, crate::config::Transport::Http { .. })
    }

    /// The timeouts and limits in force.
    pub fn limits(&self) -> Limits {
        **self.limits.load()
    }

    /// Applies new timeouts and limits (a reload that kept this upstream's session).
    pub fn apply_limits(&self, limits: Limits) {
        if self.limits() != limits {
            self.slots.resize(limits.max_concurrency);
            self.limits.store(Arc::new(limits));
        }
    }

    /// Calls in flight now.
    pub fn calls_in_flight(&self) -> usize {
        self.slots.in_use()
    }

    /// The configuration this upstream was built from.
    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// Whether a session for `config` (and `token`) would be the same session as this one's:
    /// everything but the description and curation must match (a new description cap re-lists
    /// through a new session), and the registry token only matters where it is sent (HTTP
    /// upstreams without an `Authorization` header of their own).
    pub fn same_session(&self, config: &UpstreamConfig, token: Option<&Secret>) -> bool {
        self.config.transport == config.transport
            && self.config.protocol == config.protocol
            && self.config.max_description_chars == config.max_description_chars
            && self.config.forward_headers == config.forward_headers
            && uses_token(config).then_some(token)
                == uses_token(&self.config).then_some(self.registry_token.as_ref())
    }

    /// The current health.
    pub fn state(&self) -> UpstreamState {
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(UpstreamState::Pending)
    }

    fn set_state(&self, state: UpstreamState) {
        if let Ok(mut guard) = self.state.lock() {
            *guard = state;
        }
    }

    /// Sets the listing without asking the upstream: for offline evaluation and benchmarks of
    /// the registry (search quality, rebuild time) over recorded catalogs.
    pub fn set_listing(&self, tools: Vec<Tool>) {
        let cap = self.config.max_description_chars;
        let tools = tools
            .into_iter()
            .map(|tool| ListedTool::new(crate::sanitize::tool(tool, cap)))
            .collect();
        self.tools.store(Some(Arc::new(tools)));
        self.set_state(UpstreamState::Ok);
    }

    /// The last successful listing, if any.
    pub fn tools(&self) -> Option<Arc<Vec<Arc<ListedTool>>>> {
        self.tools.load_full()
    }

    /// The live connection, opening one if there is none or the last one closed. Unless `retry`
    /// is set (refreshes), a connect that failed moments ago is not attempted again.
    async fn connection(&self, retry: bool) -> Result<Arc<Connection>, String> {
        match self.connection.load_full().filter(|c| !c.is_closed()) {
            Some(conn) => Ok(conn),
            // Boxed: opening a session is rare, and its state would otherwise be carried (and
            // copied) in the future of every call.
            None => Box::pin(self.open_connection(retry)).await,
        }
    }

    /// [`Upstream::connection`] when there is no live connection: opens one, one caller at a
    /// time.
    async fn open_connection(&self, retry: bool) -> Result<Arc<Connection>, String> {
        let mut state = self.connect_lock.lock().await;
        // Another caller may have connected, or just failed to, while this one waited.
        if let Some(conn) = self.connection.load_full().filter(|c| !c.is_closed()) {
            return Ok(conn);
        }
        if self.closed.load(Ordering::Acquire) {
            return Err("the upstream was removed or the gateway is shutting down".into());
        }
        // The previous session, if any, has ended: a quick end delays the next start.
        state.restart.ended();
        if let Some(hold) = state.restart.hold() {
            self.set_state(UpstreamState::Down {
                error: hold.clone(),
            });
            return Err(hold);
        }
        if let Some((at, error)) = state.last_failure.as_ref()
            && !retry
            && at.elapsed() < CONNECT_RETRY_AFTER
        {
            return Err(error.clone());
        }
        if let Some(old) = self.connection.swap(None) {
            old.close().await;
        }
        let connect_timeout = self.limits().connect_timeout;
        let (domain, config) = (self.domain.clone(), self.config.clone());
        let (token, events) = (self.registry_token.clone(), self.events.clone());
        // On a task of its own: rmcp's session task adopts the current span, which would then
        // stay open as long as the session. A session belongs to no request's trace. On its
        // home: a session outlives the connection worker whose call opened it.
        let open = async move {
            connect::open(&domain, &config, connect_timeout, token.as_ref(), events).await
        };
        let opening = AbortOnDropHandle::new(match self.home.handle(&self.domain) {
            Some(home) => home.spawn(open),
            None => tokio::spawn(open),
        });
        let connecting = tokio::time::timeout(connect_timeout, async {
            opening
                .await
                .unwrap_or_else(|error| Err(format!("the connect task failed: {error}")))
        });
        let opened = tokio::select! {
            opened = connecting => opened
                .unwrap_or_else(|_| Err(format!("no session within {}", humantime::format_duration(connect_timeout)))),
            () = self.closing.cancelled() => Err("the upstream was removed or the gateway is shutting down".into()),
        };
        let mut opened = match opened {
            Ok(opened) => opened,
            Err(error) => {
                let error = self.scrubber.scrub(&error);
                state.last_failure = Some((Instant::now(), error.clone()));
                return Err(error);
            }
        };
        state.last_failure = None;
        let conn = Arc::new(Connection {
            peer: opened.service.peer().clone(),
            service: Mutex::new(Some(opened.service)),
            process_group: opened.group.disarm(),
            leg: opened.leg.map(Arc::new),
        });
        if self.closed.load(Ordering::Acquire) {
            conn.close().await;
            return Err("the upstream was removed or the gateway is shutting down".into());
        }
        self.connection.store(Some(conn.clone()));
        state.restart.opened();
        tracing::info!(domain = %self.domain, "upstream session opened");
        Ok(conn)
    }

    /// Forgets `conn` if it is still the current connection, so the next use reconnects. Used
    /// after transport errors: rmcp's HTTP worker can outlive a session the upstream dropped.
    fn discard(&self, conn: &Arc<Connection>) {
        let current = self.connection.load();
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            self.connection.compare_and_swap(&*current, None);
            tracing::info!(domain = %self.domain, "upstream session discarded after a transport error");
        }
    }

    /// Connects if needed and lists every tool (all pages), recording the outcome, inside a
    /// `gateway.upstream.list` span. `Ok(false)` when the listing is exactly the previous one
    /// (every definition unchanged, same order): nothing needs rebuilding.
    pub async fn refresh_tools(&self) -> Result<bool, String> {
        let span = spans::upstream_list();
        spans::set(&span, spans::DOMAIN, || self.domain.clone());
        let outcome = self.list_and_record().instrument(span.clone()).await;
        match &outcome {
            Ok((tools, _)) => spans::set_count(&span, spans::RESULT_COUNT, tools.len()),
            Err(_) => spans::fail(&span, "upstream_unavailable"),
        }
        outcome.map(|(_, changed)| changed)
    }

    /// The tools of the current listing whose input schema carries `x-mcp-header` annotations.
    fn annotated_tools(&self) -> Arc<HashSet<Box<str>>> {
        self.annotated.load_full()
    }

    /// The stored form of a fresh listing, in order: each definition unchanged since
    /// `previous` kept as it was, the others converted (spread over the rebuild threads when
    /// there are many), with the names of those whose input schema carries `x-mcp-header`
    /// annotations. Definitions that are not valid are logged and skipped.
    fn adopt(
        &self,
        previous: &[Arc<ListedTool>],
        listed: Vec<listing::Listed>,
    ) -> (Vec<Arc<ListedTool>>, HashSet<Box<str>>) {
        let known = listing::Known::new(previous);
        let cap = self.config.max_description_chars;
        let adopted = cpu_work::map_in_order(listed, cpu_work::MIN_PARALLEL_CHUNK, |listed| {
            known.adopt(listed, cap).map(|tool| {
                let annotated = tool
                    .input_schema_json()
                    .contains(listing::HEADER_ANNOTATION);
                (tool, annotated)
            })
        });
        let mut annotated = HashSet::new();
        let mut tools: Vec<Arc<ListedTool>> = adopted
            .into_iter()
            .filter_map(|adopted| match adopted {
                Ok((tool, marked)) => {
                    if marked {
                        annotated.insert(Box::from(tool.name()));
                    }
                    Some(tool)
                }
                Err(error) => {
                    tracing::warn!(domain = %self.domain, %error,
                        "upstream listed a tool that is not a valid definition: skipped");
                    None
                }
            })
            .collect();
        // The collect may reuse a larger buffer: give the excess back rather than keep it for
        // the listing's life.
        tools.shrink_to_fit();
        (tools, annotated)
    }

    async fn list_and_record(&self) -> Result<(Arc<Vec<Arc<ListedTool>>>, bool), String> {
        let discovery_timeout = self.limits().discovery_timeout;
        let outcome = tokio::time::timeout(discovery_timeout, async {
            let conn = self.connection(true).await?;
            match list_all_tools(&conn.peer, self.annotated_tools()).await {
                Ok(tools) => Ok(tools),
                Err((error, transport)) => {
                    if transport {
                        self.discard(&conn);
                    }
                    Err(self.scrubber.scrub(&error))
                }
            }
        })
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "tools/list took longer than {}",
                humantime::format_duration(discovery_timeout)
            ))
        });
        match outcome {
            Ok(listed) => {
                let old = self.tools.load_full();
                let previous = old.as_deref().map_or(&[][..], Vec::as_slice);
                // Parsing and sanitising 10,000 changed definitions takes tens of milliseconds:
                // spread over the rebuild threads, off this runtime worker.
                let large = listed.len() >= 2 * cpu_work::MIN_PARALLEL_CHUNK;
                let (tools, annotated) =
                    cpu_work::on_rebuild_threads(large, || self.adopt(previous, listed));
                let changed = old.is_none()
                    || previous.len() != tools.len()
                    || previous.iter().zip(&tools).any(|(a, b)| !Arc::ptr_eq(a, b));
                let tools = Arc::new(tools);
                if changed {
                    self.annotated.store(Arc::new(annotated));
                    self.tools.store(Some(tools.clone()));
                }
                self.set_state(UpstreamState::Ok);
                Ok((tools, changed))
            }
            Err(error) => {
                tracing::warn!(domain = %self.domain, %error, "upstream listing failed");
                self.set_state(UpstreamState::Down {
                    error: error.clone(),
                });
                Err(error)
            }
        }
    }

    /// Calls a tool under its upstream (original) name, forwarding cancellation, within this
    /// upstream's limits (a call slot, `call_timeout`, `max_result_bytes`). The upstream's
    /// response is returned unchanged, with its JSON text when the call leg read it.
    /// `arguments_text` must be the text `params`' arguments were parsed from: it is posted in
    /// their place when the gateway's own leg posts the call (where rmcp posts it, rmcp writes
    /// the parsed copy).
    pub async fn call_tool(
        &self,
        params: CallToolRequestParams,
        arguments_text: Option<&ArgumentText>,
        cancel: &CancellationToken,
        incoming: Option<&http::HeaderMap>,
        trace: Option<&TraceHeaders>,
    ) -> Result<ToolAnswer, CallFailure> {
        let limits = self.limits();
        let queued = Instant::now();
        let slot = tokio::select! {
            slot = self.slots.acquire(limits.queue_timeout) => slot,
            () = cancel.cancelled() => return Err(CallFailure::Cancelled),
        };
        let Some(_slot) = slot else {
            return Err(CallFailure::Busy {
                waited: queued.elapsed(),
                max_concurrency: limits.max_concurrency,
            });
        };
        let conn = self
            .connection(false)
            .await
            .map_err(CallFailure::Unavailable)?;
        let mut params = params;
        if let Some(trace) = trace {
            // SEP-414: the trace context rides in `_meta` on every transport.
            trace.write_meta(&mut params.meta.get_or_insert_with(Default::default).0.0);
        }
        let mut forwarded = match incoming {
            Some(incoming) if !self.forward.is_empty() => forward::select(incoming, &self.forward),
            _ => http::HeaderMap::new(),
        };
        if let Some(trace) = trace.filter(|_| self.is_http()) {
            trace.write_headers(&mut forwarded);
        }
        let started = Instant::now();
        let prepared = conn.leg.as_ref().and_then(|leg| {
            let annotated = self.annotated.load();
            let call = (&mut params, arguments_text);
            let prepared = leg.prepare(&conn.peer, call, forwarded.clone(), &annotated)?;
            Some((leg, prepared))
        });
        let call = Call {
            params,
            forwarded,
            cancel,
            started,
            limits,
        };
        let answer = match prepared {
            Some((leg, prepared)) => self.call_on_leg(&conn, leg, &prepared, call).await?,
            None => Box::pin(self.call_through_rmcp(&conn, call)).await?,
        };
        let answer: ToolAnswer = match answer {
            Ok((ServerResult::CallToolResult(result), Some(text))) => {
                Ok(ToolAnswer::with_text(result, text))
            }
            Ok((ServerResult::CallToolResult(result), None)) => {
                Ok(CallToolResponse::Complete(result).into())
            }
            Ok((ServerResult::InputRequiredResult(result), _)) => {
                Ok(CallToolResponse::InputRequired(result).into())
            }
            Ok((ServerResult::CreateTaskResult(result), _)) => {
                Ok(CallToolResponse::Task(result).into())
            }
            Ok(_) => Err(CallFailure::Unavailable(
                "the upstream sent a response that is not a tool result".into(),
            )),
            Err(ServiceError::McpError(error)) => Err(CallFailure::Rejected {
                code: error.code.0,
                message: self.scrubber.scrub(&error.message),
            }),
            // A rate limit is not an outage: the session and the upstream's health stay.
            Err(error) => match rate_limit(&error) {
                Some(after) => Err(CallFailure::Unavailable(call_leg::rate_limited(
                    after.as_deref(),
                ))),
                None => Err(self.lost(&conn, &error)),
            },
        }?;
        let bytes = answer.result_bytes();
        if bytes > limits.max_result_bytes {
            return Err(CallFailure::TooLarge {
                bytes,
                limit: limits.max_result_bytes,
            });
        }
        Ok(answer)
    }

    /// The call posted by the gateway's own HTTP leg: its answer, or the failure that ended
    /// it. A call the upstream refused for an expired session goes to rmcp, which renews the
    /// session and posts it (the upstream never ran it).
    async fn call_on_leg(
        &self,
        conn: &Arc<Connection>,
        leg: &Arc<call_leg::CallLeg>,
        prepared: &call_leg::Prepared,
        call: Call<'_>,
    ) -> Result<Result<Reply, ServiceError>, CallFailure> {
        let answer = tokio::select! {
            answer = leg.call(prepared, &conn.peer) => answer,
            () = call.cancel.cancelled() => {
                leg.cancel(prepared, "cancelled by the gateway's client");
                return Err(CallFailure::Cancelled);
            }
            () = tokio::time::sleep(call.limits.call_timeout) => {
                leg.cancel(prepared, "gateway call timeout");
                return Err(CallFailure::TimedOut(call.started.elapsed()));
            }
        };
        match answer {
            Ok(answer) => Ok(answer.map_err(ServiceError::McpError)),
            Err(call_leg::LegFailure::NotTaken) => {
                Box::pin(self.call_through_rmcp(conn, call)).await
            }
            Err(call_leg::LegFailure::Lost(reason)) => Err(self.lost_reason(conn, reason)),
            Err(call_leg::LegFailure::Refused(reason)) => {
                Err(CallFailure::Unavailable(self.scrubber.scrub(&reason)))
            }
            Err(call_leg::LegFailure::TooLarge { bytes }) => Err(CallFailure::TooLarge {
                bytes,
                limit: call.limits.max_result_bytes,
            }),
        }
    }

    /// The call through rmcp's client (stdio, and calls the leg leaves to rmcp): its answer,
    /// or the failure that ended it (cancelled, timed out, session lost).
    async fn call_through_rmcp(
        &self,
        conn: &Arc<Connection>,
        call: Call<'_>,
    ) -> Result<Result<Reply, ServiceError>, CallFailure> {
        let mut request = CallToolRequest::new(call.params);
        if !call.forwarded.is_empty() {
            // Rides in the request's extensions to this one POST; never serialised.
            request
                .extensions
                .insert(forward::ForwardedHeaders(call.forwarded));
        }
        let request = ClientRequest::CallToolRequest(request);
        let mut handle = match conn
            .peer
            .send_cancellable_request(request, PeerRequestOptions::no_options())
            .await
        {
            Ok(handle) => handle,
            Err(error) => return Err(self.lost(conn, &error)),
        };
        let remaining = call
            .limits
            .call_timeout
            .saturating_sub(call.started.elapsed());
        tokio::select! {
            response = &mut handle.rx => Ok(response
                .unwrap_or(Err(ServiceError::TransportClosed))
                .map(|result| (result, None))),
            () = call.cancel.cancelled() => {
                let _ = handle.cancel(Some("cancelled by the gateway's client".into())).await;
                Err(CallFailure::Cancelled)
            }
            () = tokio::time::sleep(remaining) => {
                let _ = handle.cancel(Some("gateway call timeout".into())).await;
                Err(CallFailure::TimedOut(call.started.elapsed()))
            }
        }
    }

    /// A call found the session broken: forget it, mark the upstream down (the recovery loop
    /// re-lists it once it answers) and describe the failure.
    fn lost(&self, conn: &Arc<Connection>, error: &ServiceError) -> CallFailure {
        self.lost_reason(conn, describe(error))
    }

    /// As [`Upstream::lost`], for a failure described by `reason` (not yet scrubbed).
    fn lost_reason(&self, conn: &Arc<Connection>, reason: String) -> CallFailure {
        self.discard(conn);
        let reason = self.scrubber.scrub(&reason);
        self.set_state(UpstreamState::Down {
            error: reason.clone(),
        });
        CallFailure::Unavailable(reason)
    }

    /// Closes the session for good (stdio children and their descendants end); later calls fail.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.closing.cancel();
        let _connecting = self.connect_lock.lock().await;
        if let Some(conn) = self.connection.swap(None) {
            conn.close().await;
        }
    }

    /// Takes an upstream out of service after a reload removed or replaced it: no new session is
    /// opened, calls already running finish (bounded by the call timeout and [`RETIRE_GRACE`]),
    /// then it is closed.
    pub fn retire(self: Arc<Self>) {
        self.closed.store(true, Ordering::Release);
        tokio::spawn(async move {
            let deadline = Instant::now() + self.limits().call_timeout + RETIRE_GRACE;
            // In-flight calls and refreshes hold clones; otherwise this task holds the last one.
            while Arc::strong_count(&self) > 1 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tracing::info!(domain = %self.domain, "retired upstream closed");
            self.close().await;
        });
    }
}

/// An upstream's result, with the JSON text of a tool result when the call leg read it.
type Reply = (ServerResult, Option<Box<serde_json::value::RawValue>>);

/// One call on its way to the upstream, with what bounds it.
struct Call<'a> {
    params: CallToolRequestParams,
    /// The caller's forwarded headers and the trace context (HTTP only).
    forwarded: http::HeaderMap,
    cancel: &'a CancellationToken,
    /// When the call was sent (`call_timeout` runs from here).
    started: Instant,
    limits: Limits,
}

/// Whether the registry token would be sent to this upstream.
fn uses_token(config: &UpstreamConfig) -> bool {
    match &config.transport {
        crate::config::Transport::Http { headers, .. } => !headers.contains_key("authorization"),
        crate::config::Transport::Stdio { .. } => false,
    }
}

/// Lists every page, bypassing rmcp's response cache so a refresh sees the upstream's truth and a
/// dead upstream is reported as dead rather than served from a stale cache. The error says
/// whether it was a transport failure (the session should be reopened).
async fn list_all_tools(
    peer: &Peer<RoleClient>,
    to_rmcp: Arc<HashSet<Box<str>>>,
) -> Result<Vec<listing::Listed>, (String, bool)> {
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_LIST_PAGES {
        let params = PaginatedRequestParams::default().with_cursor(cursor.take());
        let mut request = ListToolsRequest::with_param(params);
        // Over HTTP the page's tools arrive as text (see `listing`); stdio ignores the tap.
        let tap = listing::ListingTap::new(to_rmcp.clone());
        request.extensions.insert(tap.clone());
        let request = ClientRequest::ListToolsRequest(request);
        let page = peer.send_request(request).await.map_err(|e| {
            let transport = !matches!(e, ServiceError::McpError(_));
            (describe(&e), transport)
        })?;
        match page {
            ServerResult::ListToolsResult(page) => {
                let mut parsed = page.tools.into_iter().map(listing::Listed::Parsed);
                // The page in its order: texts, and rmcp's tools in the gaps they left.
                for slot in tap.take().into_iter().flatten() {
                    match slot {
                        Some(text) => tools.push(listing::Listed::Text(text)),
                        None => tools.extend(parsed.next()),
                    }
                }
                tools.extend(parsed);
                match page.next_cursor {
                    Some(next) if !next.is_empty() => cursor = Some(next),
                    _ => return Ok(tools),
                }
            }
            _ => {
                return Err((
                    "the upstream answered tools/list with something else".into(),
                    false,
                ));
            }
        }
    }
    Err((
        format!("tools/list returned more than {MAX_LIST_PAGES} pages"),
        false,
    ))
}

/// The `Retry-After` (if any) of the HTTP 429 rmcp's client hit, if that is why a request
/// failed.
fn rate_limit(error: &ServiceError) -> Option<Option<String>> {
    use rmcp::transport::streamable_http_client::{HttpStatusError, StreamableHttpError};
    let ServiceError::TransportSend(error) = error else {
        return None;
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error.error.as_ref());
    while let Some(current) = source {
        let status = match current.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
            Some(StreamableHttpError::HttpStatus(status)) => Some(status),
            _ => current.downcast_ref::<HttpStatusError>(),
        };
        if let Some(status) = status.filter(|s| s.status == 429) {
            return Some(status.retry_after.clone());
        }
        source = current.source();
    }
    None
}

/// A one-line description of a client error, for logs and error envelopes (not yet scrubbed).
fn describe(error: &ServiceError) -> String {
    match error {
        ServiceError::McpError(e) => format!("error {}: {}", e.code.0, e.message),
        ServiceError::TransportClosed => "the connection to the upstream is closed".into(),
        other => other.to_string(),
    }
}
