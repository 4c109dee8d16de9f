//! Exactly-once writes: the outcomes of recent client-identified writes, so that a retried
//! write returns the first attempt's outcome instead of applying again.
//!
//! ```text
//!  api (write with a request id) ──► Command::Identified { request, now_ms, command }
//!  Store::apply ──► RequestLog::lookup(request) ── seen: the stored Response, nothing applied
//!                                               └─ new:  apply command, remember its Response
//! ```
//!
//! A client names each write `(client_id, seq)`. Like everything in the store this is
//! deterministic: what is remembered, and what is forgotten when, depends only on the log,
//! measured in log terms, never in a node's own clock. *Log time* is the highest
//! leader-stamped `now_ms` any identified write carried so far: it never goes back and every
//! node computes the same one (a leader whose wall clock runs ahead moves it forward early,
//! which shortens the windows below by as much).
//!
//! Outcomes are forgotten in three ways, and whenever one is, its client's *floor* rises past
//! its seq, so that a retry of a forgotten write is refused (`Response::RequestIdExpired`)
//! rather than applied twice:
//! - per client, only the [`MAX_PER_CLIENT`] highest seqs are kept;
//! - in all, [`MAX_REMEMBERED`] outcomes and about [`MAX_REMEMBERED_BYTES`] of them (a batch
//!   outcome names every key it wrote), the oldest by log index first;
//! - an outcome older than [`RETENTION_MS`] of log time.
//!
//! A client's floor outlives its outcomes: the client is forgotten only [`RETENTION_MS`] of
//! log time after its last write (or, past [`MAX_CLIENTS`] clients, the longest silent one
//! first). Only then can a retry of one of its old ids apply a second time. Because outcomes
//! evicted by the total bounds raise the floor too, under extreme load a first attempt that
//! arrives long after a later seq of the same client may be refused; it is never applied
//! twice.
//!
//! The whole log is part of the snapshot (`snapshot/request_record.rs`).

use std::collections::{BTreeMap, BTreeSet};

use super::Response;

/// Outcomes remembered per client: the SDK retries a write within seconds, while a client
/// pipelines at most a few hundred writes.
pub const MAX_PER_CLIENT: usize = 1024;
/// Outcomes remembered in all (a remembered outcome costs about 150 bytes).
pub const MAX_REMEMBERED: usize = 100_000;
/// Rough bytes of remembered outcomes in all (see [`response_size`]).
pub const MAX_REMEMBERED_BYTES: usize = 32 * 1024 * 1024;
/// How long an outcome is remembered, and a silent client's floor, in log time
/// (leader-stamped milliseconds).
pub const RETENTION_MS: u64 = 10 * 60 * 1000;
/// Clients remembered at most (a client without outcomes costs its id and a few numbers).
pub const MAX_CLIENTS: usize = 100_000;

/// The name of one client write.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct RequestId {
    /// The client's own name for itself (the SDK draws a random one per client).
    pub client_id: String,
    /// The client's number for this write; a retry repeats it.
    pub seq: u64,
}

/// One remembered outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remembered {
    /// What the first attempt answered.
    pub response: Response,
    /// Log index at which it was applied.
    pub index: u64,
    /// Log time at which it was applied.
    pub at_ms: u64,
}

/// What a client has done lately.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientRequests {
    /// Sequence numbers below this were forgotten: a retry of one is refused.
    pub floor: u64,
    /// Remembered outcomes by sequence number.
    pub done: BTreeMap<u64, Remembered>,
    /// Log time of the client's latest identified write.
    pub last_ms: u64,
}

/// The remembered outcomes of every client (part of [`super::Store`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestLog {
    clients: BTreeMap<String, ClientRequests>,
    /// Every remembered outcome as (index, client, seq): the order they are forgotten in.
    order: BTreeSet<(u64, String, u64)>,
    /// Every client as (last_ms, client): the order clients are forgotten in.
    ages: BTreeSet<(u64, String)>,
    /// The highest leader-stamped time seen so far.
    log_time_ms: u64,
    /// [`response_size`] of everything remembered.
    bytes: usize,
}

/// What [`RequestLog::check`] found for a request id.
pub enum Seen {
    /// Never seen (or its client was forgotten): apply it.
    New,
    /// Applied before: this was its outcome.
    Done(Response),
    /// Forgotten while its client is still remembered: refuse it.
    Expired {
        /// The lowest sequence number still remembered for the client.
        floor: u64,
    },
}

impl RequestLog {
    /// Moves log time to `now_ms` (never back) and forgets what has aged out.
    pub fn advance(&mut self, now_ms: u64) {
        self.log_time_ms = self.log_time_ms.max(now_ms);
        let horizon = self.log_time_ms.saturating_sub(RETENTION_MS);
        while let Some((_, client, seq)) = self.order.first().cloned() {
            let at_ms = self
                .clients
                .get(&client)
                .and_then(|c| c.done.get(&seq))
                .map_or(0, |r| r.at_ms);
            if at_ms >= horizon && !self.over_budget() {
                break;
            }
            self.forget(&client, seq);
        }
        while let Some((last_ms, client)) = self.ages.first().cloned() {
            if last_ms >= horizon {
                break;
            }
            self.drop_client(&client);
        }
    }

    /// Whether `id` was applied before.
    pub fn check(&self, id: &RequestId) -> Seen {
        let Some(client) = self.clients.get(&id.client_id) else {
            return Seen::New;
        };
        if let Some(r) = client.done.get(&id.seq) {
            return Seen::Done(r.response.clone());
        }
        if id.seq < client.floor {
            return Seen::Expired {
                floor: client.floor,
            };
        }
        Seen::New
    }

    /// Remembers that `id` was applied at `index` with `response`, then enforces the
    /// per-client and total bounds.
    pub fn record(&mut self, id: RequestId, index: u64, response: Response) {
        let at_ms = self.log_time_ms;
        self.bytes += response_size(&response) + id.client_id.len();
        let client = self.clients.entry(id.client_id.clone()).or_default();
        let previous = std::mem::replace(&mut client.last_ms, at_ms);
        client.done.insert(
            id.seq,
            Remembered {
                response,
                index,
                at_ms,
            },
        );
        let excess = client.done.len().saturating_sub(MAX_PER_CLIENT);
        let dropped: Vec<u64> = client.done.keys().take(excess).copied().collect();
        self.ages.remove(&(previous, id.client_id.clone()));
        self.ages.insert((at_ms, id.client_id.clone()));
        self.order.insert((index, id.client_id.clone(), id.seq));
        for seq in dropped {
            self.forget(&id.client_id, seq);
        }
        while self.over_budget() {
            let Some((_, client, seq)) = self.order.first().cloned() else {
                break;
            };
            self.forget(&client, seq);
        }
        while self.clients.len() > MAX_CLIENTS {
            let Some((_, client)) = self.ages.first().cloned() else {
                break;
            };
            self.drop_client(&client);
        }
    }

    fn over_budget(&self) -> bool {
        self.order.len() > MAX_REMEMBERED || self.bytes > MAX_REMEMBERED_BYTES
    }

    /// Forgets one outcome; the client's floor rises past it (the client stays, floor and
    /// all, until it has been silent for [`RETENTION_MS`]).
    fn forget(&mut self, client_id: &str, seq: u64) {
        let Some(client) = self.clients.get_mut(client_id) else {
            return;
        };
        if let Some(r) = client.done.remove(&seq) {
            self.order.remove(&(r.index, client_id.to_owned(), seq));
            self.bytes = self
                .bytes
                .saturating_sub(response_size(&r.response) + client_id.len());
        }
        client.floor = client.floor.max(seq.saturating_add(1));
    }

    /// Forgets a client altogether: its outcomes and its floor.
    fn drop_client(&mut self, client_id: &str) {
        let Some(client) = self.clients.remove(client_id) else {
            return;
        };
        self.ages.remove(&(client.last_ms, client_id.to_owned()));
        for (seq, r) in client.done {
            self.order.remove(&(r.index, client_id.to_owned(), seq));
            self.bytes = self
                .bytes
                .saturating_sub(response_size(&r.response) + client_id.len());
        }
    }

    /// The highest leader-stamped time seen so far.
    pub fn log_time_ms(&self) -> u64 {
        self.log_time_ms
    }

    /// Every client, in client-id order (for the snapshot).
    pub fn clients(&self) -> impl Iterator<Item = (&String, &ClientRequests)> {
        self.clients.iter()
    }

    /// How many outcomes are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// How many clients are remembered (with outcomes, or only a floor).
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Rebuilds the log from a snapshot's parts.
    pub fn restore(log_time_ms: u64, clients: BTreeMap<String, ClientRequests>) -> Self {
        let order = clients
            .iter()
            .flat_map(|(id, c)| c.done.iter().map(|(seq, r)| (r.index, id.clone(), *seq)))
            .collect();
        let ages = clients
            .iter()
            .map(|(id, c)| (c.last_ms, id.clone()))
            .collect();
        let bytes = clients
            .iter()
            .flat_map(|(id, c)| {
                c.done
                    .values()
                    .map(move |r| response_size(&r.response) + id.len())
            })
            .sum();
        Self {
            clients,
            order,
            ages,
            log_time_ms,
            bytes,
        }
    }
}

/// A rough, deterministic size of a remembered outcome: its strings plus a fixed overhead.
pub fn response_size(r: &Response) -> usize {
    const OVERHEAD: usize = 64;
    OVERHEAD
        + match r {
            Response::Written { key, .. } | Response::Renewed { key, .. } => key.len(),
            Response::Registered { key, .. } | Response::NotFound { key } => key.len(),
            Response::BatchWritten { keys, .. } => keys.iter().map(|k| k.len() + 8).sum(),
            Response::Expired { keys, checks } => {
                keys.iter().chain(checks).map(|k| k.len() + 8).sum()
            }
            Response::CasFailed(super::CasFailure::Conflict { key, .. })
            | Response::CasFailed(super::CasFailure::NotFound { key }) => key.len(),
            Response::CheckIdTaken { check_id, owner } => check_id.len() + owner.len(),
            Response::CheckUpdated { check_id, .. } | Response::NotTtlCheck { check_id } => {
                check_id.len()
            }
            Response::Multi(rs) => rs.iter().map(response_size).sum(),
            Response::RequestIdExpired { client_id, .. } => client_id.len(),
            _ => 0,
        }
}
