//! What the log store knows in memory: where each durable entry lies in the segments, the
//! entries not yet durable, and the vote, committed id and purge point.
//!
//! ```text
//!  Segments::open ──records──► LogIndex::replay          (once, at start)
//!  writer: after each group commit ──► LogIndex::durable (entries move pending → located,
//!                                        and stay in memory among the recent ones)
//!  LogStore reads ──► LogIndex::plan ──► SegmentReader::read_many (outside the lock)
//! ```
//!
//! One mutex guards it all, so an entry is always either pending or located, never
//! neither: the writer records its location and drops it from the pending map in one step.
//!
//! The last [`RECENT_BYTES`] of durable entries also stay decoded in memory. Every entry is
//! read back moments after its sync, by the state machine that applies it and, on a leader,
//! by each follower's replication; served from memory those reads cost a clone instead of a
//! hop to the blocking pool, a `pread` and a decode (docs/benchmarks.md, 2026-12-04 04:30).
//! Older entries (a follower catching up, a restart) are read from the segments.

use std::collections::BTreeMap;
use std::io;
use std::ops::Bound;

use konsul_proto::raft::v1 as pb;
use openraft::type_config::alias::{EntryOf, LogIdOf, VoteOf};
use prost::Message;

use super::segments::{Location, Record, SegmentReader, Segments};
use crate::raft::{TypeConfig, codec};

type Entry = EntryOf<TypeConfig>;
type LogId = LogIdOf<TypeConfig>;

/// Encoded bytes of durable entries kept decoded in memory after their sync (the newest
/// ones; the oldest go first). A few seconds of writes at full speed on a small machine.
pub(super) const RECENT_BYTES: usize = 8 * 1024 * 1024;

/// The log's state in memory (see the module docs).
pub(super) struct LogIndex {
    /// Durable entries by index: their id and where their record lies.
    located: BTreeMap<u64, (LogId, Location)>,
    /// Entries appended but not yet durable, with their encoded size: readable at once, as
    /// openraft requires.
    pub pending: BTreeMap<u64, (Entry, usize)>,
    /// The newest durable entries, decoded, with their encoded size (see the module docs).
    recent: BTreeMap<u64, (Entry, usize)>,
    /// Encoded bytes of `recent`, at most `recent_budget` after every step.
    recent_bytes: usize,
    /// How many encoded bytes `recent` may hold ([`RECENT_BYTES`] unless set).
    recent_budget: usize,
    /// Reads the segments the located entries are in.
    reader: SegmentReader,
    /// The [`Segments::generation`] `reader` was taken at.
    reader_generation: u64,
    pub vote: Option<VoteOf<TypeConfig>>,
    pub committed: Option<LogId>,
    pub purged: Option<LogId>,
}

/// What a read needs: the entries held in memory (pending or recent) and where the other
/// durable ones lie.
pub(super) struct ReadPlan {
    pub memory: Vec<Entry>,
    pub located: Vec<Location>,
    pub reader: SegmentReader,
}

fn bad(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
}

fn decode_log_id(bytes: &[u8]) -> io::Result<LogId> {
    let id = pb::LogId::decode(bytes).map_err(|e| bad("a raft log id", e))?;
    codec::decode_log_id(id).map_err(|e| bad("a raft log id", e))
}

fn decode_vote(bytes: &[u8]) -> io::Result<VoteOf<TypeConfig>> {
    let vote = pb::Vote::decode(bytes).map_err(|e| bad("the vote", e))?;
    codec::decode_vote(vote).map_err(|e| bad("the vote", e))
}

/// The body of a vote record.
pub(super) fn encode_vote(vote: &VoteOf<TypeConfig>) -> Vec<u8> {
    codec::encode_vote(vote).encode_to_vec()
}

/// The body of a purge record.
pub(super) fn encode_log_id(id: &LogId) -> Vec<u8> {
    codec::encode_log_id(id).encode_to_vec()
}

/// The committed id as a record stores it: empty for none.
pub(super) fn decode_committed(bytes: &[u8]) -> io::Result<Option<LogId>> {
    if bytes.is_empty() {
        return Ok(None);
    }
    decode_log_id(bytes).map(Some)
}

pub(super) fn encode_committed(id: &Option<LogId>) -> Vec<u8> {
    id.as_ref().map(encode_log_id).unwrap_or_default()
}

impl LogIndex {
    /// Rebuilds the state from every record of `segments` in log order.
    pub fn replay(records: Vec<(Location, Record)>, segments: &Segments) -> io::Result<Self> {
        let mut index = LogIndex {
            located: BTreeMap::new(),
            pending: BTreeMap::new(),
            recent: BTreeMap::new(),
            recent_bytes: 0,
            recent_budget: RECENT_BYTES,
            reader: segments.reader(),
            reader_generation: segments.generation(),
            vote: None,
            committed: None,
            purged: None,
        };
        for (at, record) in records {
            match record {
                Record::Entry(bytes) => {
                    let entry =
                        codec::entry_from_bytes(&bytes).map_err(|e| bad("a raft log entry", e))?;
                    index.place(entry.log_id, at);
                }
                Record::Vote(bytes) => index.vote = Some(decode_vote(&bytes)?),
                Record::Committed(bytes) => index.committed = decode_committed(&bytes)?,
                Record::Truncate(from) => index.truncate(from),
                Record::Purge(bytes) => index.purge(decode_log_id(&bytes)?),
            }
        }
        index.check_continuous()?;
        Ok(index)
    }

    /// Takes a new reader when `segments` created or removed a file since the last one.
    pub fn refresh_reader(&mut self, segments: &Segments) {
        if self.reader_generation != segments.generation() {
            self.reader = segments.reader();
            self.reader_generation = segments.generation();
        }
    }

    /// A durable entry now lies at `at` (replacing an older one at its index).
    pub fn place(&mut self, id: LogId, at: Location) {
        self.located.insert(id.index, (id, at));
    }

    /// Entries `ids` are durable at `at`: they leave the pending map for the recent ones,
    /// and once those outgrow their budget they are read from the segments.
    pub fn durable(&mut self, ids: &[LogId], at: &[Location]) {
        for (id, at) in ids.iter().zip(at) {
            self.place(*id, *at);
            if self
                .pending
                .get(&id.index)
                .is_some_and(|(e, _)| e.log_id == *id)
                && let Some((entry, size)) = self.pending.remove(&id.index)
            {
                self.keep_recent(entry, size);
            }
        }
    }

    /// Keeps at most `bytes` of encoded durable entries in memory from now on (0: none).
    pub fn keep_recent_up_to(&mut self, bytes: usize) {
        self.recent_budget = bytes;
        self.drop_recent_over_budget();
    }

    /// Keeps a just-synced entry in memory, dropping the oldest recent ones over budget.
    fn keep_recent(&mut self, entry: Entry, size: usize) {
        if let Some((_, old)) = self.recent.insert(entry.log_id.index, (entry, size)) {
            self.recent_bytes -= old;
        }
        self.recent_bytes += size;
        self.drop_recent_over_budget();
    }

    fn drop_recent_over_budget(&mut self) {
        while self.recent_bytes > self.recent_budget {
            let Some((_, (_, size))) = self.recent.pop_first() else {
                break;
            };
            self.recent_bytes -= size;
        }
    }

    /// Recounts `recent_bytes` after entries were cut from `recent`.
    fn recount_recent(&mut self) {
        self.recent_bytes = self.recent.values().map(|(_, size)| size).sum();
    }

    /// Every entry from `from` on is gone.
    pub fn truncate(&mut self, from: u64) {
        self.located.split_off(&from);
        self.pending.split_off(&from);
        self.recent.split_off(&from);
        self.recount_recent();
    }

    /// Every entry up to `upto` is gone, and the log now starts after it.
    pub fn purge(&mut self, upto: LogId) {
        self.located = self.located.split_off(&(upto.index + 1));
        self.pending = self.pending.split_off(&(upto.index + 1));
        self.recent = self.recent.split_off(&(upto.index + 1));
        self.recount_recent();
        self.purged = Some(upto);
    }

    /// The oldest segment still holding a kept entry (`None` when none is kept).
    pub fn oldest_segment(&self) -> Option<u64> {
        self.located.values().map(|(_, at)| at.segment).min()
    }

    /// The id of the last entry, pending or durable; the purge point when there is none.
    pub fn last_log_id(&self) -> Option<LogId> {
        let pending = self.pending.last_key_value().map(|(_, (e, _))| e.log_id);
        let located = self.located.last_key_value().map(|(_, (id, _))| *id);
        pending.max(located).or(self.purged)
    }

    /// The entries in `range` to read, in index order, stopping before the one that would
    /// take the answer past `max_bytes` of encoded entries (but never before the first):
    /// pending and recent ones as they are, other durable ones by location. A pending entry
    /// wins over a durable one at the same index (it replaces it once durable).
    pub fn plan(&self, range: (Bound<u64>, Bound<u64>), max_bytes: usize) -> ReadPlan {
        let mut plan = ReadPlan {
            memory: Vec::new(),
            located: Vec::new(),
            reader: self.reader.clone(),
        };
        let mut pending = self.pending.range(range).peekable();
        let mut located = self.located.range(range).peekable();
        let mut bytes = 0usize;
        loop {
            let next_pending = pending.peek().map(|(i, _)| **i);
            let next_located = located.peek().map(|(i, _)| **i);
            let take_pending = match (next_pending, next_located) {
                (None, None) => break,
                (Some(p), Some(l)) => p <= l,
                (p, _) => p.is_some(),
            };
            let size = if take_pending {
                pending.peek().map_or(0, |(_, (_, size))| *size)
            } else {
                located.peek().map_or(0, |(_, (_, at))| at.len as usize)
            };
            let taken = plan.memory.len() + plan.located.len();
            if taken > 0 && bytes.saturating_add(size) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(size);
            if take_pending {
                let (index, (entry, _)) = pending.next().expect("peeked");
                plan.memory.push(entry.clone());
                if next_located == Some(*index) {
                    located.next();
                }
            } else {
                let (index, (id, at)) = located.next().expect("peeked");
                match self.recent.get(index) {
                    Some((entry, _)) if entry.log_id == *id => plan.memory.push(entry.clone()),
                    _ => plan.located.push(*at),
                }
            }
        }
        plan
    }

    /// Refuses a log with a hole: the durable entries must run on without a gap, starting
    /// right after the purge point when there is one. (Each step that writes the log keeps
    /// it so; a hole means records were lost.)
    pub fn check_continuous(&self) -> io::Result<()> {
        let mut before = self.purged.map(|p| (p.index, "the purge point at"));
        for index in self.located.keys() {
            if let Some((prev, what)) = before
                && *index != prev + 1
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the raft log is not continuous: entry {index} follows {what} {prev}; \
                         refusing to start (restore the node's data dir or wipe it and let the \
                         node rejoin)"
                    ),
                ));
            }
            before = Some((*index, "entry"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The read plan: the byte budget, pending entries winning, and no gap after a cut.

    use openraft::EntryPayload;
    use openraft::vote::RaftLeaderId as _;

    use super::*;

    type LeaderId = openraft::type_config::alias::CommittedLeaderIdOf<TypeConfig>;

    fn id(index: u64) -> LogId {
        openraft::LogId::new(LeaderId::new(1, 1), index)
    }

    fn blank(index: u64) -> Entry {
        Entry {
            log_id: id(index),
            payload: EntryPayload::Blank,
        }
    }

    /// Durable entries 1..=4 of 100 bytes each, pending entries `pending`.
    fn index_with(dir: &std::path::Path, pending: &[u64]) -> LogIndex {
        let (segments, _) = Segments::open(dir, 1 << 16).unwrap();
        let mut index = LogIndex::replay(Vec::new(), &segments).unwrap();
        for i in 1..=4 {
            let at = Location {
                segment: 1,
                offset: i * 100,
                len: 100,
            };
            index.place(id(i), at);
        }
        for &i in pending {
            index.pending.insert(i, (blank(i), 100));
        }
        index
    }

    fn planned(plan: &ReadPlan) -> (Vec<u64>, Vec<u64>) {
        let located = plan.located.iter().map(|l| l.offset / 100).collect();
        let memory = plan.memory.iter().map(|e| e.log_id.index).collect();
        (located, memory)
    }

    #[test]
    fn the_budget_cuts_durable_entries_and_the_pending_ones_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let index = index_with(dir.path(), &[5, 6]);
        let all = (Bound::Included(1), Bound::Unbounded);
        assert_eq!(
            planned(&index.plan(all, usize::MAX)),
            (vec![1, 2, 3, 4], vec![5, 6])
        );
        // 250 bytes: two records fit; 5 and 6 would leave a gap after 2, so they wait too.
        assert_eq!(planned(&index.plan(all, 250)), (vec![1, 2], vec![]));
        // Never less than one entry.
        assert_eq!(planned(&index.plan(all, 1)), (vec![1], vec![]));
    }

    #[test]
    fn a_pending_entry_wins_over_a_durable_one_at_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let index = index_with(dir.path(), &[3]);
        let all = (Bound::Included(1), Bound::Unbounded);
        assert_eq!(
            planned(&index.plan(all, usize::MAX)),
            (vec![1, 2, 4], vec![3])
        );
    }

    #[test]
    fn truncate_and_purge_drop_pending_entries_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = index_with(dir.path(), &[5, 6, 7]);
        index.truncate(6);
        assert_eq!(index.last_log_id(), Some(id(5)));
        index.purge(id(5));
        assert_eq!(
            index.last_log_id(),
            Some(id(5)),
            "the purge point when empty"
        );
        assert!(index.pending.is_empty());
        assert_eq!(index.oldest_segment(), None);
    }

    #[test]
    fn pending_entries_count_against_the_budget_too() {
        let dir = tempfile::tempdir().unwrap();
        let index = index_with(dir.path(), &[5, 6, 7]);
        let from_four = (Bound::Included(4), Bound::Unbounded);
        assert_eq!(planned(&index.plan(from_four, 250)), (vec![4], vec![5]));
        let from_five = (Bound::Included(5), Bound::Unbounded);
        assert_eq!(planned(&index.plan(from_five, 1)), (vec![], vec![5]));
    }

    #[test]
    fn a_hole_in_the_durable_entries_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = index_with(dir.path(), &[]);
        index.check_continuous().unwrap();
        index.located.remove(&3);
        let e = index.check_continuous().unwrap_err();
        assert!(e.to_string().contains("entry 4 follows entry 2"), "{e}");
        let mut index = index_with(dir.path(), &[]);
        index.purged = Some(id(0));
        index.check_continuous().unwrap();
        index.purged = Some(id(1)); // a purge up to 1 removes entry 1
        let e = index.check_continuous().unwrap_err();
        assert!(
            e.to_string()
                .contains("entry 1 follows the purge point at 1"),
            "{e}"
        );
        index.purged = Some(id(2)); // entry 3 would have to come first
        index.located.remove(&1);
        index.located.remove(&2);
        index.located.remove(&3);
        let e = index.check_continuous().unwrap_err();
        assert!(
            e.to_string()
                .contains("entry 4 follows the purge point at 2"),
            "{e}"
        );
    }

    #[test]
    fn entries_just_made_durable_are_read_from_memory_until_the_budget_drops_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = index_with(dir.path(), &[5, 6, 7]);
        let size = RECENT_BYTES / 2 - 1;
        for i in [5, 6, 7] {
            index.pending.get_mut(&i).unwrap().1 = size;
        }
        let at = |i: u64| Location {
            segment: 1,
            offset: i * 100,
            len: 100,
        };
        index.durable(&[id(5), id(6)], &[at(5), at(6)]);
        assert!(index.pending.keys().eq([7].iter()));
        let all = (Bound::Included(1), Bound::Unbounded);
        assert_eq!(
            planned(&index.plan(all, usize::MAX)),
            (vec![1, 2, 3, 4], vec![5, 6, 7]),
            "5 and 6 from memory, like the still pending 7"
        );
        // A third half-budget entry pushes the oldest recent one out: read from disk again.
        index.durable(&[id(7)], &[at(7)]);
        assert_eq!(
            planned(&index.plan(all, usize::MAX)),
            (vec![1, 2, 3, 4, 5], vec![6, 7])
        );
        assert!(index.recent_bytes <= RECENT_BYTES);
        // With no budget, nothing stays: every durable entry is read from disk.
        let mut none = index_with(dir.path(), &[5]);
        none.keep_recent_up_to(0);
        none.durable(&[id(5)], &[at(5)]);
        assert_eq!(
            planned(&none.plan(all, usize::MAX)),
            (vec![1, 2, 3, 4, 5], vec![])
        );
        // A durable entry replaced at its index is not served from the old recent copy.
        let other = openraft::LogId::new(LeaderId::new(2, 1), 6);
        index.place(other, at(6));
        assert_eq!(
            planned(&index.plan(all, usize::MAX)),
            (vec![1, 2, 3, 4, 5, 6], vec![7])
        );
        // Truncate and purge drop recent entries too, and recount their bytes.
        index.truncate(7);
        assert_eq!(index.recent_bytes, size);
        index.purge(id(6));
        assert_eq!(index.recent_bytes, 0);
        assert!(index.recent.is_empty());
    }
}
