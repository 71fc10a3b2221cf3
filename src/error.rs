//! Errors the gateway itself reports to the LLM, and their one mapping to the tool-result
//! envelope `{"error": <message>, "code": <code>, "details": {...}}` with `isError: true`.

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

/// An error made by the gateway (as opposed to a tool result the upstream produced).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatewayError {
    /// No tool of that name (after fuzzy resolution).
    #[error("unknown tool '{name}'")]
    ToolNotFound {
        /// The name as the caller gave it.
        name: String,
        /// Closest exposed names, best first.
        suggestions: Vec<String>,
        /// Set when the caller called an upstream tool directly instead of via execute_tool.
        direct_call: bool,
    },
    /// `discover_tools(domain=…)` with a domain that does not exist.
    #[error("unknown domain '{domain}'")]
    DomainNotFound {
        /// The domain as given.
        domain: String,
        /// Every configured domain.
        available: Vec<String>,
    },
    /// `discover_tools(domain=…, group=…)` with a group the domain does not have.
    #[error("unknown group '{group}' in domain '{domain}'")]
    GroupNotFound {
        /// The (existing) domain.
        domain: String,
        /// The group as given.
        group: String,
        /// The domain's groups.
        available: Vec<String>,
    },
    /// The arguments of a meta-tool or of the target tool are wrong.
    #[error("invalid arguments for '{tool}'")]
    InvalidArguments {
        /// The tool whose arguments are wrong.
        tool: String,
        /// One line per problem.
        problems: Vec<String>,
        /// The tool's compact signature, when known, so the caller can fix the call at once.
        signature: Option<String>,
    },
    /// The upstream answered the call with a JSON-RPC error.
    #[error("upstream '{domain}' returned an error for '{tool}'")]
    UpstreamError {
        /// Exposed tool name.
        tool: String,
        /// Owning domain.
        domain: String,
        /// The JSON-RPC error code the upstream sent.
        upstream_code: i32,
        /// The upstream's message.
        upstream_message: String,
    },
    /// The upstream could not be reached or did not answer.
    #[error("upstream '{domain}' is unavailable")]
    UpstreamUnavailable {
        /// Exposed tool name, if the failure concerned a call.
        tool: Option<String>,
        /// The domain.
        domain: String,
        /// Why, for the caller and the operator.
        reason: String,
    },
    /// The upstream did not answer within the call timeout; the call was cancelled upstream.
    #[error("upstream '{domain}' timed out on '{tool}'")]
    UpstreamTimeout {
        /// Exposed tool name.
        tool: String,
        /// The domain.
        domain: String,
        /// How long the gateway waited.
        elapsed_ms: u64,
    },
    /// Every call slot of the upstream stayed taken for the whole queue timeout.
    #[error("upstream '{domain}' is busy")]
    UpstreamBusy {
        /// Exposed tool name.
        tool: String,
        /// The domain.
        domain: String,
        /// How long the call waited for a slot.
        waited_ms: u64,
        /// The upstream's `max_concurrency`.
        max_concurrency: usize,
    },
    /// The upstream's result exceeded `max_result_bytes` and was dropped.
    #[error("result of '{tool}' is too large")]
    ResultTooLarge {
        /// Exposed tool name.
        tool: String,
        /// The domain.
        domain: String,
        /// The result's size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The refresh itself could not run.
    #[error("refresh failed: {message}")]
    RefreshError {
        /// Why.
        message: String,
        /// Domains that failed, with their errors.
        failed: Vec<(String, String)>,
    },
}

/// Every code of the error envelope.
pub const CODES: &[&str] = &[
    "tool_not_found",
    "domain_not_found",
    "group_not_found",
    "invalid_arguments",
    "upstream_error",
    "upstream_unavailable",
    "upstream_timeout",
    "upstream_busy",
    "result_too_large",
    "refresh_error",
];

/// `code` as the gateway's own static code, if it is one.
pub fn known_code(code: &str) -> Option<&'static str> {
    CODES.iter().copied().find(|c| *c == code)
}

impl GatewayError {
    /// The stable machine-readable code of the envelope.
    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::ToolNotFound { .. } => "tool_not_found",
            GatewayError::DomainNotFound { .. } => "domain_not_found",
            GatewayError::GroupNotFound { .. } => "group_not_found",
            GatewayError::InvalidArguments { .. } => "invalid_arguments",
            GatewayError::UpstreamError { .. } => "upstream_error",
            GatewayError::UpstreamUnavailable { .. } => "upstream_unavailable",
            GatewayError::UpstreamTimeout { .. } => "upstream_timeout",
            GatewayError::UpstreamBusy { .. } => "upstream_busy",
            GatewayError::ResultTooLarge { .. } => "result_too_large",
            GatewayError::RefreshError { .. } => "refresh_error",
        }
    }

    /// The message for the LLM: what went wrong and what to do next.
    pub fn message(&self) -> String {
        match self {
            GatewayError::ToolNotFound {
                name,
                suggestions,
                direct_call,
            } => {
                let mut text = if *direct_call {
                    format!(
                        "'{name}' is not one of this server's tools: upstream tools are called through execute_tool."
                    )
                } else {
                    format!("Unknown tool '{name}'.")
                };
                if suggestions.is_empty() {
                    text.push_str(" Use discover_tools(query=...) to search for a tool.");
                } else {
                    text.push_str(&format!(" Did you mean {}?", quoted(suggestions)));
                }
                text
            }
            GatewayError::DomainNotFound { domain, available } => {
                if available.is_empty() {
                    format!("Unknown domain '{domain}'. No domains are registered.")
                } else {
                    format!(
                        "Unknown domain '{domain}'. Available domains: {}.",
                        available.join(", ")
                    )
                }
            }
            GatewayError::GroupNotFound {
                domain,
                group,
                available,
            } => format!(
                "Unknown group '{group}' in domain '{domain}'. Available groups: {}.",
                available.join(", ")
            ),
            GatewayError::InvalidArguments { tool, problems, .. } => format!(
                "Invalid arguments for '{tool}': {}. Call get_tool_schema(tool_name='{tool}') for the full schema.",
                problems.join("; ")
            ),
            GatewayError::UpstreamError {
                tool,
                domain,
                upstream_code,
                upstream_message,
            } => format!(
                "Tool '{tool}' failed: upstream '{domain}' returned error {upstream_code}: {upstream_message}. \
                 Check the arguments with get_tool_schema, or try another tool."
            ),
            GatewayError::UpstreamUnavailable {
                tool,
                domain,
                reason,
            } => {
                let what = tool
                    .as_ref()
                    .map_or_else(String::new, |t| format!("Tool '{t}' could not run: "));
                format!(
                    "{what}upstream '{domain}' is unavailable ({reason}). Tools of other domains still work; retry later."
                )
            }
            GatewayError::UpstreamTimeout {
                tool,
                domain,
                elapsed_ms,
            } => format!(
                "Tool '{tool}' timed out after {elapsed_ms} ms: upstream '{domain}' did not answer and the call was cancelled."
            ),
            GatewayError::UpstreamBusy {
                tool,
                domain,
                waited_ms,
                max_concurrency,
            } => format!(
                "Tool '{tool}' did not run: upstream '{domain}' already has {max_concurrency} calls in flight and none finished within {waited_ms} ms. Retry shortly."
            ),
            GatewayError::ResultTooLarge {
                tool,
                domain,
                bytes,
                limit,
            } => format!(
                "Tool '{tool}' of upstream '{domain}' returned {bytes} bytes, more than the gateway's limit of {limit}; the result was dropped. Ask for less (a filter, a page, a smaller range)."
            ),
            GatewayError::RefreshError { message, .. } => {
                format!("Refreshing the registry failed: {message}. Retry later.")
            }
        }
    }

    /// Structured details for programs.
    pub fn details(&self) -> Value {
        match self {
            GatewayError::ToolNotFound {
                name, suggestions, ..
            } => {
                json!({ "tool_name": name, "suggestions": suggestions })
            }
            GatewayError::DomainNotFound { domain, available } => {
                json!({ "domain": domain, "available_domains": available })
            }
            GatewayError::GroupNotFound {
                domain,
                group,
                available,
            } => {
                json!({ "domain": domain, "group": group, "available_groups": available })
            }
            GatewayError::InvalidArguments {
                tool,
                problems,
                signature,
            } => {
                let mut details = json!({ "tool": tool, "problems": problems });
                if let Some(signature) = signature {
                    details["signature"] = json!(signature);
                }
                details
            }
            GatewayError::UpstreamError {
                tool,
                domain,
                upstream_code,
                upstream_message,
            } => json!({
                "tool": tool, "domain": domain,
                "upstream_code": upstream_code, "upstream_message": upstream_message,
            }),
            GatewayError::UpstreamUnavailable {
                tool,
                domain,
                reason,
            } => {
                json!({ "tool": tool, "domain": domain, "reason": reason })
            }
            GatewayError::UpstreamTimeout {
                tool,
                domain,
                elapsed_ms,
            } => {
                json!({ "tool": tool, "domain": domain, "elapsed_ms": elapsed_ms })
            }
            GatewayError::UpstreamBusy {
                tool,
                domain,
                waited_ms,
                max_concurrency,
            } => json!({ "tool": tool, "domain": domain, "waited_ms": waited_ms,
                         "max_concurrency": max_concurrency }),
            GatewayError::ResultTooLarge {
                tool,
                domain,
                bytes,
                limit,
            } => json!({ "tool": tool, "domain": domain, "bytes": bytes, "limit": limit }),
            GatewayError::RefreshError { message, failed } => {
                let failed: Vec<Value> = failed
                    .iter()
                    .map(|(domain, error)| json!({ "domain": domain, "error": error }))
                    .collect();
                json!({ "reason": message, "failed": failed })
            }
        }
    }

    /// The envelope object.
    pub fn envelope(&self) -> Value {
        json!({ "error": self.message(), "code": self.code(), "details": self.details() })
    }

    /// The tool result carrying the envelope: JSON text in `content[0]`, the same object in
    /// `structuredContent`, `isError: true`.
    pub fn into_result(self) -> CallToolResult {
        let envelope = self.envelope();
        let mut result = CallToolResult::error(vec![ContentBlock::text(envelope.to_string())]);
        result.structured_content = Some(envelope);
        result
    }
}

/// A successful meta-tool result: JSON text in `content[0]` and the same object in
/// `structuredContent`.
pub fn json_result(value: Value) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    result.structured_content = Some(value);
    result
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}
