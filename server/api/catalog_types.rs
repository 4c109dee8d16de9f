//! The inputs and outputs of the typed catalog API (`catalog.rs`, `checks.rs`): a
//! registration as a client sends it, and services and checks as a reader at one moment
//! sees them (a TTL check past its deadline shown critical before the leader's expiry entry
//! records it, a service with the deadline this node knows). The gRPC adapter and the REST
//! gateway convert these to their wire forms; neither reads the store.

use std::collections::BTreeMap;

use crate::api::catalog_validate::{self as check, CatalogLimits};
use crate::api::check_validate::{self, RawCheck};
use crate::error::Result;
use crate::store::{CheckDefinition, CheckState, CheckStatus, Service, ServiceEntry};

/// A service registration as a client sends it, before validation fills in its defaults.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    /// Service name.
    pub name: String,
    /// Optional instance id: the catalog key is then `name/id`.
    pub id: Option<String>,
    /// Address clients should dial.
    pub address: String,
    /// Port clients should dial (checked to fit 1..=65535).
    pub port: u32,
    /// Tags.
    pub tags: Vec<String>,
    /// Metadata pairs.
    pub meta: BTreeMap<String, String>,
    /// Time to live in ms; 0 means the configured default.
    pub ttl_ms: u64,
    /// Health checks, ids and names possibly left for the server to fill in.
    pub checks: Vec<RawCheck>,
}

impl Registration {
    /// The registration checked against `limits` (named `field` in errors: `service`,
    /// `services[2]`) and turned into the store's type, every default filled in.
    pub fn validate(self, limits: &CatalogLimits, field: &str) -> Result<Service> {
        let mut service = check::service(
            limits,
            field,
            self.name,
            self.id,
            self.address,
            self.port,
            self.tags,
            self.meta,
            self.ttl_ms,
        )?;
        service.checks = check_validate::checks(&format!("{field}.checks"), &service, self.checks)?;
        Ok(service)
    }
}

/// A check as a reader at one moment sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckView {
    /// The check's definition, defaults filled in.
    pub definition: CheckDefinition,
    /// Catalog key of the owning service.
    pub service_key: String,
    /// Name of the owning service.
    pub service_name: String,
    /// Its status at that moment (a TTL check past its deadline is critical).
    pub status: CheckStatus,
    /// Output of the latest probe or report (or of the expired deadline).
    pub output: String,
    /// Leader ms of the latest probe or report; 0 before any.
    pub last_check_ms: u64,
    /// TTL checks: leader ms the latest report holds until; 0 otherwise.
    pub expires_at_ms: u64,
}

/// A service as a reader at one moment sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
    /// Its catalog key (`name` or `name/id`).
    pub key: String,
    /// The registration as stored.
    pub service: Service,
    /// Index of the write that created it.
    pub create_index: u64,
    /// Index of its last registration.
    pub modify_index: u64,
    /// The deadline this node knows (the leader's heartbeat table, else the replicated one).
    pub expires_at_ms: u64,
    /// Its checks in registration order.
    pub checks: Vec<CheckView>,
}

impl ServiceView {
    /// `entry`, stored under `key`, as a reader at `now_ms` sees it, with `expires_at_ms`
    /// as its deadline.
    pub fn of(key: &str, entry: &ServiceEntry, now_ms: u64, expires_at_ms: u64) -> Self {
        ServiceView {
            key: key.to_owned(),
            service: entry.service.clone(),
            create_index: entry.create_index,
            modify_index: entry.modify_index,
            expires_at_ms,
            checks: check_views(key, entry, now_ms),
        }
    }
}

/// Every check of `entry` (stored under `key`), in registration order, as a reader at
/// `now_ms` sees it. A check without a replicated state yet is a new one: critical.
pub fn check_views(key: &str, entry: &ServiceEntry, now_ms: u64) -> Vec<CheckView> {
    let fresh = CheckState::new_check();
    entry
        .service
        .checks
        .iter()
        .map(|def| {
            let state = entry.checks.get(&def.id).unwrap_or(&fresh);
            let (status, output) = state.at(now_ms);
            CheckView {
                definition: def.clone(),
                service_key: key.to_owned(),
                service_name: entry.service.name.clone(),
                status,
                output: output.to_owned(),
                last_check_ms: state.last_check_ms,
                expires_at_ms: state.expires_at_ms,
            }
        })
        .collect()
}
