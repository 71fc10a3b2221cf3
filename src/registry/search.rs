//! Ranked search for `discover_tools(query=…)`: a BM25F-style index over a tool's name words
//! (exposed and original), domain and group, description, and parameter names and descriptions,
//! each field weighted. Query words match exactly, by prefix (`serch` is no prefix, but `cont`
//! is), or with a typo (`serch` → `search`), at decreasing credit; light stemming makes
//! `contacts` find `contact`. Built with the snapshot, off the request path; results best first,
//! ties broken by name.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::LazyLock;

use std::collections::BTreeMap;

use super::{DomainEntry, ToolEntry, names};
use crate::cpu_work;
use crate::fast_hash::FastHash;

/// Field weights: a word in the name says more than one in a parameter description.
const NAME_WEIGHT: f64 = 3.0;
const DOMAIN_WEIGHT: f64 = 1.5;
const DESCRIPTION_WEIGHT: f64 = 1.0;
const PARAMETER_WEIGHT: f64 = 0.5;
/// The configured description of the tool's domain: what the whole upstream is for.
const DOMAIN_DESCRIPTION_WEIGHT: f64 = 0.5;
/// BM25 constants.
const K1: f64 = 1.2;
const B: f64 = 0.75;
/// Credit of a prefix match and of a one- or two-edit typo match, relative to an exact one.
const PREFIX_CREDIT: f64 = 0.8;
const TYPO_CREDIT: f64 = 0.6;
/// Bonus when the whole query is a tool's name (any case or separators).
const EXACT_NAME_BONUS: f64 = 10.0;

/// Words too common to say anything about a tool.
fn is_stop_word(word: &str) -> bool {
    matches!(
        word,
        "a" | "an"
            | "the"
            | "to"
            | "of"
            | "for"
            | "in"
            | "on"
            | "and"
            | "or"
            | "with"
            | "by"
            | "from"
            | "is"
            | "it"
            | "my"
            | "me"
            | "i"
            | "this"
            | "that"
            | "all"
            | "be"
            | "some"
            | "please"
            | "want"
            | "need"
            | "can"
            | "you"
            | "do"
            | "does"
            | "how"
            | "what"
            | "which"
            | "who"
            | "when"
            | "where"
            | "are"
            | "there"
            | "our"
            | "we"
            | "us"
            | "at"
            | "as"
            | "into"
            | "about"
            | "any"
            | "every"
            | "each"
            | "have"
            | "has"
            | "just"
            | "then"
            | "than"
            | "its"
            | "your"
            | "so"
            | "if"
            | "was"
            | "were"
            | "will"
            | "would"
            | "should"
            | "could"
            | "let"
    )
}
/// Credit of a synonym match.
const SYNONYM_CREDIT: f64 = 0.7;
/// Groups of words users and tools use for the same thing (general software vocabulary, not
/// tuned to one server). A query word also matches the other words of its groups.
const SYNONYMS: &[&[&str]] = &[
    &["issue", "bug", "ticket", "defect"],
    &["repository", "repo", "project"],
    &["directory", "folder", "dir"],
    &["delete", "remove", "erase", "drop"],
    &["create", "make", "new", "add"],
    &["list", "show", "display", "enumerate"],
    &["get", "read", "fetch", "retrieve", "view", "open"],
    &["update", "change", "modify", "edit", "set"],
    &["send", "post", "publish"],
    &["reply", "answer", "respond"],
    &["message", "msg", "chat"],
    &["image", "picture", "photo", "png", "jpg", "jpeg", "media"],
    &["error", "crash", "exception", "failure"],
    &["log", "logs", "logging"],
    &["query", "sql", "select"],
    &["search", "find", "lookup", "look"],
    &["user", "member", "person", "people", "account"],
    &["directions", "route", "drive", "navigate"],
    &["coordinates", "geocode", "latitude", "longitude"],
    &["schedule", "cron", "periodic"],
    &["permission", "policy", "access"],
    &["secret", "credential", "password", "token"],
    &["comment", "note", "remark"],
    &["screenshot", "capture", "snapshot"],
    &["url", "link", "address", "website", "page"],
];

/// Lower-case word with a light English stemming (plural and common verb suffixes).
pub(crate) fn stem(word: &str) -> String {
    stem_lower(&word.to_lowercase()).into_owned()
}

/// [`stem`] of a word already in lower case: a slice of it, except for `-ies` → `-y`.
fn stem_lower(w: &str) -> Cow<'_, str> {
    let n = w.len();
    if n > 4 && w.ends_with("ies") {
        return Cow::Owned(format!("{}y", &w[..n - 3]));
    }
    for suffix in ["sses", "shes", "ches", "xes"] {
        if n > suffix.len() + 1 && w.ends_with(suffix) {
            return Cow::Borrowed(&w[..n - 2]);
        }
    }
    if n > 3 && w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") {
        return Cow::Borrowed(&w[..n - 1]);
    }
    let base = if n > 5 && w.ends_with("ing") {
        undouble(&w[..n - 3])
    } else if n > 4 && w.ends_with("ed") && !w.ends_with("eed") {
        undouble(&w[..n - 2])
    } else {
        w
    };
    // `create`, `created` and `creating` all become `creat`.
    Cow::Borrowed(match base.strip_suffix('e') {
        Some(stripped) if base.len() > 4 => stripped,
        _ => base,
    })
}

/// `runn` → `run`, `stopp` → `stop` (a doubled final consonant left by a suffix). Only an ASCII
/// byte is undoubled: two equal bytes ending a longer UTF-8 character are not one twice.
fn undouble(stem: &str) -> &str {
    match stem.as_bytes() {
        [.., a, b] if a == b && b.is_ascii() && !b"aeiouls".contains(b) => &stem[..stem.len() - 1],
        _ => stem,
    }
}

/// The searchable words of `text`, stemmed, stop words dropped.
fn terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    for_each_term(text, |term| terms.push(term.to_string()));
    terms
}

/// Calls `each` with every term [`terms`] would return, without building a list (or, mostly,
/// a string: a term is a slice of the word being split).
fn for_each_term(text: &str, mut each: impl FnMut(&str)) {
    names::for_each_word(text, |word| {
        if !is_stop_word(word) {
            each(&stem_lower(word));
        }
    });
}

/// The inverted index of one snapshot.
#[derive(Debug, Default)]
pub(crate) struct SearchIndex {
    /// Term → (tool index, weighted term frequency): 8 bytes a posting (weights are sums of
    /// a few field weights, exact in `f32`; a snapshot never holds 2³² tools).
    postings: HashMap<Box<str>, Vec<(u32, f32)>, FastHash>,
    /// BM25's length normalisation of each tool's document, computed once.
    norms: Vec<f64>,
    /// Every term, for prefix and typo expansion.
    vocabulary: Vec<Box<str>>,
}

/// The synonym groups, stemmed once.
static STEMMED_SYNONYMS: LazyLock<Vec<Vec<String>>> = LazyLock::new(|| {
    SYNONYMS
        .iter()
        .map(|group| group.iter().map(|w| stem(w)).collect())
        .collect()
});

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// Index into the registry's tools.
    pub index: usize,
    /// Higher is better.
    pub score: f64,
}

impl SearchIndex {
    /// Indexes `tools` (in registry order): slices of them on the rebuild threads, merged in
    /// order.
    pub(crate) fn build(
        tools: &[ToolEntry],
        domains: &BTreeMap<String, DomainEntry>,
    ) -> SearchIndex {
        let threads = cpu_work::threads_available().max(1);
        // A few slices per thread, so an uneven one does not leave the others idle; a short
        // list is one slice, indexed on this thread.
        let size = if tools.len() < 2 * cpu_work::MIN_PARALLEL_CHUNK {
            tools.len().max(1)
        } else {
            tools
                .len()
                .div_ceil(threads * 4)
                .max(cpu_work::MIN_PARALLEL_CHUNK)
        };
        let slices: Vec<(usize, &[ToolEntry])> = tools
            .chunks(size)
            .enumerate()
            .map(|(n, slice)| (n * size, slice))
            .collect();
        let mut parts = cpu_work::map_in_order(slices, 1, |(first, slice)| {
            index_slice(first, slice, domains)
        })
        .into_iter();
        let mut index = SearchIndex::default();
        let mut lengths = Vec::with_capacity(tools.len());
        if let Some(mut first) = parts.next() {
            lengths = std::mem::take(&mut first.lengths);
            index.postings = first.into_postings().collect();
        }
        for mut part in parts {
            lengths.append(&mut part.lengths);
            for (term, list) in part.into_postings() {
                match index.postings.get_mut(&term) {
                    Some(known) => known.extend(list),
                    None => {
                        index.postings.insert(term, list);
                    }
                }
            }
        }
        for list in index.postings.values_mut() {
            list.shrink_to_fit();
        }
        let docs = lengths.len().max(1) as f64;
        let average = (lengths.iter().sum::<f64>() / docs).max(1e-9);
        index.norms = lengths
            .iter()
            .map(|length| K1 * (1.0 - B + B * length / average))
            .collect();
        index.vocabulary = index.postings.keys().cloned().collect();
        index.vocabulary.sort_unstable();
        index
    }

    /// Vocabulary terms matching a query term, with their credit.
    fn expand(&self, term: &str) -> Vec<(&str, f64)> {
        let mut matches = Vec::new();
        if let Some((key, _)) = self.postings.get_key_value(term) {
            matches.push((key.as_ref(), 1.0));
        }
        for group in STEMMED_SYNONYMS
            .iter()
            .filter(|g| g.iter().any(|w| w == term))
        {
            for word in group.iter().filter(|w| *w != term) {
                if let Some((key, _)) = self.postings.get_key_value(word.as_str()) {
                    matches.push((key.as_ref(), SYNONYM_CREDIT));
                }
            }
        }
        let chars = term.chars().count();
        if chars < 3 {
            return matches;
        }
        let max_edits = if chars >= 8 { 2 } else { 1 };
        // Prefix matches are a contiguous range of the sorted vocabulary.
        let start = self.vocabulary.partition_point(|v| v.as_ref() < term);
        for word in self.vocabulary[start..]
            .iter()
            .take_while(|v| v.starts_with(term))
        {
            if word.as_ref() != term {
                matches.push((word.as_ref(), PREFIX_CREDIT));
            }
        }
        if chars >= 4 && matches.is_empty() {
            for word in &self.vocabulary {
                let length_gap = word.chars().count().abs_diff(chars);
                if length_gap <= max_edits && strsim::damerau_levenshtein(term, word) <= max_edits {
                    matches.push((word.as_ref(), TYPO_CREDIT));
                }
            }
        }
        matches
    }

    /// Scores every tool for `query`; `keep` filters by tool index (domain narrowing).
    pub(crate) fn search(
        &self,
        query: &str,
        limit: usize,
        named: &[usize],
        keep: impl Fn(usize) -> bool,
    ) -> Vec<SearchHit> {
        let docs = self.norms.len();
        // Dense per-tool scores: one pass over each posting list, no hashing.
        let mut scores = vec![0.0f64; docs];
        let mut best = vec![0.0f64; docs];
        let mut touched: Vec<usize> = Vec::new();
        let mut query_terms: Vec<String> = terms(query);
        query_terms.dedup();
        for term in &query_terms {
            // Each document is credited once per query term, by its best-matching variant.
            touched.clear();
            for (word, credit) in self.expand(term) {
                let Some(postings) = self.postings.get(word) else {
                    continue;
                };
                let df = postings.len() as f64;
                let idf = ((docs as f64 - df + 0.5) / (df + 0.5) + 1.0).ln();
                for &(doc, tf) in postings {
                    let (doc, tf) = (doc as usize, f64::from(tf));
                    let score = credit * idf * tf * (K1 + 1.0) / (tf + self.norms[doc]);
                    if best[doc] == 0.0 {
                        touched.push(doc);
                    }
                    best[doc] = best[doc].max(score);
                }
            }
            for &doc in &touched {
                scores[doc] += best[doc];
                best[doc] = 0.0;
            }
        }
        for &doc in named {
            if let Some(score) = scores.get_mut(doc) {
                *score += EXACT_NAME_BONUS;
            }
        }
        let hits: Vec<SearchHit> = scores
            .into_iter()
            .enumerate()
            .filter(|&(doc, score)| score > 0.0 && keep(doc))
            .map(|(index, score)| SearchHit {
                index,
                score: (score * 1000.0).round() / 1000.0,
            })
            .collect();
        best_first(hits, limit)
    }
}

/// The postings and document lengths of a run of tools whose first is document `first`.
#[derive(Default)]
struct Slice {
    /// Term → its number in `lists`.
    terms: HashMap<Box<str>, usize, FastHash>,
    /// Each term's postings, by number.
    lists: Vec<Vec<(u32, f32)>>,
    lengths: Vec<f64>,
}

impl Slice {
    /// Term → postings, for the merge.
    fn into_postings(self) -> impl Iterator<Item = (Box<str>, Vec<(u32, f32)>)> {
        let mut lists = self.lists;
        self.terms.into_iter().map(move |(term, number)| {
            (
                term,
                lists
                    .get_mut(number)
                    .map(std::mem::take)
                    .unwrap_or_default(),
            )
        })
    }
}

/// Indexes `tools`, the documents from `first` on.
fn index_slice(
    first: usize,
    tools: &[ToolEntry],
    domains: &BTreeMap<String, DomainEntry>,
) -> Slice {
    let mut slice = Slice {
        lengths: Vec::with_capacity(tools.len()),
        ..Slice::default()
    };
    // The current tool's weight of each term, by number (0: not in this tool), and the
    // numbers it has: no table is built or emptied per tool.
    let mut weights: Vec<f32> = Vec::new();
    let mut present: Vec<usize> = Vec::new();
    for (offset, entry) in tools.iter().enumerate() {
        let Ok(doc) = u32::try_from(first + offset) else {
            break;
        };
        let mut length = 0.0;
        let mut add = |text: &str, weight: f64| {
            for_each_term(text, |term| {
                let number = match slice.terms.get(term) {
                    Some(&number) => number,
                    None => {
                        let number = slice.lists.len();
                        slice.terms.insert(term.into(), number);
                        slice.lists.push(Vec::new());
                        weights.push(0.0);
                        number
                    }
                };
                if weights[number] == 0.0 {
                    present.push(number);
                }
                weights[number] += weight as f32;
                length += weight;
            });
        };
        add(&entry.name, NAME_WEIGHT);
        if entry.original_name() != &*entry.name {
            add(entry.original_name(), NAME_WEIGHT);
        }
        add(&entry.domain, DOMAIN_WEIGHT);
        if &*entry.group != "general" {
            add(&entry.group, DOMAIN_WEIGHT);
        }
        add(entry.description(), DESCRIPTION_WEIGHT);
        if let Some(text) = domains
            .get(&*entry.domain)
            .and_then(|d| d.description.as_deref())
        {
            add(text, DOMAIN_DESCRIPTION_WEIGHT);
        }
        add(entry.tool.parameter_text(), PARAMETER_WEIGHT);
        for number in present.drain(..) {
            slice.lists[number].push((doc, std::mem::take(&mut weights[number])));
        }
        slice.lengths.push(length);
    }
    slice
}

/// `hits` sorted best first, ties by index (index order is name order), cut to `limit`.
pub(crate) fn best_first(mut hits: Vec<SearchHit>, limit: usize) -> Vec<SearchHit> {
    let order = |a: &SearchHit, b: &SearchHit| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(Ordering::Equal)
            .then(a.index.cmp(&b.index))
    };
    // Only the best `limit` need sorting: select them first (linear), then sort those.
    if limit > 0 && hits.len() > limit {
        hits.select_nth_unstable_by(limit - 1, order);
        hits.truncate(limit);
    }
    hits.sort_by(order);
    hits.truncate(limit);
    hits
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::{ProtocolMode, Transport, UpstreamConfig};
    use crate::upstream::Upstream;
    use crate::validation::ListedTool;

    /// `count` tools of one domain with varied names, descriptions and parameters.
    fn entries(count: usize) -> Vec<ToolEntry> {
        let config = UpstreamConfig {
            description: Some("records of customers".into()),
            transport: Transport::Stdio {
                command: "unused".into(),
                args: Vec::new(),
                env: BTreeMap::new(),
                cwd: None,
            },
            protocol: ProtocolMode::Auto,
            curation: Default::default(),
            max_description_chars: usize::MAX,
            limits: Default::default(),
            forward_headers: Vec::new(),
        };
        let upstream = Arc::new(Upstream::new("crm".into(), config, None, None));
        let domain: Arc<str> = Arc::from("crm");
        let verbs = ["search", "create", "delete", "list", "update"];
        (0..count)
            .map(|i| {
                let name = format!("{}_record{i}", verbs[i % verbs.len()]);
                let tool: rmcp::model::Tool = serde_json::from_value(serde_json::json!({
                    "name": name,
                    "description": format!("Finds entries number {} of kind {}", i % 97, i % 13),
                    "inputSchema": {"type": "object", "properties": {
                        format!("field{}", i % 31): {"type": "string", "description": "the matching term"}
                    }},
                }))
                .expect("a tool");
                ToolEntry {
                    name: Arc::from(name.as_str()),
                    domain: Arc::clone(&domain),
                    group: Arc::from(verbs[i % verbs.len()]),
                    tool: ListedTool::new(tool),
                    upstream: Arc::clone(&upstream),
                }
            })
            .collect()
    }

    /// The index built in slices on several threads is the index of one pass over every tool.
    #[test]
    fn slices_merge_into_the_index_of_one_pass() {
        // Four threads even on a one-CPU runner, so the slices run in parallel.
        cpu_work::init_pool(Some(4));
        let tools = entries(3 * cpu_work::MIN_PARALLEL_CHUNK * 4 + 7);
        let mut domains = BTreeMap::new();
        domains.insert(
            "crm".to_string(),
            DomainEntry {
                description: Some("records of customers".into()),
                ..DomainEntry::default()
            },
        );
        let built = SearchIndex::build(&tools, &domains);
        let whole = index_slice(0, &tools, &domains);
        let whole: HashMap<Box<str>, Vec<(u32, f32)>, FastHash> = whole.into_postings().collect();
        let sorted = |postings: &HashMap<Box<str>, Vec<(u32, f32)>, FastHash>| {
            let mut all: Vec<_> = postings
                .iter()
                .map(|(term, list)| (term.clone(), list.clone()))
                .collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            all
        };
        assert_eq!(sorted(&built.postings), sorted(&whole));
        assert_eq!(built.norms.len(), tools.len());
        let one = SearchIndex::build(&tools[..1], &domains);
        assert_eq!(one.norms.len(), 1);
        // A tool of a later slice is found under its own index.
        let hits = built.search("list record1003", 3, &[], |_| true);
        assert_eq!(tools[hits[0].index].name.as_ref(), "list_record1003");
    }

    #[test]
    fn stemming_folds_plurals_and_verb_forms() {
        assert_eq!(stem("contacts"), "contact");
        assert_eq!(stem("Entities"), "entity");
        assert_eq!(stem("searches"), "search");
        assert_eq!(stem("status"), "status");
        assert_eq!(stem("address"), "address");
        assert_eq!(stem("running"), "run");
        assert_eq!(stem("created"), "creat");
        assert_eq!(stem("create"), "creat");
        assert_eq!(stem("creating"), "creat");
        assert_eq!(stem("file"), "file");
        assert_eq!(stem("files"), "file");
        // U+1000 ends in two equal bytes (E1 80 80): not a doubled letter, and no panic.
        assert_eq!(stem("\u{1000}ing"), "\u{1000}");
        assert_eq!(stem("\u{1000}ed"), "\u{1000}");
    }
}
