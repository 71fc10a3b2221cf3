//! What changed in one domain between two snapshots: tools added, removed, and renamed (a
//! collision prefix that appeared or disappeared).

use std::collections::HashMap;

use serde::Serialize;

use crate::fast_hash::FastHash;
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

/// Tools of one domain in a snapshot: original name → exposed name, borrowed from it.
fn domain_names<'a>(registry: &'a Registry, domain: &str) -> HashMap<&'a str, &'a str, FastHash> {
    let Some(entry) = registry.domains().get(domain) else {
        return HashMap::default();
    };
    let mut names = HashMap::with_capacity_and_hasher(entry.tools.len(), FastHash::default());
    for tool in entry.tools.iter().filter_map(|&i| registry.tools().get(i)) {
        names.insert(tool.original_name(), &*tool.name);
    }
    names
}

/// How many tools `domain` exposes when it exposes the very same names (exposed and original)
/// in both snapshots, as most refreshes leave it: one pass over both in name order, nothing
/// hashed.
fn unchanged_names(old: &Registry, new: &Registry, domain: &str) -> Option<usize> {
    let (before, after) = (old.domains().get(domain)?, new.domains().get(domain)?);
    if before.tools.len() != after.tools.len() {
        return None;
    }
    let pairs = before.tools.iter().zip(&after.tools);
    let same = pairs
        .into_iter()
        .all(|(&i, &j)| match (old.tools().get(i), new.tools().get(j)) {
            (Some(a), Some(b)) => a.name == b.name && a.original_name() == b.original_name(),
            _ => false,
        });
    same.then_some(after.tools.len())
}

/// The change of `domain` from `old` to `new`: one pass over each side's tools of the domain,
/// nothing copied but the names that changed (a refresh of 10,000 unchanged tools copies none).
pub(crate) fn domain_change(old: &Registry, new: &Registry, domain: &str) -> DomainChange {
    if let Some(tool_count) = unchanged_names(old, new, domain) {
        return DomainChange {
            domain: domain.to_string(),
            added: Vec::new(),
            removed: Vec::new(),
            renamed: Vec::new(),
            tool_count,
        };
    }
    let before = domain_names(old, domain);
    let after = domain_names(new, domain);
    let mut change = DomainChange {
        domain: domain.to_string(),
        added: Vec::new(),
        removed: Vec::new(),
        renamed: Vec::new(),
        tool_count: after.len(),
    };
    // (original name, rename), so renames are listed in a stable order.
    let mut renamed: Vec<(&str, Rename)> = Vec::new();
    for (&original, &to) in &after {
        match before.get(original) {
            None => change.added.push(to.to_string()),
            Some(&from) if from != to => renamed.push((
                original,
                Rename {
                    from: from.to_string(),
                    to: to.to_string(),
                },
            )),
            Some(_) => {}
        }
    }
    change.removed = before
        .iter()
        .filter(|(original, _)| !after.contains_key(*original))
        .map(|(_, &from)| from.to_string())
        .collect();
    renamed.sort_unstable_by(|a, b| a.0.cmp(b.0));
    change.renamed = renamed.into_iter().map(|(_, rename)| rename).collect();
    change.added.sort_unstable();
    change.removed.sort_unstable();
    change
}
