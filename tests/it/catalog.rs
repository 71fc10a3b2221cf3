//! The recorded real-server catalog and the hand-written query set: sane, complete, and searched
//! well enough (the `discovery` benchmark prints the same figures in detail).

use crate::support::catalog;

#[test]
fn the_catalog_and_queries_are_complete_and_consistent() {
    let files = catalog::load_catalog();
    let tools: usize = files.iter().map(|f| f.tools.len()).sum();
    assert!(files.len() >= 8, "only {} domains", files.len());
    assert!(tools >= 300, "only {tools} tools");
    for file in &files {
        assert!(
            file.source["package"].is_string() && file.source["version"].is_string(),
            "{} lacks provenance",
            file.domain
        );
    }
    let registry = catalog::catalog_registry(&files);
    assert_eq!(
        registry.tools().len(),
        tools,
        "every recorded tool is exposed: {:?}",
        registry.rejected()
    );
    let queries = catalog::load_queries();
    assert!(queries.len() >= 100, "only {} queries", queries.len());
    for query in &queries {
        assert!(
            !query.expected.is_empty(),
            "{:?} has no expected tool",
            query.query
        );
        for expected in &query.expected {
            let found = registry
                .tools()
                .iter()
                .any(|t| format!("{}/{}", t.domain, t.original_name) == *expected);
            assert!(
                found,
                "{:?} expects {expected}, which is not in the catalog",
                query.query
            );
        }
    }
}

/// The lexical ranker's recall@5 on the catalog was 0.747 when this floor was set; the issue's
/// goal is 0.9, which needs the semantic ranker (see BENCHMARKS and issue 5). This guards against
/// regressions of the lexical ranker meanwhile.
const LEXICAL_RECALL_AT_5_FLOOR: f64 = 0.72;

#[test]
fn lexical_search_quality_does_not_regress() {
    let files = catalog::load_catalog();
    let registry = catalog::catalog_registry(&files);
    let mut misses = Vec::new();
    let quality = catalog::evaluate(&registry, &catalog::load_queries(), &mut misses);
    eprintln!("{quality:?}");
    assert!(
        quality.recall_at_5 >= LEXICAL_RECALL_AT_5_FLOOR,
        "recall@5 {:.3} fell below {LEXICAL_RECALL_AT_5_FLOOR}; misses: {misses:#?}",
        quality.recall_at_5
    );
}
