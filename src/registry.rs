//! The immutable snapshot of every exposed tool: names, domains, groups, routes and search data.
//!
//! A snapshot is built from scratch off the request path ([`build`]) and published with one
//! `ArcSwap::store` by its owner; requests `load()` it once and never hold it across an `.await`.
//! Nothing here talks to the network.

mod build;
mod filter;
mod folded;
mod fusion;
pub mod names;
mod search;
mod suggest;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use build::{BuildInput, RejectedTool, build};
pub use search::SearchHit;

use crate::config::{Config, ServerSettings};
use crate::upstream::Upstream;
use crate::validation::ListedTool;

/// One exposed tool. Its strings are shared: the name with the listed tool's when they are the
/// same, the domain and group with every tool of the domain (a snapshot may hold 10,000).
#[derive(Debug, Clone)]
pub struct ToolEntry {
    /// The name the LLM uses (`{domain}_{name}` while the name collides across domains).
    pub name: Arc<str>,
    /// The owning domain.
    pub domain: Arc<str>,
    /// Inferred group within the domain.
    pub group: Arc<str>,
    /// The upstream's tool definition, unchanged, with its argument validator.
    pub tool: Arc<ListedTool>,
    /// Where calls go.
    pub upstream: Arc<Upstream>,
}

impl ToolEntry {
    /// The name the upstream knows the tool by; sent upstream on execute.
    pub fn original_name(&self) -> &str {
        self.tool.name()
    }

    /// The tool's description, or "".
    pub fn description(&self) -> &str {
        self.tool.description().unwrap_or("")
    }
}

/// One domain as discovery shows it.
#[derive(Debug, Clone, Default)]
pub struct DomainEntry {
    /// Configured description.
    pub description: Option<String>,
    /// Indexes into [`Registry::tools`], sorted by name.
    pub tools: Vec<usize>,
    /// Group name → indexes, sorted.
    pub groups: BTreeMap<String, Vec<usize>>,
    /// Tools the upstream lists that `allowed_tools` / `denied_tools` hide.
    pub filtered: usize,
}

/// An immutable registry snapshot: the whole routing state, swapped as one.
#[derive(Debug)]
pub struct Registry {
    /// Increases with every published snapshot.
    pub generation: u64,
    /// The configuration this snapshot serves (server settings, descriptions).
    config: Arc<Config>,
    /// Every configured upstream, by domain, including those that are down.
    upstreams: BTreeMap<String, Arc<Upstream>>,
    /// Every exposed tool, sorted by exposed name.
    tools: Vec<ToolEntry>,
    /// Former exposed names (renamed by a collision) → index of the same tool now.
    aliases: HashMap<String, usize, crate::fast_hash::FastHash>,
    /// Case- and separator-folded exposed and original names → indexes.
    by_folded: folded::FoldedNames,
    /// Every configured domain, including those with no tools (down).
    domains: BTreeMap<String, DomainEntry>,
    /// Upstream tools that could not be exposed, per domain, with the reason.
    rejected: BTreeMap<String, Vec<RejectedTool>>,
    /// The search index over `tools`.
    search: search::SearchIndex,
}

/// The outcome of resolving a tool name.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// Found (exactly or by a unique folded match).
    Found(usize),
    /// Not found; closest exposed names, best first.
    Missing(Vec<String>),
}

/// How many suggestions a failed lookup returns.
pub const MAX_SUGGESTIONS: usize = 5;

impl Registry {
    /// The configuration in force.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The `[server]` settings in force.
    pub fn settings(&self) -> &ServerSettings {
        &self.config.server
    }

    /// Every configured upstream, by domain.
    pub fn upstreams(&self) -> &BTreeMap<String, Arc<Upstream>> {
        &self.upstreams
    }

    /// Every exposed tool, sorted by name.
    pub fn tools(&self) -> &[ToolEntry] {
        &self.tools
    }

    /// One tool by index.
    pub fn tool(&self, index: usize) -> Option<&ToolEntry> {
        self.tools.get(index)
    }

    /// Every configured domain.
    pub fn domains(&self) -> &BTreeMap<String, DomainEntry> {
        &self.domains
    }

    /// Rejected tools per domain.
    pub fn rejected(&self) -> &BTreeMap<String, Vec<RejectedTool>> {
        &self.rejected
    }

    /// Resolves a tool name: exact, else a name a collision renamed since the caller learned it,
    /// else a unique case-/separator-insensitive match of an exposed or original name, else
    /// suggestions.
    pub fn lookup(&self, name: &str) -> Lookup {
        if let Some(index) = self
            .index_of(name)
            .or_else(|| self.aliases.get(name).copied())
        {
            return Lookup::Found(index);
        }
        if let [index] = self.by_folded.get(&names::fold(name), &self.tools)[..] {
            return Lookup::Found(index);
        }
        Lookup::Missing(self.suggest(name, MAX_SUGGESTIONS))
    }

    /// The index of the tool exposed as exactly `name` (tools are sorted by name).
    fn index_of(&self, name: &str) -> Option<usize> {
        build::index_of(&self.tools, name)
    }

    /// Up to `limit` exposed names closest to `name`, best first.
    pub fn suggest(&self, name: &str, limit: usize) -> Vec<String> {
        suggest::suggest(self, name, limit)
    }

    /// Ranked search over names, domain, group and description; best first, at most `limit`.
    pub fn search(&self, query: &str, domain: Option<&str>, limit: usize) -> Vec<SearchHit> {
        self.search_with(query, None, domain, limit)
    }

    /// As [`Registry::search`], fused with the semantic ranking when `query_vector` (the query's
    /// embedding) is given; tools without an embedding yet take part lexically only.
    pub fn search_with(
        &self,
        query: &str,
        query_vector: Option<&[f32]>,
        domain: Option<&str>,
        limit: usize,
    ) -> Vec<SearchHit> {
        let keep = |index: usize| {
            domain.is_none_or(|d| self.tools.get(index).is_some_and(|t| &*t.domain == d))
        };
        let named = self.by_folded.get(&names::fold(query), &self.tools);
        let Some(query_vector) = query_vector else {
            return self.search.search(query, limit, &named, keep);
        };
        let lexical = self.search.search(query, fusion::DEPTH, &named, keep);
        let semantic = fusion::semantic_ranking(&self.tools, query_vector, keep);
        fusion::fuse(&lexical, &semantic, limit)
    }
}
