//! Case- and separator-insensitive name lookup that keeps no copy of any name: a sorted list of
//! (hash of the folded name, tool) pairs; a lookup folds the query, takes the pairs with its
//! hash and confirms each by folding that tool's name again (a handful of short strings).

use std::hash::BuildHasher;

use super::{ToolEntry, names};

use crate::fast_hash::FastHash as Hasher;

/// Which of a tool's names a key was made from.
const EXPOSED: u32 = 0;
const ORIGINAL: u32 = 1;

/// Every tool's folded exposed and original names, by hash.
#[derive(Debug, Default)]
pub(crate) struct FoldedNames {
    hasher: Hasher,
    /// (hash of a folded name, tool index << 1 | which name), sorted.
    keys: Vec<(u64, u32)>,
}

impl FoldedNames {
    /// Indexes `tools` (in registry order).
    pub(crate) fn build(tools: &[ToolEntry]) -> FoldedNames {
        let hasher = Hasher::default();
        let mut keys = Vec::with_capacity(tools.len());
        for (index, entry) in tools.iter().enumerate() {
            let Some(slot) = u32::try_from(index).ok().and_then(|i| i.checked_mul(2)) else {
                break;
            };
            let exposed = names::fold(&entry.name);
            keys.push((hasher.hash_one(&exposed), slot | EXPOSED));
            let original = names::fold(entry.original_name());
            if original != exposed {
                keys.push((hasher.hash_one(&original), slot | ORIGINAL));
            }
        }
        keys.sort_unstable();
        keys.shrink_to_fit();
        FoldedNames { hasher, keys }
    }

    /// Indexes of the tools whose exposed or original name folds to `folded`, ascending.
    pub(crate) fn get(&self, folded: &str, tools: &[ToolEntry]) -> Vec<usize> {
        let hash = self.hasher.hash_one(folded);
        let start = self.keys.partition_point(|&(h, _)| h < hash);
        let mut found: Vec<usize> = self.keys[start..]
            .iter()
            .take_while(|&&(h, _)| h == hash)
            .filter_map(|&(_, slot)| {
                let index = (slot >> 1) as usize;
                let entry = tools.get(index)?;
                let name = if slot & 1 == ORIGINAL {
                    entry.original_name()
                } else {
                    &entry.name
                };
                (names::fold(name) == folded).then_some(index)
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}
