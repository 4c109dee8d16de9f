//! The catalog half of the state machine: registered services, the catalog commands' apply
//! logic and the catalog reads.
//!
//! [`super::Store::apply`] (driven by `raft/state_machine.rs` for each committed entry)
//! dispatches catalog commands here. Liveness is deterministic: the leader stamps `now_ms`
//! into every command that needs a time, so a service's `expires_at_ms` is the same number
//! on every node, and a service disappears only when a replicated `CatalogExpire` removes
//! it. Nothing here reads a clock.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use serde::{Deserialize, Serialize};

use super::{CasFailure, Response, Store};

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
}

impl Service {
    /// The catalog key: `name`, or `name/id` when an instance id is given. The API must keep
    /// `/` out of names so that two services never share a key.
    pub fn key(&self) -> String {
        match &self.id {
            Some(id) => format!("{}/{}", self.name, id),
            None => self.name.clone(),
        }
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
    /// Leader time (ms since the Unix epoch) at or after which `CatalogExpire` removes it.
    pub expires_at_ms: u64,
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

    /// Number of registered services.
    pub fn service_count(&self) -> usize {
        self.catalog.len()
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
        let entry = self.register(index, key.clone(), service, now_ms);
        Response::Registered {
            key,
            create_index: entry.create_index,
            modify_index: entry.modify_index,
            expires_at_ms: entry.expires_at_ms,
        }
    }

    /// CatalogDeregister: absent keys are fine unless a CAS asks for the key.
    pub(super) fn catalog_deregister(
        &mut self,
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
            existed: self.catalog.remove(key).is_some(),
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

    /// CatalogExpire: removes every service due at `now_ms`, answering their keys in order.
    pub(super) fn catalog_expire(&mut self, now_ms: u64) -> Response {
        let mut keys = Vec::new();
        self.catalog.retain(|key, entry| {
            let due = entry.expires_at_ms <= now_ms;
            if due {
                keys.push(key.clone());
            }
            !due
        });
        Response::Expired { keys }
    }

    /// CatalogGrace: no deadline earlier than `now_ms + ttl`; counts the deadlines moved.
    pub(super) fn catalog_grace(&mut self, now_ms: u64) -> Response {
        let mut extended = 0;
        for entry in self.catalog.values_mut() {
            let floor = now_ms.saturating_add(entry.service.ttl_ms);
            if entry.expires_at_ms < floor {
                entry.expires_at_ms = floor;
                extended += 1;
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
        let mut keys = Vec::with_capacity(services.len());
        for service in services {
            let key = service.key();
            keys.push(key.clone());
            self.register(index, key, service, now_ms);
        }
        Response::BatchWritten { keys, index }
    }

    /// CatalogBatchDeregister: counts the services actually removed.
    pub(super) fn catalog_batch_deregister(&mut self, keys: &[String]) -> Response {
        let deleted = keys
            .iter()
            .filter(|key| self.catalog.remove(key.as_str()).is_some())
            .count();
        Response::BatchDeleted {
            deleted: deleted as u64,
        }
    }

    /// Upserts one service at `index`; an update keeps `create_index`.
    fn register(
        &mut self,
        index: u64,
        key: String,
        service: Service,
        now_ms: u64,
    ) -> &ServiceEntry {
        let expires_at_ms = now_ms.saturating_add(service.ttl_ms);
        match self.catalog.entry(key) {
            Entry::Occupied(occupied) => {
                let entry = occupied.into_mut();
                entry.service = service;
                entry.modify_index = index;
                entry.expires_at_ms = expires_at_ms;
                entry
            }
            Entry::Vacant(vacant) => vacant.insert(ServiceEntry {
                service,
                create_index: index,
                modify_index: index,
                expires_at_ms,
            }),
        }
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
