//! Builds a [`Registry`] snapshot from scratch out of every upstream's last listing.
//!
//! Because nothing carries over from the previous snapshot, a collision prefix exists exactly as
//! long as the collision does.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::filter::ToolFilter;
use super::{DomainEntry, Registry, ToolEntry, names, search};
use crate::config::{Config, Curation};
use crate::fast_hash::FastHash;
use crate::upstream::Upstream;
use crate::validation::ListedTool;

/// What a snapshot is built from.
pub struct BuildInput {
    /// The generation number to stamp on the snapshot.
    pub generation: u64,
    /// The configuration in force (descriptions, server settings).
    pub config: Arc<Config>,
    /// Every configured upstream, by domain.
    pub upstreams: BTreeMap<String, Arc<Upstream>>,
    /// The snapshot this one replaces: only its names are read, to keep answering a name a
    /// collision renamed (callers that learned `echo` keep reaching it as `crm_echo`).
    pub previous: Option<Arc<Registry>>,
}

/// An upstream tool that could not be exposed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RejectedTool {
    /// The name the upstream listed.
    pub name: String,
    /// Why it is not exposed.
    pub reason: String,
}

/// A tool that passed the per-domain checks, before collision handling.
struct Candidate {
    domain: Arc<str>,
    /// The name before collision handling: the listed tool's own name (shared) when it needs
    /// no change, as most do.
    base: Arc<str>,
    tool: Arc<ListedTool>,
    upstream: Arc<Upstream>,
}

/// Builds a snapshot. Rejected tools are logged and recorded, never dropped silently.
pub fn build(input: BuildInput) -> Registry {
    let upstreams: Vec<&Arc<Upstream>> = input.upstreams.values().collect();

    let mut rejected: BTreeMap<String, Vec<RejectedTool>> = BTreeMap::new();
    let mut candidates = Vec::new();
    let mut domains: BTreeMap<String, DomainEntry> = BTreeMap::new();
    for upstream in &upstreams {
        let domain = upstream.domain().to_string();
        domains.insert(
            domain.clone(),
            DomainEntry {
                description: input
                    .config
                    .upstreams
                    .get(&domain)
                    .and_then(|u| u.description.clone()),
                ..DomainEntry::default()
            },
        );
        let Some(listing) = upstream.tools() else {
            continue;
        };
        let default_curation = Curation::default();
        let curation = input
            .config
            .upstreams
            .get(&domain)
            .map_or(&default_curation, |u| &u.curation);
        let filter = ToolFilter::new(curation);
        let mut seen: HashSet<Arc<str>, FastHash> =
            HashSet::with_capacity_and_hasher(listing.len(), FastHash::default());
        let shared_domain: Arc<str> = Arc::from(domain.as_str());
        for tool in listing.iter() {
            let original = tool.name();
            let exposed = match filter.alias(original) {
                Some(alias) => Ok(Arc::from(alias)),
                None => names::expose(original).map(|base| match base {
                    Cow::Borrowed(_) => Arc::clone(tool.shared_name()),
                    Cow::Owned(base) => Arc::from(base),
                }),
            };
            if let Ok(base) = &exposed
                && !filter.allows_all()
            {
                let prefixed = format!("{domain}_{base}");
                if !filter.allows(&[original, base, &prefixed]) {
                    if let Some(entry) = domains.get_mut(&domain) {
                        entry.filtered += 1;
                    }
                    continue;
                }
            }
            let checked = exposed.and_then(|base| {
                if let Some(problem) = tool.schema_problem() {
                    return Err(problem.to_string());
                }
                if seen.insert(Arc::clone(&base)) {
                    Ok(base)
                } else {
                    Err(format!(
                        "another tool of this upstream is already exposed as '{base}'"
                    ))
                }
            });
            match checked {
                Ok(base) => candidates.push(Candidate {
                    domain: Arc::clone(&shared_domain),
                    base,
                    tool: Arc::clone(tool),
                    upstream: Arc::clone(upstream),
                }),
                Err(reason) => reject(&mut rejected, &domain, original.to_string(), reason),
            }
        }
    }

    // A base name listed by more than one domain is exposed as `{domain}_{name}` by all of them.
    let mut owners: HashMap<&str, usize, FastHash> =
        HashMap::with_capacity_and_hasher(candidates.len(), FastHash::default());
    for c in &candidates {
        *owners.entry(&*c.base).or_default() += 1;
    }
    let collided: HashSet<String, FastHash> = owners
        .into_iter()
        .filter(|&(_, count)| count > 1)
        .map(|(name, _)| name.to_string())
        .collect();

    let mut tools: Vec<ToolEntry> = Vec::with_capacity(candidates.len());
    let mut taken: HashSet<Arc<str>, FastHash> =
        HashSet::with_capacity_and_hasher(candidates.len(), FastHash::default());
    // One copy of each group name, shared by every tool in a group of that name.
    let mut groups: HashSet<Arc<str>, FastHash> = HashSet::default();
    // Unprefixed names first, so a prefixed name never steals a name a domain lists itself.
    if !collided.is_empty() {
        candidates.sort_by_key(|c| collided.contains(&*c.base));
    }
    for c in candidates {
        let name = if collided.contains(&*c.base) {
            Arc::from(format!("{}_{}", c.domain, c.base))
        } else {
            Arc::clone(&c.base)
        };
        if name.len() > names::MAX_NAME_LEN {
            let reason = format!(
                "collides with another domain and '{name}' is longer than {} characters",
                names::MAX_NAME_LEN
            );
            reject(&mut rejected, &c.domain, c.tool.name().to_string(), reason);
            continue;
        }
        if !taken.insert(Arc::clone(&name)) {
            let reason = format!("its collision name '{name}' is already used by another tool");
            reject(&mut rejected, &c.domain, c.tool.name().to_string(), reason);
            continue;
        }
        let group = names::infer_group(&c.domain, &c.base);
        let group = match groups.get(group) {
            Some(shared) => Arc::clone(shared),
            None => {
                let shared: Arc<str> = Arc::from(group);
                groups.insert(Arc::clone(&shared));
                shared
            }
        };
        tools.push(ToolEntry {
            group,
            name,
            domain: c.domain,
            tool: c.tool,
            upstream: c.upstream,
        });
    }
    tools.sort_by(|a, b| a.name.cmp(&b.name));

    // The search index is most of a build's work: the name tables are made meanwhile.
    let (search, (by_folded, aliases)) = crate::cpu_work::join(
        tools.len() >= 2 * crate::cpu_work::MIN_PARALLEL_CHUNK,
        || search::SearchIndex::build(&tools, &domains),
        || {
            let by_folded = super::folded::FoldedNames::build(&tools);
            let aliases = input
                .previous
                .as_deref()
                .map(|previous| carry_aliases(previous, &tools))
                .unwrap_or_default();
            (by_folded, aliases)
        },
    );
    for (index, entry) in tools.iter().enumerate() {
        if let Some(domain) = domains.get_mut(&*entry.domain) {
            domain.tools.push(index);
            // The group's name is copied once, not once per tool.
            match domain.groups.get_mut(&*entry.group) {
                Some(group) => group.push(index),
                None => {
                    domain.groups.insert(entry.group.to_string(), vec![index]);
                }
            }
        }
    }
    Registry {
        generation: input.generation,
        config: input.config,
        upstreams: input.upstreams,
        tools,
        aliases,
        by_folded,
        domains,
        rejected,
        search,
    }
}

/// The index of the tool exposed as exactly `name` in `tools` (sorted by name): a binary search
/// rather than a map holding a second copy of every name.
pub(super) fn index_of(tools: &[ToolEntry], name: &str) -> Option<usize> {
    tools.binary_search_by(|entry| (*entry.name).cmp(name)).ok()
}

/// Names that pointed at a tool in `previous` but no longer name any tool, mapped to that
/// tool's index in `tools` (if it still exists): renames by collision, and older aliases.
fn carry_aliases(previous: &Registry, tools: &[ToolEntry]) -> HashMap<String, usize, FastHash> {
    // Old names no tool has now: both lists are sorted by name, so one walk finds them (a
    // re-listing usually keeps every name, and then nothing else is built).
    let mut current = tools.iter().map(|t| &*t.name).peekable();
    let mut gone: Vec<(&str, usize)> = Vec::new();
    for (old_index, old) in previous.tools().iter().enumerate() {
        let name = &*old.name;
        while current.next_if(|now| *now < name).is_some() {}
        if current.peek() != Some(&name) {
            gone.push((name, old_index));
        }
    }
    for (name, &old_index) in &previous.aliases {
        if index_of(tools, name).is_none() {
            gone.push((name.as_str(), old_index));
        }
    }
    if gone.is_empty() {
        return HashMap::default();
    }
    let by_origin: HashMap<(&str, &str), usize, FastHash> = tools
        .iter()
        .enumerate()
        .map(|(i, t)| ((&*t.domain, t.original_name()), i))
        .collect();
    let mut aliases = HashMap::default();
    for (name, old_index) in gone {
        let Some(old) = previous.tools().get(old_index) else {
            continue;
        };
        if let Some(&index) = by_origin.get(&(&*old.domain, old.original_name())) {
            aliases.insert(name.to_string(), index);
        }
    }
    aliases
}

fn reject(
    rejected: &mut BTreeMap<String, Vec<RejectedTool>>,
    domain: &str,
    name: String,
    reason: String,
) {
    tracing::warn!(domain, tool = %name, %reason, "upstream tool not exposed");
    rejected
        .entry(domain.to_string())
        .or_default()
        .push(RejectedTool { name, reason });
}
