//! Lowe's memoisation cache for the WGL search (`search.rs`): the configurations (which
//! operations are linearized, model state) already explored, so that none is explored twice,
//! extended with subsumption for operations that need never take effect.
//!
//! ```text
//!  search.rs ──insert(bitset, known_hash, state)──► Cache: "new" (explore it) / "seen" (skip)
//! ```
//!
//! Whether the remaining operations can be linearized depends only on the configuration, not
//! on the order that led to it, so a configuration seen before is either failed or still being
//! explored further up the stack. Operations with an unknown outcome and no return are
//! *optional*: a configuration that has spent more of them than a seen one with the same
//! required operations and the same state can do nothing the seen one could not (unspent
//! optional operations block nothing), so it is skipped too. The stack-ancestor case stays
//! sound because a shortest completion never passes through a configuration dominated by an
//! earlier one on its own path.
//!
//! Bitsets live in one flat arena and collisions are resolved by full comparison through an
//! intrusive chain, so an insert allocates nothing but arena growth. The hash covers only the
//! required operations' bits and the state, so dominated configurations share a chain.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Marks the end of a collision chain.
const END: u32 = u32::MAX;

/// Explored configurations of one search.
pub(crate) struct Cache<S> {
    /// Words per bitset.
    words: usize,
    /// Bitset of the optional operations (unknown outcome, no return).
    optional: Vec<u64>,
    /// Bitset of entry `i` is `bits[i * words..(i + 1) * words]`.
    bits: Vec<u64>,
    /// State of entry `i`.
    states: Vec<S>,
    /// Next entry with the same hash, or [`END`].
    chain: Vec<u32>,
    /// Combined hash → most recent entry with it.
    heads: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
}

impl<S: Eq + Hash + Clone> Cache<S> {
    /// An empty cache for bitsets shaped like `optional`, which marks the optional operations.
    pub(crate) fn new(optional: Vec<u64>) -> Self {
        Cache {
            words: optional.len(),
            optional,
            bits: Vec::new(),
            states: Vec::new(),
            chain: Vec::new(),
            heads: HashMap::default(),
        }
    }

    /// How many configurations are stored.
    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }

    /// Records (`bits`, `state`); true if neither it nor a configuration dominating it was
    /// there yet. `known_hash` must be a hash of the required operations' bits alone (the
    /// search maintains it incrementally).
    pub(crate) fn insert(&mut self, bits: &[u64], known_hash: u64, state: &S) -> bool {
        let hash = known_hash ^ hash_state(state);
        let next = self.states.len() as u32;
        let mut replace = None;
        let previous = match self.heads.entry(hash) {
            Entry::Vacant(slot) => {
                slot.insert(next);
                END
            }
            Entry::Occupied(slot) => {
                let mut at = *slot.get();
                while at != END {
                    let i = at as usize;
                    if self.states[i] == *state {
                        let seen = &self.bits[i * self.words..(i + 1) * self.words];
                        if covers(seen, bits, &self.optional) {
                            return false;
                        }
                        if replace.is_none() && covers(bits, seen, &self.optional) {
                            replace = Some(i);
                        }
                    }
                    at = self.chain[i];
                }
                *slot.get()
            }
        };
        if let Some(i) = replace {
            // The stored configuration is dominated by this one: this one takes its place.
            self.bits[i * self.words..(i + 1) * self.words].copy_from_slice(bits);
            return true;
        }
        if previous != END {
            self.heads.insert(hash, next);
        }
        self.bits.extend_from_slice(bits);
        self.states.push(state.clone());
        self.chain.push(previous);
        true
    }
}

/// True if configuration `small` dominates `big`: `small ⊆ big`, and what `big` has more is
/// optional operations only.
fn covers(small: &[u64], big: &[u64], optional: &[u64]) -> bool {
    small
        .iter()
        .zip(big)
        .zip(optional)
        .all(|((&s, &b), &o)| s & !b == 0 && (b & !s) & !o == 0)
}

/// A fast, deterministic hash of a model state (FxHash-style multiply-rotate, then a
/// splitmix64 finaliser so the high bits the hash table uses are well mixed).
fn hash_state<S: Hash>(state: &S) -> u64 {
    let mut hasher = Fx(0);
    state.hash(&mut hasher);
    mix(hasher.0)
}

/// splitmix64's finaliser: a cheap bijective scrambler.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FxHash-like state hasher: no per-process random keys, so runs are reproducible.
struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_u8(&mut self, byte: u8) {
        self.write_u64(u64::from(byte));
    }

    fn write_u32(&mut self, word: u32) {
        self.write_u64(u64::from(word));
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }
}

/// The table's keys are already well-mixed hashes: use them as they are.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = mix(self.0 ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = word;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinguishes_bitsets_and_states_even_on_equal_hashes() {
        let mut cache: Cache<Option<u64>> = Cache::new(vec![0, 0]);
        assert!(cache.insert(&[1, 0], 7, &Some(3)));
        assert!(!cache.insert(&[1, 0], 7, &Some(3)));
        // Same (forged) hash, different bitset or state: both new.
        assert!(cache.insert(&[2, 0], 7, &Some(3)));
        assert!(cache.insert(&[1, 0], 7, &None));
        assert!(!cache.insert(&[2, 0], 7, &Some(3)));
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn spending_more_optional_operations_is_dominated() {
        // Operations 1 and 2 (bits 0b110) are optional.
        let mut cache: Cache<Option<u64>> = Cache::new(vec![0b110]);
        assert!(cache.insert(&[0b011], 7, &Some(3)));
        assert!(
            !cache.insert(&[0b111], 7, &Some(3)),
            "superset of optional: dominated"
        );
        assert!(
            cache.insert(&[0b101], 7, &Some(3)),
            "different optional set"
        );
        assert!(
            cache.insert(&[0b001], 7, &Some(3)),
            "subset: new, and replaces 0b011"
        );
        assert!(!cache.insert(&[0b011], 7, &Some(3)));
        assert_eq!(cache.len(), 2);
        // A differing required operation (bit 0) is never dominated.
        assert!(cache.insert(&[0b010], 7, &Some(3)));
    }
}
