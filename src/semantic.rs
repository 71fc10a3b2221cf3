//! The optional semantic ranker: a small local sentence-embedding model (BERT class, such as
//! all-MiniLM-L6-v2 in safetensors) that places a query and every tool in one vector space, so
//! "thumbs up the announcement" finds `add_reaction` without sharing a word with it. Built with
//! `--features semantic` and enabled by `[search] model_dir`; the model is read from disk once at
//! start and never fetched. Tool embeddings are computed off the request path and cached on the
//! listed tool; a query is embedded on a blocking thread when it arrives.

#[cfg(feature = "semantic")]
mod bert;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::registry::{Registry, ToolEntry, names};

/// Tools embedded per model call.
const BATCH: usize = 32;

/// Why the semantic ranker cannot load or run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SemanticError {
    /// This binary was built without the `semantic` feature.
    #[error("this build has no semantic ranker (build with `--features semantic`)")]
    NotBuilt,
    /// A model file is missing or unreadable.
    #[error("cannot load the embedding model: {0}")]
    Load(String),
    /// The model failed on an input.
    #[error("embedding failed: {0}")]
    Embed(String),
}

/// A loaded sentence-embedding model.
pub struct Semantic {
    #[cfg(feature = "semantic")]
    encoder: bert::Encoder,
    #[cfg(not(feature = "semantic"))]
    never: std::convert::Infallible,
    dir: PathBuf,
}

impl std::fmt::Debug for Semantic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semantic").field("dir", &self.dir).finish()
    }
}

impl Semantic {
    /// Loads the model in `dir` (`config.json`, `tokenizer.json`, `model.safetensors`).
    pub fn load(dir: &Path) -> Result<Semantic, SemanticError> {
        #[cfg(feature = "semantic")]
        {
            Ok(Semantic {
                encoder: bert::Encoder::load(dir)?,
                dir: dir.to_path_buf(),
            })
        }
        #[cfg(not(feature = "semantic"))]
        {
            let _ = dir;
            Err(SemanticError::NotBuilt)
        }
    }

    /// Where the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One unit-length vector per text (blocking: CPU-bound work).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SemanticError> {
        #[cfg(feature = "semantic")]
        {
            self.encoder.embed(texts)
        }
        #[cfg(not(feature = "semantic"))]
        {
            let _ = texts;
            match self.never {}
        }
    }

    /// The vector of one query (blocking).
    pub fn embed_query(&self, query: &str) -> Result<Arc<[f32]>, SemanticError> {
        let mut vectors = self.embed(&[query])?;
        vectors
            .pop()
            .map(Arc::from)
            .ok_or_else(|| SemanticError::Embed("the model returned no vector".into()))
    }

    /// Embeds every tool of `registry` that has no embedding yet, in batches, until `stop`
    /// says so between batches; returns how many were embedded (blocking).
    pub fn embed_missing(
        &self,
        registry: &Registry,
        stop: &dyn Fn() -> bool,
    ) -> Result<usize, SemanticError> {
        let missing: Vec<&ToolEntry> = registry
            .tools()
            .iter()
            .filter(|t| t.tool.embedding().is_none())
            .collect();
        let mut embedded = 0;
        for batch in missing.chunks(BATCH) {
            if stop() {
                break;
            }
            let texts: Vec<String> = batch.iter().map(|t| tool_text(t)).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let vectors = self.embed(&refs)?;
            for (entry, vector) in batch.iter().zip(vectors) {
                entry.tool.set_embedding(Arc::from(vector));
                embedded += 1;
            }
        }
        Ok(embedded)
    }
}

/// The text a tool is embedded from: its domain, its original name as words, its description.
/// Independent of the exposed name, so a collision rename does not invalidate it.
pub fn tool_text(entry: &ToolEntry) -> String {
    format!(
        "{} {}: {}",
        entry.domain,
        names::words(entry.original_name()).join(" "),
        entry.description()
    )
}

/// Cosine similarity of two unit vectors.
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
