//! What changed in one domain between two snapshots: tools added, removed, and renamed (a
//! collision prefix that appeared or disappeared).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::registry::Registry;

/// What one refresh changed in one domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainChange {
    /// The domain.
    pub domain: String,
    /// Exposed names that appeared.
    pub added: Vec<String>,
    /// Exposed names that disappeared.
    pub removed: Vec<String>,
    /// Tools whose exposed name changed because a collision appeared or disappeared.
    pub renamed: Vec<Rename>,
    /// Tools the domain exposes now.
    pub tool_count: usize,
}

impl DomainChange {
    /// Tools added, removed and renamed.
    pub fn change_count(&self) -> usize {
        self.added.len() + self.removed.len() + self.renamed.len()
    }
}

/// One tool whose exposed name changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rename {
    /// The previous exposed name.
    pub from: String,
    /// The new exposed name.
    pub to: String,
}

/// Names of one domain in a snapshot: original name → exposed name.
fn domain_names(registry: &Registry, domain: &str) -> BTreeMap<String, String> {
    registry
        .tools()
        .iter()
        .filter(|t| &*t.domain == domain)
        .map(|t| (t.original_name().to_string(), t.name.to_string()))
        .collect()
}

/// The change of `domain` from `old` to `new`.
pub(crate) fn domain_change(old: &Registry, new: &Registry, domain: &str) -> DomainChange {
    let before = domain_names(old, domain);
    let after = domain_names(new, domain);
    let mut change = DomainChange {
        domain: domain.to_string(),
        added: Vec::new(),
        removed: Vec::new(),
        renamed: Vec::new(),
        tool_count: after.len(),
    };
    let originals: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for original in originals {
        match (before.get(original), after.get(original)) {
            (None, Some(to)) => change.added.push(to.clone()),
            (Some(from), None) => change.removed.push(from.clone()),
            (Some(from), Some(to)) if from != to => change.renamed.push(Rename {
                from: from.clone(),
                to: to.clone(),
            }),
            _ => {}
        }
    }
    change.added.sort();
    change.removed.sort();
    change
}
