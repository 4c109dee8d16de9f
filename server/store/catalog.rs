//! The catalog half of the state machine: registered services, the catalog commands' apply
//! logic and the catalog reads.
//!
//! [`super::Store::apply`] (driven by `raft/state_machine.rs` for each committed entry)
//! dispatches catalog commands here. Liveness is deterministic: the leader stamps `now_ms`
//! into every command that needs a time, so a service's `expires_at_ms` (as of its
//! registration or the last grace entry) is the same number on every node. Heartbeats stay
//! in the leader's memory (`leader/heartbeats.rs`), so that number is not a live deadline:
//! a service disappears only when the leader's replicated `CatalogExpireServices` names it.
//! Nothing here reads a clock. A service's health checks (`check.rs`) live in its
//! entry and leave with it.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::check::{CheckDefinition, CheckKind, CheckState};
use super::{CasFailure, ExpiredService, Response, Store};

/// A service registration as the client described it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Service name; several instances may share it when each has an `id`.
    pub name: String,
    /// Instance id; `None` means one registration per name (the Konsul contract).
    pub id: Option<String>,
    /// Address clients should dial.
    pub address: String,
    /// Port clients should dial.
    pub port: u16,
    /// Tags, in the client's order.
    pub tags: Vec<String>,
    /// Metadata pairs.
    pub meta: BTreeMap<String, String>,
    /// How long a registration or heartbeat keeps the service alive, in milliseconds.
    pub ttl_ms: u64,
    /// Health checks, in the client's order; their ids are unique across the catalog.
    pub checks: Vec<CheckDefinition>,
}

/// The catalog key of service `name` with instance `id`: `name`, or `name/id`. The API must
/// keep `/` out of names and ids so that two services never share a key.
pub fn service_key(name: &str, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("{name}/{id}"),
        None => name.to_owned(),
    }
}

impl Service {
    /// This service's catalog key (see [`service_key`]).
    pub fn key(&self) -> String {
        service_key(&self.name, self.id.as_deref())
    }
}

/// One registered service and its replicated metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEntry {
    /// The registration as last written.
    pub service: Service,
    /// Raft log index of the entry that created the registration.
    pub create_index: u64,
    /// Raft log index of the entry that last (re-)registered it; what a CAS compares with.
    /// Heartbeats and grace periods do not change it.
    pub modify_index: u64,
    /// Leader time (ms since the Unix epoch) the service lives until as last replicated: its
    /// registration's `now + ttl`, raised by each term's grace entry. Heartbeats extend it in
    /// the leader's memory only (`leader/heartbeats.rs`), so on its own it never removes or
    /// hides a service.
    pub expires_at_ms: u64,
    /// The replicated state of each of `service.checks`, by check id.
    pub checks: BTreeMap<String, CheckState>,
}

impl Store {
    /// Reads one service by catalog key (see [`Service::key`]).
    pub fn service(&self, key: &str) -> Option<&ServiceEntry> {
        self.catalog.get(key)
    }

    /// Every service, in catalog-key order (the same on every node).
    pub fn services(&self) -> impl Iterator<Item = (&String, &ServiceEntry)> {
        self.catalog.iter()
    }

    /// Every instance registered under `name`, in catalog-key order.
    pub fn services_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a ServiceEntry)> + 'a {
        // Keys of `name` are `name` and `name/<id>`; others starting with `name` (such as
        // `name-x`, which sorts between them) are skipped by the name check.
        self.catalog
            .range::<str, _>((std::ops::Bound::Included(name), std::ops::Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(name))
            .filter(move |(_, e)| e.service.name == name)
    }

    /// The services that may carry every tag of `tags`: with no tags, every service; else
    /// those carrying the rarest of them (found through the tag index), in catalog-key
    /// order. The caller still checks the other tags.
    pub fn services_tagged<'a>(
        &'a self,
        tags: &[String],
    ) -> Box<dyn Iterator<Item = (&'a String, &'a ServiceEntry)> + 'a> {
        if tags.is_empty() {
            return Box::new(self.catalog.iter());
        }
        let rarest = tags
            .iter()
            .map(|t| self.tag_index.get(t))
            .min_by_key(|keys| keys.map_or(0, BTreeSet::len));
        match rarest.flatten() {
            Some(keys) => Box::new(
                keys.iter()
                    .filter_map(|k| self.catalog.get_key_value(k.as_str())),
            ),
            None => Box::new(std::iter::empty()),
        }
    }

    /// Number of registered services.
    pub fn service_count(&self) -> usize {
        self.catalog.len()
    }

    /// Log index of the last entry that added, changed or removed a service or changed a
    /// check's status (heartbeats and grace periods do not count): the same on every node,
    /// so a client can tell whether two nodes' catalogs differ.
    pub fn catalog_index(&self) -> u64 {
        self.catalog_index
    }

    /// Whether a TTL check is at or past its deadline at `now_ms`, so that an expiry entry
    /// would turn it critical. The leader asks before proposing one; which services are due
    /// it learns from its heartbeat table (`leader/heartbeats.rs`).
    pub fn ttl_checks_due(&self, now_ms: u64) -> bool {
        self.catalog.values().any(|e| {
            e.checks
                .values()
                .any(|c| c.expires_at_ms != 0 && c.expires_at_ms <= now_ms)
        })
    }

    /// CatalogRegister: upsert guarded by an optional CAS on modify_index.
    pub(super) fn catalog_register(
        &mut self,
        index: u64,
        service: Service,
        expected_index: Option<u64>,
        now_ms: u64,
    ) -> Response {
        let key = service.key();
        if let Some(expected) = expected_index
            && let Err(failure) = self.check_service_cas(&key, expected)
        {
            return Response::CasFailed(failure);
        }
        if let Some(taken) = self.taken_check_id(&[(&key, &service)]) {
            return taken;
        }
        let entry = self.register(index, key.clone(), service, now_ms);
        Response::Registered {
            key,
            create_index: entry.create_index,
            modify_index: entry.modify_index,
            expires_at_ms: entry.expires_at_ms,
            checks: entry.checks.clone(),
        }
    }

    /// CatalogDeregister: absent keys are fine unless a CAS asks for the key.
    pub(super) fn catalog_deregister(
        &mut self,
        index: u64,
        key: &str,
        expected_index: Option<u64>,
    ) -> Response {
        if let Some(expected) = expected_index {
            // Deleting needs an existing service: create-only (0) makes no sense here.
            match self.catalog.get(key) {
                None => {
                    return Response::CasFailed(CasFailure::NotFound {
                        key: key.to_owned(),
                    });
                }
                Some(entry) if expected == 0 || entry.modify_index != expected => {
                    return Response::CasFailed(CasFailure::Conflict {
                        key: key.to_owned(),
                        expected,
                        current: entry.modify_index,
                    });
                }
                Some(_) => {}
            }
        }
        Response::Deleted {
            existed: self.remove_service(index, key),
        }
    }

    /// CatalogHeartbeat: pushes the deadline to `now_ms + ttl`; indices are untouched.
    pub(super) fn catalog_heartbeat(&mut self, key: String, now_ms: u64) -> Response {
        match self.catalog.get_mut(&key) {
            Some(entry) => {
                entry.expires_at_ms = now_ms.saturating_add(entry.service.ttl_ms);
                Response::Renewed {
                    key,
                    expires_at_ms: entry.expires_at_ms,
                }
            }
            None => Response::NotFound { key },
        }
    }

    /// CatalogExpireServices: removes each listed service still at the judged
    /// `modify_index`, and turns every TTL check due at `now_ms` critical, answering the
    /// removed keys (in the list's order) and the checks' ids.
    pub(super) fn catalog_expire_services(
        &mut self,
        index: u64,
        now_ms: u64,
        services: &[ExpiredService],
    ) -> Response {
        let mut keys = Vec::new();
        for s in services {
            let judged = self
                .catalog
                .get(&s.key)
                .is_some_and(|e| e.modify_index == s.modify_index);
            if judged && self.remove_service(index, &s.key) {
                keys.push(s.key.clone());
            }
        }
        let checks = self.expire_ttl_checks(now_ms);
        if !checks.is_empty() {
            self.catalog_index = index;
        }
        Response::Expired { keys, checks }
    }

    /// CatalogExpire (older logs only): removes every service whose replicated deadline is
    /// at or before `now_ms` and turns every TTL check due at `now_ms` critical, answering
    /// their keys and ids in order.
    pub(super) fn catalog_expire(&mut self, index: u64, now_ms: u64) -> Response {
        let keys: Vec<String> = self
            .catalog
            .iter()
            .filter(|(_, entry)| entry.expires_at_ms <= now_ms)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &keys {
            self.remove_service(index, key);
        }
        let checks = self.expire_ttl_checks(now_ms);
        if !checks.is_empty() {
            self.catalog_index = index;
        }
        Response::Expired { keys, checks }
    }

    /// CatalogGrace: no service deadline earlier than `now_ms + ttl`, and no pending TTL
    /// check deadline earlier than `now_ms + its ttl`; counts the deadlines moved.
    pub(super) fn catalog_grace(&mut self, now_ms: u64) -> Response {
        let mut extended = 0;
        for entry in self.catalog.values_mut() {
            let floor = now_ms.saturating_add(entry.service.ttl_ms);
            if entry.expires_at_ms < floor {
                entry.expires_at_ms = floor;
                extended += 1;
            }
            for def in &entry.service.checks {
                let CheckKind::Ttl { ttl_ms } = def.kind else {
                    continue;
                };
                let Some(state) = entry.checks.get_mut(&def.id) else {
                    continue;
                };
                let floor = now_ms.saturating_add(ttl_ms);
                if state.expires_at_ms != 0 && state.expires_at_ms < floor {
                    state.expires_at_ms = floor;
                    extended += 1;
                }
            }
        }
        Response::GraceApplied { extended }
    }

    /// CatalogBatchRegister: unconditional upserts in order, all at `index`.
    pub(super) fn catalog_batch_register(
        &mut self,
        index: u64,
        services: Vec<Service>,
        now_ms: u64,
    ) -> Response {
        let keyed: Vec<(String, &Service)> = services.iter().map(|s| (s.key(), s)).collect();
        let pairs: Vec<(&String, &Service)> = keyed.iter().map(|(k, s)| (k, *s)).collect();
        if let Some(taken) = self.taken_check_id(&pairs) {
            return taken;
        }
        let mut keys = Vec::with_capacity(services.len());
        for service in services {
            let key = service.key();
            keys.push(key.clone());
            self.register(index, key, service, now_ms);
        }
        Response::BatchWritten { keys, index }
    }

    /// CatalogBatchDeregister: counts the services actually removed.
    pub(super) fn catalog_batch_deregister(&mut self, index: u64, keys: &[String]) -> Response {
        let deleted = keys
            .iter()
            .filter(|key| self.remove_service(index, key))
            .count();
        Response::BatchDeleted {
            deleted: deleted as u64,
        }
    }

    /// Upserts one service at `index`; an update keeps `create_index`, and keeps the state
    /// of every check whose definition did not change. The caller has made sure no check id
    /// belongs to another service.
    fn register(
        &mut self,
        index: u64,
        key: String,
        service: Service,
        now_ms: u64,
    ) -> &ServiceEntry {
        let expires_at_ms = now_ms.saturating_add(service.ttl_ms);
        self.catalog_index = index;
        for def in &service.checks {
            self.check_owners.insert(def.id.clone(), key.clone());
        }
        if let Some(old) = self.catalog.get(&key) {
            unindex_tags(&mut self.tag_index, &key, &old.service.tags);
        }
        index_tags(&mut self.tag_index, &key, &service.tags);
        match self.catalog.entry(key) {
            Entry::Occupied(occupied) => {
                let entry = occupied.into_mut();
                let mut old_states = std::mem::take(&mut entry.checks);
                for old in &entry.service.checks {
                    if !service.checks.iter().any(|c| c.id == old.id) {
                        self.check_owners.remove(&old.id);
                    }
                }
                entry.checks = service
                    .checks
                    .iter()
                    .map(|def| {
                        let unchanged = entry.service.checks.iter().any(|old| old == def);
                        let state = match old_states.remove(&def.id) {
                            Some(state) if unchanged => state,
                            _ => CheckState::new_check(),
                        };
                        (def.id.clone(), state)
                    })
                    .collect();
                entry.service = service;
                entry.modify_index = index;
                entry.expires_at_ms = expires_at_ms;
                entry
            }
            Entry::Vacant(vacant) => {
                let checks = service
                    .checks
                    .iter()
                    .map(|def| (def.id.clone(), CheckState::new_check()))
                    .collect();
                vacant.insert(ServiceEntry {
                    service,
                    create_index: index,
                    modify_index: index,
                    expires_at_ms,
                    checks,
                })
            }
        }
    }

    /// Removes one service and its checks; whether it existed.
    fn remove_service(&mut self, index: u64, key: &str) -> bool {
        let Some(entry) = self.catalog.remove(key) else {
            return false;
        };
        for def in &entry.service.checks {
            self.check_owners.remove(&def.id);
        }
        unindex_tags(&mut self.tag_index, key, &entry.service.tags);
        self.catalog_index = index;
        true
    }

    /// The refusal of a registration (or batch) in which a check id already belongs to
    /// another service or appears twice; `None` when every id is free.
    fn taken_check_id(&self, services: &[(&String, &Service)]) -> Option<Response> {
        // Ids claimed so far by this request; an earlier claim was checked against the
        // store already, so it is the one to compare with.
        let mut claimed: BTreeMap<&str, &str> = BTreeMap::new();
        for (key, service) in services {
            for def in &service.checks {
                let owner = claimed
                    .get(def.id.as_str())
                    .copied()
                    .or_else(|| self.check_owners.get(&def.id).map(String::as_str));
                match owner {
                    Some(owner) if owner != key.as_str() => {
                        return Some(Response::CheckIdTaken {
                            check_id: def.id.clone(),
                            owner: owner.to_owned(),
                        });
                    }
                    _ => {
                        claimed.insert(&def.id, key);
                    }
                }
            }
        }
        None
    }

    /// A register's CAS, as for KV writes: 0 means create only; N needs modify_index N.
    fn check_service_cas(&self, key: &str, expected: u64) -> Result<(), CasFailure> {
        match self.catalog.get(key) {
            None if expected == 0 => Ok(()),
            None => Err(CasFailure::NotFound {
                key: key.to_owned(),
            }),
            Some(entry) if expected != 0 && entry.modify_index == expected => Ok(()),
            Some(entry) => Err(CasFailure::Conflict {
                key: key.to_owned(),
                expected,
                current: entry.modify_index,
            }),
        }
    }
}

/// Adds `key` under each of `tags` in the tag index.
pub(super) fn index_tags(
    index: &mut BTreeMap<String, BTreeSet<String>>,
    key: &str,
    tags: &[String],
) {
    for tag in tags {
        index.entry(tag.clone()).or_default().insert(key.to_owned());
    }
}

/// Removes `key` from under each of `tags`, dropping tags no service carries any more.
fn unindex_tags(index: &mut BTreeMap<String, BTreeSet<String>>, key: &str, tags: &[String]) {
    for tag in tags {
        if let Some(keys) = index.get_mut(tag) {
            keys.remove(key);
            if keys.is_empty() {
                index.remove(tag);
            }
        }
    }
}
