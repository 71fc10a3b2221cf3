//! Renders the merged tool table printed by `mcp-gateway tools`.

use serde_json::{Value, json};

use crate::gateway::{Gateway, RefreshReport};

/// Longest description shown in the table.
const DESCRIPTION_WIDTH: usize = 60;

/// The table as text: one row per exposed tool, then failures and rejected tools.
pub fn render_text(gateway: &Gateway, report: &RefreshReport) -> String {
    let registry = gateway.registry();
    let rows: Vec<[String; 4]> = registry
        .tools()
        .iter()
        .map(|t| {
            [
                t.name.to_string(),
                t.domain.to_string(),
                t.group.to_string(),
                first_line(t.description()),
            ]
        })
        .collect();
    let header = ["TOOL", "DOMAIN", "GROUP", "DESCRIPTION"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "\n{} tools in {} domains\n",
        rows.len(),
        registry.domains().len()
    ));
    for failure in &report.failed {
        out.push_str(&format!(
            "domain {} is down: {}\n",
            failure.domain, failure.error
        ));
    }
    for (domain, rejected) in registry.rejected() {
        for tool in rejected {
            out.push_str(&format!(
                "domain {domain}: tool {} not exposed: {}\n",
                tool.name, tool.reason
            ));
        }
    }
    out
}

/// The table as JSON.
pub fn render_json(gateway: &Gateway, report: &RefreshReport) -> Value {
    let registry = gateway.registry();
    let tools: Vec<Value> = registry
        .tools()
        .iter()
        .map(|t| {
            json!({
                "name": t.name, "original_name": t.original_name(), "domain": t.domain,
                "group": t.group, "description": t.description(),
            })
        })
        .collect();
    json!({ "tools": tools, "failed": report.failed, "rejected": registry.rejected() })
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > DESCRIPTION_WIDTH {
        let cut: String = line.chars().take(DESCRIPTION_WIDTH - 1).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}
