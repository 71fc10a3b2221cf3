//! Prometheus metrics for `GET /metrics` (prometheus-client, text exposition): meta-tool calls by
//! tool and outcome, upstream tool calls and errors by domain, tool and code, call latency by
//! domain, HTTP requests in flight, reload outcomes and config generation, and, read at scrape
//! time, upstream state and tools per domain. Cardinality is bounded: the `tool` label only takes
//! names of registered tools, `domain` only configured domains, `code` the gateway's error codes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The media type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets (seconds): 1 ms … 60 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 60.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MetaLabels {
    meta_tool: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    domain: Arc<str>,
    tool: Arc<str>,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DomainLabels {
    domain: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

/// Every metric of one gateway.
pub struct Metrics {
    registry: Registry,
    meta_calls: Family<MetaLabels, Counter>,
    tool_calls: Family<CallLabels, Counter>,
    latency: Family<DomainLabels, Histogram>,
    reloads: Family<OutcomeLabels, Counter>,
    in_flight: Gauge,
    config_generation: Gauge,
    upstream_up: Family<DomainLabels, Gauge>,
    upstream_tools: Family<DomainLabels, Gauge>,
    /// Serialises scrape-time updates and encoding.
    scrape: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// Scrape-time state of one upstream.
#[derive(Debug, Clone)]
pub struct UpstreamSample {
    /// The domain.
    pub domain: String,
    /// Whether it is serving.
    pub up: bool,
    /// Tools it exposes.
    pub tools: usize,
}

impl Metrics {
    /// All metrics, registered, at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("gateway");
        let meta_calls = Family::<MetaLabels, Counter>::default();
        registry.register(
            "meta_tool_calls",
            "Meta-tool calls by meta-tool and outcome (ok or the error code)",
            meta_calls.clone(),
        );
        let tool_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "tool_calls",
            "Upstream tool calls through execute_tool by domain, tool and outcome (ok or the error code)",
            tool_calls.clone(),
        );
        let latency = Family::<DomainLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(LATENCY_BUCKETS)
        });
        registry.register(
            "tool_call_duration_seconds",
            "Upstream tool call latency by domain",
            latency.clone(),
        );
        let reloads = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reloads by outcome (applied, unchanged, rejected)",
            reloads.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "MCP POST requests being handled",
            in_flight.clone(),
        );
        let config_generation = Gauge::default();
        registry.register(
            "config_generation",
            "Generation of the configuration in force",
            config_generation.clone(),
        );
        let upstream_up = Family::<DomainLabels, Gauge>::default();
        registry.register(
            "upstream_up",
            "1 when the upstream is serving, else 0",
            upstream_up.clone(),
        );
        let upstream_tools = Family::<DomainLabels, Gauge>::default();
        registry.register(
            "upstream_tools",
            "Tools exposed per domain",
            upstream_tools.clone(),
        );
        Metrics {
            registry,
            meta_calls,
            tool_calls,
            latency,
            reloads,
            in_flight,
            config_generation,
            upstream_up,
            upstream_tools,
            scrape: Mutex::new(()),
        }
    }

    /// Counts a meta-tool call; `outcome` is `ok` or an error code.
    pub fn meta_tool_call(&self, meta_tool: &'static str, outcome: &'static str) {
        // Labels of shared and static strings: counting a call allocates nothing.
        self.meta_calls
            .get_or_create(&MetaLabels { meta_tool, outcome })
            .inc();
    }

    /// Counts an `execute_tool` call of a registered tool, with its upstream latency when the
    /// upstream was called.
    pub fn tool_call(
        &self,
        domain: &Arc<str>,
        tool: &Arc<str>,
        outcome: &'static str,
        elapsed: Option<Duration>,
    ) {
        self.tool_calls
            .get_or_create(&CallLabels {
                domain: domain.clone(),
                tool: tool.clone(),
                outcome,
            })
            .inc();
        if let Some(elapsed) = elapsed {
            self.latency
                .get_or_create(&DomainLabels {
                    domain: domain.clone(),
                })
                .observe(elapsed.as_secs_f64());
        }
    }

    /// Counts a reload; `outcome` is `applied`, `unchanged` or `rejected`.
    pub fn reload(&self, outcome: &str) {
        self.reloads
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The exposition, with the scrape-time values set first.
    pub fn render(
        &self,
        in_flight: usize,
        generation: u64,
        upstreams: &[UpstreamSample],
    ) -> String {
        let _serial = self
            .scrape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.in_flight
            .set(i64::try_from(in_flight).unwrap_or(i64::MAX));
        self.config_generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
        // Domains removed by a reload must not linger.
        self.upstream_up.clear();
        self.upstream_tools.clear();
        for sample in upstreams {
            let labels = DomainLabels {
                domain: Arc::from(sample.domain.as_str()),
            };
            self.upstream_up
                .get_or_create(&labels)
                .set(i64::from(sample.up));
            self.upstream_tools
                .get_or_create(&labels)
                .set(i64::try_from(sample.tools).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}
