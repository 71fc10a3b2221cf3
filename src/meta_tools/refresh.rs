//! `refresh_registry`: re-list every upstream and report what changed.

use std::sync::Arc;

use rmcp::model::{CallToolResult, JsonObject};
use serde::Deserialize;

use super::args::parse;
use super::{REFRESH_REGISTRY, finish};
use crate::error::{GatewayError, json_result};
use crate::gateway::Gateway;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {}

pub(super) async fn run(gateway: &Arc<Gateway>, arguments: JsonObject) -> CallToolResult {
    let outcome = async {
        let _args: Args = parse(REFRESH_REGISTRY, arguments)?;
        let report = gateway.refresh().await;
        serde_json::to_value(&report)
            .map(json_result)
            .map_err(|e| GatewayError::RefreshError {
                message: e.to_string(),
            })
    };
    finish(outcome.await)
}
