//! "Did you mean" for unknown tool names: ranked by edit distance between folded names and by
//! shared words, so `contacts_serch` puts `crm_contacts_search` first.

use std::cmp::Ordering;

use super::{Registry, names};

/// Below this score a name is not worth suggesting.
const MIN_SCORE: f64 = 0.45;

/// Up to `limit` exposed names closest to `query`, best first, ties by name.
pub(crate) fn suggest(registry: &Registry, query: &str, limit: usize) -> Vec<String> {
    let folded = names::fold(query);
    if folded.is_empty() {
        return Vec::new();
    }
    let query_words = names::words(query);
    let mut scored: Vec<(f64, &str)> = registry
        .tools
        .iter()
        .map(|entry| {
            let similarity = [&*entry.name, entry.original_name()]
                .iter()
                .map(|n| strsim::normalized_damerau_levenshtein(&folded, &names::fold(n)))
                .fold(0.0, f64::max);
            let words = names::words(entry.original_name());
            let shared = shared_words(&query_words, &words);
            let containment = if names::fold(&entry.name).contains(&folded) && folded.len() >= 3 {
                0.3
            } else {
                0.0
            };
            (similarity + 0.25 * shared + containment, &*entry.name)
        })
        .filter(|(score, _)| *score >= MIN_SCORE)
        .collect();
    scored.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(Ordering::Equal)
            .then(a.1.cmp(b.1))
    });
    scored
        .into_iter()
        .take(limit)
        .map(|(_, name)| name.to_string())
        .collect()
}

/// How many query words match a word of the candidate, allowing one typo in words of 4+ letters.
fn shared_words(query: &[String], candidate: &[String]) -> f64 {
    query
        .iter()
        .filter(|q| {
            candidate.iter().any(|c| {
                c == *q || (q.len() >= 4 && c.len() >= 4 && strsim::damerau_levenshtein(q, c) <= 1)
            })
        })
        .count() as f64
}
