//! `get_tool_schema`: one tool's description and full input schema, with fuzzy name resolution.

use std::sync::Arc;

use rmcp::model::{CallToolResult, JsonObject};
use serde::Deserialize;
use serde_json::json;

use super::args::parse;
use super::{GET_TOOL_SCHEMA, finish};
use crate::error::{GatewayError, json_result};
use crate::gateway::Gateway;
use crate::registry::Lookup;
use crate::telemetry::spans;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    tool_name: String,
}

pub(super) fn run(gateway: &Arc<Gateway>, arguments: JsonObject) -> CallToolResult {
    finish(schema(gateway, arguments))
}

fn schema(gateway: &Arc<Gateway>, arguments: JsonObject) -> Result<CallToolResult, GatewayError> {
    let args: Args = parse(GET_TOOL_SCHEMA, arguments)?;
    let registry = gateway.registry();
    let index = match registry.lookup(args.tool_name.trim()) {
        Lookup::Found(index) => index,
        Lookup::Missing(suggestions) => {
            return Err(GatewayError::ToolNotFound {
                name: args.tool_name,
                suggestions,
                direct_call: false,
            });
        }
    };
    let Some(tool) = registry.tool(index) else {
        return Err(GatewayError::ToolNotFound {
            name: args.tool_name,
            suggestions: Vec::new(),
            direct_call: false,
        });
    };
    spans::record(spans::DOMAIN, || tool.domain.clone());
    Ok(json_result(json!({
        "name": tool.name,
        "domain": tool.domain,
        "group": tool.group,
        "description": tool.description(),
        "parameters": tool.tool.input_schema(),
    })))
}
