//! Service heartbeats held in the leader's memory, the way etcd's lessor holds lease
//! keep-alives: a heartbeat costs no Raft entry, and only the decision that a service has
//! expired is replicated.
//!
//! ```text
//!  api::catalog heartbeat ──► RaftNode::read_until(Leader)   (this node leads, lease holds)
//!        └─► Heartbeats::renew(key, entry, now)   beat = (modify_index, now) in memory
//!  leader::expiry sweep ──► Heartbeats::due(store, now) ── marks each due service expiring
//!        └─► CatalogExpireServices { now_ms, [(key, modify_index)] } ─► raft/ ─► store/
//!  reads ──► Heartbeats::deadline(key, entry)   what this node knows of the deadline
//! ```
//!
//! A service's deadline is the later of its replicated `expires_at_ms` (set by its
//! registration and raised by each term's `CatalogGrace`) and the last heartbeat this node
//! recorded for that registration plus its TTL. Only the leader records heartbeats, so on a
//! follower the deadline is the replicated one, which for a live service lies in the past:
//! that is why no read hides a service by its deadline any more; a service is gone only once
//! the leader's replicated expiry has removed it.
//!
//! A beat belongs to one registration (its `modify_index`): a re-registration restarts the
//! deadline through the replicated value, and an old beat no longer counts. Once [`due`]
//! has chosen a service for removal, a heartbeat for it is refused (the caller answers "not
//! found", as for a removed service) until the removal applies; so a heartbeat is either
//! counted before the decision, and the service is not due, or refused after it. Nothing
//! here is durable: after a failover the new leader starts with an empty table, and the
//! grace entry of its term gives every service a full TTL from its own clock.
//!
//! [`due`]: Heartbeats::due

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::store::{ExpiredService, ServiceEntry, Store};

/// Most services one expiry entry removes; the rest wait for the next sweep. Keeps the entry
/// well under the peer message limit (a catalog key is at most a few hundred bytes).
pub const MAX_EXPIRED_PER_ENTRY: usize = 1_000;

/// The heartbeat table of one node. Shared (in an `Arc`) by the catalog API, which records
/// heartbeats, and the leader's expiry task, which reads it.
#[derive(Debug, Default)]
pub struct Heartbeats {
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    /// The last heartbeat per catalog key, on this node's clock.
    beats: HashMap<String, Beat>,
    /// Services chosen for removal whose removal has not applied yet, by key: the
    /// `modify_index` of the registration chosen.
    expiring: HashMap<String, u64>,
}

#[derive(Debug, Clone, Copy)]
struct Beat {
    /// The registration the heartbeat renewed.
    modify_index: u64,
    /// This node's time of the heartbeat, ms since the Unix epoch.
    at_ms: u64,
}

impl Heartbeats {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table holds no invariant a panicking holder could break half-way.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The deadline of `entry` (stored under `key`) as this node knows it: its replicated
    /// deadline, or its last heartbeat's time plus its TTL when that is later.
    pub fn deadline(&self, key: &str, entry: &ServiceEntry) -> u64 {
        deadline_in(&self.lock(), key, entry)
    }

    /// Records a heartbeat at `now_ms` for `entry`, stored under `key`, and answers the new
    /// deadline; `None` when the leader has already chosen the service for removal.
    pub fn renew(&self, key: &str, entry: &ServiceEntry, now_ms: u64) -> Option<u64> {
        let mut t = self.lock();
        if t.expiring.get(key) == Some(&entry.modify_index) {
            return None;
        }
        let fresh = Beat {
            modify_index: entry.modify_index,
            at_ms: now_ms,
        };
        // A beat of another registration is replaced; one of this one only moves forward.
        t.beats
            .entry(key.to_owned())
            .and_modify(|b| {
                if b.modify_index != fresh.modify_index || b.at_ms < now_ms {
                    *b = fresh;
                }
            })
            .or_insert(fresh);
        Some(deadline_in(&t, key, entry))
    }

    /// The services of `store` (the leader's applied state) whose deadline is at or before
    /// `now_ms`, in key order, at most [`MAX_EXPIRED_PER_ENTRY`]; each is marked expiring, so
    /// heartbeats for it are refused from now on. A service marked before and not yet removed is listed again (its earlier
    /// removal may not have committed). Beats and marks of services `store` no longer holds
    /// in that registration are dropped.
    pub fn due(&self, store: &Store, now_ms: u64) -> Vec<ExpiredService> {
        let mut guard = self.lock();
        let t = &mut *guard;
        let current =
            |key: &str, index: u64| store.service(key).is_some_and(|e| e.modify_index == index);
        t.beats.retain(|key, beat| current(key, beat.modify_index));
        t.expiring.retain(|key, index| current(key, *index));
        let mut due = Vec::new();
        for (key, entry) in store.services() {
            if due.len() == MAX_EXPIRED_PER_ENTRY {
                break;
            }
            let marked = t.expiring.get(key) == Some(&entry.modify_index);
            if marked || deadline_in(t, key, entry) <= now_ms {
                due.push(ExpiredService {
                    key: key.clone(),
                    modify_index: entry.modify_index,
                });
            }
        }
        for d in &due {
            t.beats.remove(&d.key);
            t.expiring.insert(d.key.clone(), d.modify_index);
        }
        due
    }

    /// Forgets every beat and mark: a new leadership term starts from its grace entry.
    pub fn clear(&self) {
        let mut t = self.lock();
        t.beats.clear();
        t.expiring.clear();
    }

    /// How many services have a recorded heartbeat (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.lock().beats.len()
    }

    /// Whether no heartbeat is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn deadline_in(t: &Table, key: &str, entry: &ServiceEntry) -> u64 {
    let beat = t
        .beats
        .get(key)
        .filter(|b| b.modify_index == entry.modify_index)
        .map_or(0, |b| b.at_ms.saturating_add(entry.service.ttl_ms));
    entry.expires_at_ms.max(beat)
}

#[cfg(test)]
mod tests;
