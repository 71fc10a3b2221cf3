//! The hybrid ranking used when the semantic ranker is on: tools ranked by cosine similarity to
//! the query (plus a domain prior: the mean similarity of the tool's domain, so a tool whose whole
//! upstream fits the task rises), fused with the lexical ranking by weighted reciprocal-rank
//! fusion: each list adds `weight / (K + rank)` per tool. Ranks are fused, not raw scores, as BM25
//! and cosine scales are not comparable. The constants were measured on the tool catalog's query
//! set (see README "Search quality"), the semantic list weighted higher as it ranks better alone.

use std::collections::HashMap;

use super::{SearchHit, ToolEntry};
use crate::semantic::similarity;

/// Reciprocal-rank damping: small, as only the first few ranks of each list matter here.
const K: f64 = 10.0;
/// Weight of the lexical list.
const LEXICAL_WEIGHT: f64 = 1.0;
/// Weight of the semantic list.
const SEMANTIC_WEIGHT: f64 = 2.0;
/// Weight of the domain's mean similarity added to each tool's own.
const DOMAIN_PRIOR: f32 = 0.5;
/// Cosine similarity below which a tool is unrelated to the query (so a query about nothing
/// the gateway serves still finds nothing).
const MIN_SIMILARITY: f32 = 0.15;
/// How deep each list takes part in the fusion.
pub(crate) const DEPTH: usize = 50;

/// The `DEPTH` tools most similar to `query_vector` among those `keep` accepts that have an
/// embedding and are related at all, best first (ties by index).
pub(crate) fn semantic_ranking(
    tools: &[ToolEntry],
    query_vector: &[f32],
    keep: impl Fn(usize) -> bool,
) -> Vec<(usize, f32)> {
    let scored: Vec<(usize, f32)> = tools
        .iter()
        .enumerate()
        .filter(|&(index, _)| keep(index))
        .filter_map(|(index, entry)| {
            Some((index, similarity(query_vector, entry.tool.embedding()?)))
        })
        .collect();
    let mut domains: HashMap<&str, (f32, usize)> = HashMap::new();
    for &(index, score) in &scored {
        let slot = domains.entry(&*tools[index].domain).or_default();
        slot.0 += score;
        slot.1 += 1;
    }
    let mut ranked: Vec<(usize, f32)> = scored
        .into_iter()
        .filter(|&(_, score)| score >= MIN_SIMILARITY)
        .map(|(index, score)| {
            let prior = domains
                .get(&*tools[index].domain)
                .map_or(0.0, |&(sum, count)| sum / count.max(1) as f32);
            (index, score + DOMAIN_PRIOR * prior)
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(DEPTH);
    ranked
}

/// Fuses `lexical` and `semantic` (both best first) into at most `limit` hits, best first, ties
/// by index (name order).
pub(crate) fn fuse(
    lexical: &[SearchHit],
    semantic: &[(usize, f32)],
    limit: usize,
) -> Vec<SearchHit> {
    let mut scores: HashMap<usize, f64> = HashMap::new();
    for (rank, hit) in lexical.iter().enumerate() {
        *scores.entry(hit.index).or_default() += LEXICAL_WEIGHT / (K + rank as f64 + 1.0);
    }
    for (rank, &(index, _)) in semantic.iter().enumerate() {
        *scores.entry(index).or_default() += SEMANTIC_WEIGHT / (K + rank as f64 + 1.0);
    }
    let hits: Vec<SearchHit> = scores
        .into_iter()
        .map(|(index, score)| SearchHit {
            index,
            score: (score * 10_000.0).round() / 10_000.0,
        })
        .collect();
    super::search::best_first(hits, limit)
}

#[cfg(test)]
mod tests {
    use super::{SearchHit, fuse};

    fn hit(index: usize) -> SearchHit {
        SearchHit { index, score: 1.0 }
    }

    #[test]
    fn a_tool_both_rankers_like_beats_one_only_one_likes() {
        // 2 is second in both lists; 0 first lexically only, 5 first semantically only.
        let fused = fuse(&[hit(0), hit(2)], &[(5, 0.9), (2, 0.8)], 10);
        let order: Vec<usize> = fused.iter().map(|h| h.index).collect();
        assert_eq!(order, vec![2, 5, 0]);
    }

    #[test]
    fn the_semantic_list_weighs_more_and_limit_applies() {
        let fused = fuse(&[hit(1)], &[(3, 0.5)], 1);
        assert_eq!(fused.len(), 1);
        assert_eq!(fused[0].index, 3);
    }
}
