//! Query search for `discover_tools(query=…)`: a weighted word match over names, domain, group and
//! description, best first with deterministic ties. Fields are lower-cased once, at build time.

use std::cmp::Ordering;

use super::{Registry, ToolEntry, names};

/// Words too common to say anything about a tool.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "to", "of", "for", "in", "on", "and", "or", "with", "by", "from", "is", "it",
    "my", "me", "i", "this", "that", "all", "be",
];

/// A tool's searchable text, precomputed.
#[derive(Debug, Clone)]
pub(crate) struct SearchFields {
    name_words: Vec<String>,
    folded_names: [String; 2],
    domain: String,
    group: String,
    description_words: Vec<String>,
}

impl SearchFields {
    /// Lower-cases and splits a tool's fields once.
    pub(crate) fn new(entry: &ToolEntry) -> SearchFields {
        let mut name_words = names::words(&entry.name);
        for word in names::words(&entry.original_name) {
            if !name_words.contains(&word) {
                name_words.push(word);
            }
        }
        let mut description_words = names::words(entry.description());
        description_words.sort();
        description_words.dedup();
        SearchFields {
            name_words,
            folded_names: [names::fold(&entry.name), names::fold(&entry.original_name)],
            domain: entry.domain.to_lowercase(),
            group: entry.group.to_lowercase(),
            description_words,
        }
    }

    /// How well one query word matches: 0 when it does not.
    fn word_score(&self, word: &str) -> f64 {
        let prefix_ok = word.len() >= 3;
        let mut best: f64 = 0.0;
        for w in &self.name_words {
            if w == word {
                best = best.max(3.0);
            } else if prefix_ok && w.starts_with(word) {
                best = best.max(2.0);
            }
        }
        if self.domain == word || self.group == word {
            best = best.max(1.5);
        }
        for w in &self.description_words {
            if w == word {
                best = best.max(1.0);
            } else if prefix_ok && w.starts_with(word) {
                best = best.max(0.5);
            }
        }
        best
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// Index into [`Registry::tools`].
    pub index: usize,
    /// Higher is better.
    pub score: f64,
}

/// Ranks tools for `query`, optionally within one domain.
pub(crate) fn search(
    registry: &Registry,
    query: &str,
    domain: Option<&str>,
    limit: usize,
) -> Vec<SearchHit> {
    let mut words: Vec<String> = names::words(query)
        .into_iter()
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect();
    words.dedup();
    let folded_query = names::fold(query);
    if words.is_empty() && folded_query.is_empty() {
        return Vec::new();
    }
    let mut hits: Vec<(usize, usize, f64)> = Vec::new();
    for (index, fields) in registry.search.iter().enumerate() {
        if domain.is_some_and(|d| registry.tools[index].domain != d) {
            continue;
        }
        let mut matched = 0;
        let mut score = 0.0;
        for word in &words {
            let s = fields.word_score(word);
            if s > 0.0 {
                matched += 1;
                score += s;
            }
        }
        if fields.folded_names.contains(&folded_query) {
            matched += words.len().max(1);
            score += 10.0;
        }
        if matched > 0 {
            hits.push((index, matched, score));
        }
    }
    hits.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then(b.2.partial_cmp(&a.2).unwrap_or(Ordering::Equal))
            .then_with(|| registry.tools[a.0].name.cmp(&registry.tools[b.0].name))
    });
    hits.into_iter()
        .take(limit)
        .map(|(index, _, score)| SearchHit { index, score })
        .collect()
}
