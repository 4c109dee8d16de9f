//! The deterministic state machine: the bottom of the data flow (DESIGN.md §1).
//!
//! Every node feeds the same committed Raft entries, in the same order, into
//! [`Store::apply`] (called by `raft/state_machine.rs` for each committed entry); because
//! apply reads no clock, no RNG, no environment and does no I/O, every node ends in the
//! same state with the same indices. `create_index` and `modify_index` are the Raft log
//! index passed to `apply`. The same holds for the service catalog: every time it needs (a
//! registration's or heartbeat's deadline, an expiry sweep, a new leader's grace period) is
//! stamped into the command by the leader, and services expire only through a replicated
//! `CatalogExpire`. Expected outcomes such as a CAS mismatch are ordinary
//! [`Response`]s, never errors. This module imports neither openraft nor tonic, so it is
//! tested without any cluster.
//!
//! Files: `command` (what the log carries and what apply answers), `kv` (the KV entries and
//! their half of apply), `catalog` (registered services and their half of apply), `check`
//! (health checks: definitions, replicated statuses, their commands), `requests` (the
//! outcomes of recent identified writes, for exactly-once retries),
//! `snapshot` (the on-disk image of a [`Store`], checksummed with `crc32fast`).

mod catalog;
mod check;
mod command;
mod kv;
mod requests;
mod response;
mod snapshot;
#[cfg(test)]
mod tests;

pub use catalog::{Service, ServiceEntry, service_key};
pub use check::{
    CheckDefinition, CheckKind, CheckResult, CheckState, CheckStatus, TTL_EXPIRED_OUTPUT,
    TTL_PASSED_OUTPUT,
};
pub use command::{
    Command, ExpiredService, KvCasItem, KvDeleteCasItem, KvSetItem, SERVICE_KEY_PREFIX,
};
pub use kv::KvEntry;
pub use requests::{
    MAX_CLIENTS, MAX_PER_CLIENT, MAX_REMEMBERED, RETENTION_MS, RequestId, RequestLog, Seen,
};
pub use response::{CasFailure, Response};
pub use snapshot::{MAX_SNAPSHOT_KEY_LEN, MAX_SNAPSHOT_VALUE_LEN};

use std::collections::{BTreeMap, BTreeSet};

/// The in-memory state of one node, rebuilt on restart from the latest snapshot plus a
/// replay of the Raft log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Store {
    /// Every key, ordered so that prefix listings are range scans and every iteration
    /// (snapshots included) has the same order on every node.
    kv: BTreeMap<String, KvEntry>,
    /// Every registered service by catalog key ([`Service::key`]), ordered for the same
    /// reason.
    catalog: BTreeMap<String, ServiceEntry>,
    /// Which service owns each check id: derived from `catalog` (rebuilt when a snapshot
    /// is read), kept so `PUT /health/check/{id}` finds its check without a scan.
    check_owners: BTreeMap<String, String>,
    /// The catalog keys carrying each tag: derived from `catalog` like `check_owners`, so a
    /// tag query reads the services of its rarest tag instead of scanning the catalog.
    tag_index: BTreeMap<String, BTreeSet<String>>,
    /// See [`Store::catalog_index`]; carried in snapshots.
    catalog_index: u64,
    /// Outcomes of recent identified writes (exactly-once retries); carried in snapshots.
    requests: RequestLog,
}

impl Store {
    /// An empty store: the state before log index 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one committed command at log `index`. Deterministic and total: any command
    /// on any state yields a [`Response`] (a failed CAS included) and never panics, so a
    /// strange entry cannot make replicas diverge or crash.
    pub fn apply(&mut self, index: u64, command: Command) -> Response {
        match command {
            Command::KvSet { key, value, flags } => self.kv_set(index, key, value, flags),
            Command::KvDelete { key } => self.kv_delete(&key),
            Command::KvSetCas {
                key,
                value,
                expected_index,
            } => self.kv_set_cas(index, key, value, expected_index),
            Command::KvDeleteCas {
                key,
                expected_index,
            } => self.kv_delete_cas(&key, expected_index),
            Command::KvBatchSet { items } => self.kv_batch_set(index, items),
            Command::KvBatchDelete { keys } => self.kv_batch_delete(&keys),
            Command::KvBatchSetCas { items } => self.kv_batch_set_cas(index, items),
            Command::KvBatchDeleteCas { items } => self.kv_batch_delete_cas(&items),
            Command::CatalogRegister {
                service,
                expected_index,
                now_ms,
            } => self.catalog_register(index, service, expected_index, now_ms),
            Command::CatalogDeregister {
                key,
                expected_index,
            } => self.catalog_deregister(index, &key, expected_index),
            Command::CatalogHeartbeat { key, now_ms } => self.catalog_heartbeat(key, now_ms),
            Command::CatalogExpire { now_ms } => self.catalog_expire(index, now_ms),
            Command::CatalogExpireServices { now_ms, services } => {
                self.catalog_expire_services(index, now_ms, &services)
            }
            Command::CatalogGrace { now_ms } => self.catalog_grace(now_ms),
            Command::CatalogBatchRegister { services, now_ms } => {
                self.catalog_batch_register(index, services, now_ms)
            }
            Command::CatalogBatchDeregister { keys } => self.catalog_batch_deregister(index, &keys),
            Command::CheckTtlUpdate {
                check_id,
                status,
                output,
                now_ms,
            } => self.check_ttl_update(index, check_id, status, output, now_ms),
            Command::CheckResults { results, now_ms } => self.check_results(index, results, now_ms),
            Command::Identified {
                request,
                now_ms,
                command,
            } => self.apply_identified(index, request, now_ms, *command),
            Command::Multi { commands } => {
                Response::Multi(commands.into_iter().map(|c| self.apply(index, c)).collect())
            }
        }
    }

    /// Applies an identified write unless its request id was applied before (then: the
    /// first outcome) or was forgotten while its client is remembered (then: refused).
    fn apply_identified(
        &mut self,
        index: u64,
        request: RequestId,
        now_ms: u64,
        command: Command,
    ) -> Response {
        self.requests.advance(now_ms);
        match self.requests.check(&request) {
            Seen::Done(first) => first,
            Seen::Expired { floor } => Response::RequestIdExpired {
                client_id: request.client_id,
                seq: request.seq,
                floor,
            },
            Seen::New => {
                let response = self.apply(index, command);
                self.requests.record(request, index, response.clone());
                response
            }
        }
    }

    /// The remembered outcomes of identified writes.
    pub fn requests(&self) -> &RequestLog {
        &self.requests
    }
}
