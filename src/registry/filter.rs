//! Per-upstream tool curation at build time: `allowed_tools` / `denied_tools` globs (deny wins)
//! and `tool_aliases`. A filtered tool never enters the snapshot, so it is invisible to
//! discover_tools, get_tool_schema and execute_tool alike.

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::config::Curation;

/// The compiled curation of one upstream.
pub(crate) struct ToolFilter<'a> {
    allowed: Option<GlobSet>,
    denied: GlobSet,
    curation: &'a Curation,
}

fn compile(patterns: &[String]) -> GlobSet {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        // Patterns were validated with the config; one that fails here is skipped.
        if let Ok(glob) = Glob::new(pattern) {
            builder.add(glob);
        }
    }
    builder.build().unwrap_or_else(|_| GlobSet::empty())
}

impl<'a> ToolFilter<'a> {
    /// Compiles `curation`'s globs.
    pub(crate) fn new(curation: &'a Curation) -> ToolFilter<'a> {
        ToolFilter {
            allowed: curation.allowed.as_deref().map(compile),
            denied: compile(&curation.denied),
            curation,
        }
    }

    /// The base exposed name of `original` (its alias, if it has one).
    pub(crate) fn alias(&self, original: &str) -> Option<&'a str> {
        self.curation.aliases.get(original).map(String::as_str)
    }

    /// Whether every tool is exposed (no globs): nothing to match.
    pub(crate) fn allows_all(&self) -> bool {
        self.allowed.is_none() && self.denied.is_empty()
    }

    /// Whether a tool known as any of `names` is exposed.
    pub(crate) fn allows(&self, names: &[&str]) -> bool {
        if names.iter().any(|n| self.denied.is_match(n)) {
            return false;
        }
        match &self.allowed {
            Some(allowed) => names.iter().any(|n| allowed.is_match(n)),
            None => true,
        }
    }
}
