//! The LLM instructions sent in the `initialize` / `server/discover` result: the workflow and the
//! current domains with their tool counts, rebuilt from the snapshot on every handshake.

use crate::registry::Registry;

/// The built-in instructions for `registry`.
pub fn build(registry: &Registry) -> String {
    let mut text = String::from(
        "This server is a gateway to many tools, grouped by domain. Their schemas are loaded on demand:\n\
         1. discover_tools(query=\"what you want to do\") to search, or discover_tools(domain=...) to browse a domain.\n\
         2. get_tool_schema(tool_name=...) when you need a tool's full parameters.\n\
         3. execute_tool(tool_name=..., arguments={...}) to run it.\n\
         Skip discovery for tools you have already used.",
    );
    let domains = registry.domains();
    if domains.is_empty() {
        text.push_str("\nNo domains are configured yet.");
        return text;
    }
    text.push_str("\nDomains:");
    for (name, domain) in domains {
        text.push_str(&format!("\n- {name} ({} tools)", domain.tools.len()));
        if let Some(description) = &domain.description {
            text.push_str(&format!(": {description}"));
        }
    }
    text
}
