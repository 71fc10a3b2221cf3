//! The MCP server side of the gateway: `initialize`/`server/discover` info, `tools/list` (the four
//! meta-tools) and `tools/call` dispatch. One cheap clone per session or request.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

use crate::answer::ToolAnswer;
use crate::gateway::Gateway;
use crate::registry::Lookup;
use crate::{instructions, meta_tools};

/// The gateway as an rmcp server handler.
#[derive(Clone)]
pub struct GatewayHandler {
    gateway: Arc<Gateway>,
}

impl GatewayHandler {
    /// A handler over `gateway`'s state.
    pub fn new(gateway: Arc<Gateway>) -> GatewayHandler {
        GatewayHandler { gateway }
    }
}

impl ServerHandler for GatewayHandler {
    fn get_info(&self) -> ServerConfig {
        let registry = self.gateway.registry();
        let settings = registry.settings();
        let text = match &settings.instructions {
            Some(custom) => custom.clone(),
            None => instructions::build(&registry),
        };
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                settings.name.clone(),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(text)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(
            meta_tools::list().as_ref().clone(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // The incoming HTTP request, for `forward_headers` (absent on other transports).
        let headers = context
            .extensions
            .get::<http::request::Parts>()
            .map(|parts| &parts.headers);
        let call = meta_tools::CallContext {
            cancel: &context.ct,
            headers,
            meta: &context.meta,
            arguments_text: None,
        };
        // A 2026-07-28 peer gets `resultType` on every result; rmcp drops it for older ones.
        call_tool(&self.gateway, request, call)
            .await
            .map(|answer| crate::answer::marked_complete(answer.into_response()))
    }
}

/// Answers one `tools/call`: the meta-tool's result, or an invalid-params error naming what to
/// call instead. Shared by rmcp's session path and the [`crate::direct_call`] path.
pub async fn call_tool(
    gateway: &Arc<Gateway>,
    request: CallToolRequestParams,
    call: meta_tools::CallContext<'_>,
) -> Result<ToolAnswer, McpError> {
    if !meta_tools::is_meta_tool(&request.name) {
        return Err(not_a_meta_tool(gateway, &request.name));
    }
    match meta_tools::call(gateway, request, call).await {
        Some(response) => Ok(response),
        None => Err(McpError::internal_error("meta-tool dispatch failed", None)),
    }
}

/// The error for a `tools/call` naming something other than a meta-tool.
fn not_a_meta_tool(gateway: &Gateway, name: &str) -> McpError {
    // A model that calls an upstream tool directly gets told how to call it.
    let hint = match gateway.registry().lookup(name) {
        Lookup::Found(_) => format!(
            "'{name}' is an upstream tool: call execute_tool(tool_name='{name}', arguments={{...}})"
        ),
        Lookup::Missing(_) => format!(
            "unknown tool '{name}': this server's tools are discover_tools, get_tool_schema, execute_tool and refresh_registry"
        ),
    };
    McpError::invalid_params(hint, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, EnvLookup};

    /// Every level of a call's future holds the future of the level below, and each move copies
    /// the whole of it: at about 12 KiB a routed call spent a sixth of its instructions in
    /// `memcpy`. Rare paths (opening a session, calls through rmcp, SSE answers, the other
    /// meta-tools) are boxed so that what every `execute_tool` carries stays small.
    #[tokio::test]
    async fn the_future_of_a_call_stays_small() {
        let file = tempfile::NamedTempFile::new().expect("config file");
        let config =
            Config::load_with(Some(file.path()), &EnvLookup::default()).expect("default config");
        let gateway = Gateway::new(config);
        let cancel = tokio_util::sync::CancellationToken::new();
        let meta = rmcp::model::JsonObject::new();
        let context = meta_tools::CallContext {
            cancel: &cancel,
            headers: None,
            meta: &meta,
            arguments_text: None,
        };
        let call = call_tool(
            &gateway,
            CallToolRequestParams::new("execute_tool"),
            context,
        );
        let size = std::mem::size_of_val(&call);
        assert!(size <= 7 * 1024, "a call's future is {size} bytes");
    }
}
