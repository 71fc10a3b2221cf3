//! `refresh_registry`: re-list every upstream and report what changed. When not one upstream
//! answered, the result is a `refresh_error` (the previous tools keep serving).

use std::sync::Arc;

use rmcp::model::{CallToolResult, JsonObject};
use serde::Deserialize;

use super::args::parse;
use super::{REFRESH_REGISTRY, finish};
use crate::error::{GatewayError, json_result};
use crate::gateway::Gateway;
use crate::telemetry::spans;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {}

pub(super) async fn run(gateway: &Arc<Gateway>, arguments: JsonObject) -> CallToolResult {
    let outcome = async {
        let _args: Args = parse(REFRESH_REGISTRY, arguments)?;
        let report = gateway.refresh_off_connections().await.map_err(|message| {
            GatewayError::RefreshError {
                message,
                failed: Vec::new(),
            }
        })?;
        record_report(&report);
        if report.refreshed.is_empty() && !report.failed.is_empty() {
            return Err(GatewayError::RefreshError {
                message: "no upstream answered; the previous tools keep serving".into(),
                failed: report
                    .failed
                    .iter()
                    .map(|f| (f.domain.clone(), f.error.clone()))
                    .collect(),
            });
        }
        serde_json::to_value(&report)
            .map(json_result)
            .map_err(|e| GatewayError::RefreshError {
                message: e.to_string(),
                failed: Vec::new(),
            })
    };
    finish(outcome.await)
}

/// Puts a refresh's figures on the current span: upstreams covered, changes, tools after it.
pub(crate) fn record_report(report: &crate::gateway::RefreshReport) {
    if !spans::enabled() {
        return;
    }
    spans::record_count(
        spans::DOMAIN_COUNT,
        report.refreshed.len() + report.failed.len(),
    );
    let changes: usize = report.refreshed.iter().map(|c| c.change_count()).sum();
    spans::record_count(spans::RESULT_COUNT, changes);
}
