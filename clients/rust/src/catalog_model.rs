//! The catalog domain types the SDK hands out and takes in, and their conversion to and from
//! the wire (`konsul.v1.CatalogService`): thin mirrors of the protobuf messages with
//! `Option`s resolved, milliseconds turned into `Duration`/`SystemTime`, and the catalog key
//! (`name` or `name/id`) as its own type.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use konsul_proto::v1 as pb;

use crate::check_model::{Check, CheckState};
use crate::header::{Consistency, ResponseHeader};

/// A service registration: where one instance of a service can be reached.
///
/// ```
/// use std::time::Duration;
/// use konsul_client::Service;
///
/// let web = Service::new("web", "10.0.0.1", 8080)
///     .with_id("web-1")
///     .with_tags(["http", "v2"])
///     .with_meta([("env", "prod")])
///     .with_ttl(Duration::from_secs(15));
/// assert_eq!(web.key().to_string(), "web/web-1");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Service {
    /// Service name (1..255 characters, no `/`).
    pub name: String,
    /// Instance id; with one, the catalog key is `name/id`, so several instances of one
    /// name can be registered side by side.
    pub id: Option<String>,
    /// Address clients should dial.
    pub address: String,
    /// Port clients should dial (1..65535).
    pub port: u16,
    /// Tags (at most 64, no duplicates).
    pub tags: Vec<String>,
    /// Metadata pairs (at most 64).
    pub meta: BTreeMap<String, String>,
    /// How long the registration lives without a heartbeat; `None` means the server's
    /// default (30 s). Stored services report the TTL in force.
    pub ttl: Option<Duration>,
    /// Health checks (at most 32), in registration order. Stored services report them with
    /// the server's defaults filled in; their state is in [`ServiceEntry::checks`].
    pub checks: Vec<Check>,
}

impl Service {
    /// A registration of `name` at `address:port`, without id, tags or metadata.
    pub fn new(name: impl Into<String>, address: impl Into<String>, port: u16) -> Self {
        Self {
            name: name.into(),
            address: address.into(),
            port,
            ..Default::default()
        }
    }

    /// The same registration as the instance `id` of its name.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The same registration with these tags (replacing any).
    pub fn with_tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// The same registration with these metadata pairs (replacing any).
    pub fn with_meta(
        mut self,
        meta: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
    ) -> Self {
        self.meta = meta
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// The same registration with a time to live (1 s..24 h, whole milliseconds).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The same registration with one more health check.
    pub fn with_check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    /// The catalog key this registration is stored under.
    pub fn key(&self) -> ServiceKey {
        ServiceKey {
            name: self.name.clone(),
            id: self.id.clone(),
        }
    }

    pub(crate) fn into_proto(self) -> pb::Service {
        pb::Service {
            name: self.name,
            id: self.id,
            address: self.address,
            port: u32::from(self.port),
            tags: self.tags,
            meta: self.meta,
            // A TTL above u64::MAX ms is out of range anyway; the server names the limit.
            ttl_ms: self
                .ttl
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
            checks: self.checks.into_iter().map(Check::into_proto).collect(),
        }
    }
}

impl From<pb::Service> for Service {
    fn from(s: pb::Service) -> Self {
        Self {
            name: s.name,
            id: s.id,
            address: s.address,
            // The server only stores ports 1..65535.
            port: u16::try_from(s.port).unwrap_or(u16::MAX),
            tags: s.tags,
            meta: s.meta,
            ttl: (s.ttl_ms > 0).then(|| Duration::from_millis(s.ttl_ms)),
            checks: s.checks.into_iter().map(Into::into).collect(),
        }
    }
}

/// Which catalog entry a call means: a service `name`, or one instance `name/id`.
///
/// Built from a `&str`/`String` (`"web"`, or `"web/web-1"` for an instance: names and ids
/// hold no `/`, so the split is unambiguous) or from a `(name, id)` pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceKey {
    /// The service name.
    pub name: String,
    /// The instance id, if the entry was registered with one.
    pub id: Option<String>,
}

impl ServiceKey {
    /// The entry of `name` registered without an id.
    pub fn name(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            id: None,
        }
    }

    /// The instance `id` of `name`.
    pub fn instance(name: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            id: Some(id.into()),
        }
    }
}

impl fmt::Display for ServiceKey {
    /// The catalog key as the batch calls spell it: `name` or `name/id`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{}/{id}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl From<&str> for ServiceKey {
    fn from(key: &str) -> Self {
        match key.split_once('/') {
            Some((name, id)) => ServiceKey::instance(name, id),
            None => ServiceKey::name(key),
        }
    }
}

impl From<String> for ServiceKey {
    fn from(key: String) -> Self {
        ServiceKey::from(key.as_str())
    }
}

impl From<&String> for ServiceKey {
    fn from(key: &String) -> Self {
        ServiceKey::from(key.as_str())
    }
}

impl<N: Into<String>, I: Into<String>> From<(N, I)> for ServiceKey {
    fn from((name, id): (N, I)) -> Self {
        ServiceKey::instance(name, id)
    }
}

impl From<&Service> for ServiceKey {
    fn from(s: &Service) -> Self {
        s.key()
    }
}

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A registered service with its indices, deadline and health checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEntry {
    /// The registration.
    pub service: Service,
    /// Raft log index of the write that first registered this key.
    pub create_index: u64,
    /// Raft log index of the write that last registered it: what a CAS compares with.
    /// Heartbeats do not change it.
    pub modify_index: u64,
    /// When the registration lapses unless heartbeated, on the leader's wall clock.
    pub expires_at: SystemTime,
    /// The service's health checks and their state, in registration order.
    pub checks: Vec<CheckState>,
}

impl ServiceEntry {
    /// The catalog key of this entry.
    pub fn key(&self) -> ServiceKey {
        self.service.key()
    }

    /// True when every check is passing (a service without checks counts as passing):
    /// what the passing-only reads select.
    pub fn is_passing(&self) -> bool {
        self.checks.iter().all(|c| c.status.is_passing())
    }
}

impl From<pb::ServiceEntry> for ServiceEntry {
    fn from(e: pb::ServiceEntry) -> Self {
        Self {
            service: e.service.unwrap_or_default().into(),
            create_index: e.create_index,
            modify_index: e.modify_index,
            expires_at: at(e.expires_at_ms),
            checks: e.checks.into_iter().map(Into::into).collect(),
        }
    }
}

/// The outcome of a registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    /// The entry as the write left it; pass `entry.modify_index` to a later CAS.
    pub entry: ServiceEntry,
    /// Who answered.
    pub header: ResponseHeader,
}

impl From<pb::RegisterResponse> for Registered {
    fn from(r: pb::RegisterResponse) -> Self {
        Self {
            entry: r.entry.unwrap_or_default().into(),
            header: r.header.into(),
        }
    }
}

/// The outcome of a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// The new deadline.
    pub expires_at: SystemTime,
    /// Who answered.
    pub header: ResponseHeader,
}

impl From<pb::HeartbeatResponse> for Heartbeat {
    fn from(r: pb::HeartbeatResponse) -> Self {
        Self {
            expires_at: at(r.expires_at_ms),
            header: r.header.into(),
        }
    }
}

/// Live services: a listing or the matches of a query, sorted by name, then catalog key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Services {
    /// The entries.
    pub entries: Vec<ServiceEntry>,
    /// For the listings ([`Client::list_services`](crate::Client::list_services) and its
    /// variants): the log index of the last entry that added, changed or removed a service
    /// or changed a check's status; equal on two nodes whose catalogs are equal, so it can
    /// be polled to see whether anything changed. `None` for queries, whose answer lacks
    /// it.
    pub catalog_index: Option<u64>,
    /// Who answered and at which index.
    pub header: ResponseHeader,
}

impl Services {
    pub(crate) fn new(header: Option<pb::ResponseHeader>, entries: Vec<pb::ServiceEntry>) -> Self {
        Self {
            entries: entries.into_iter().map(Into::into).collect(),
            catalog_index: None,
            header: header.into(),
        }
    }
}

impl From<pb::ListServicesResponse> for Services {
    fn from(r: pb::ListServicesResponse) -> Self {
        Self {
            catalog_index: Some(r.catalog_index),
            ..Services::new(r.header, r.entries)
        }
    }
}

/// A catalog query: services carrying every tag and every metadata pair given (at least
/// one filter), read at `consistency` (after `min_index`, when set), optionally only those
/// whose every check passes.
///
/// ```
/// use konsul_client::{Consistency, ServiceQuery};
///
/// let q = ServiceQuery::new()
///     .tag("http")
///     .meta("env", "prod")
///     .passing_only()
///     .consistency(Consistency::Stale)
///     .min_index(42);
/// assert_eq!(q.tags, ["http"]);
/// assert!(q.passing_only);
/// assert_eq!(q.min_index, 42);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceQuery {
    /// Tags that must all be present.
    pub tags: Vec<String>,
    /// Metadata pairs that must all be present.
    pub meta: BTreeMap<String, String>,
    /// How fresh the answer must be.
    pub consistency: Consistency,
    /// Only services whose every health check is passing (a warning is not passing; a
    /// service without checks is).
    pub passing_only: bool,
    /// When non-zero, the answering node first waits (within the call's deadline) until it
    /// has applied this index: with [`Consistency::Stale`] and the index a registration
    /// returned, any node answers with that registration in view.
    pub min_index: u64,
}

impl ServiceQuery {
    /// An empty query (the server rejects it until a filter is added).
    pub fn new() -> Self {
        Self::default()
    }

    /// Also require `tag`.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Also require the metadata pair `key=value`.
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.meta.insert(key.into(), value.into());
        self
    }

    /// Read at `consistency` instead of the default.
    pub fn consistency(mut self, consistency: Consistency) -> Self {
        self.consistency = consistency;
        self
    }

    /// Only match services whose every health check is passing.
    pub fn passing_only(mut self) -> Self {
        self.passing_only = true;
        self
    }

    /// Answer only once the answering node has applied `index` (see
    /// [`ServiceQuery::min_index`](ServiceQuery#structfield.min_index)).
    pub fn min_index(mut self, index: u64) -> Self {
        self.min_index = index;
        self
    }
}

/// The outcome of a batch registration: every key now has `index` as its modify_index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRegister {
    /// Catalog keys registered, in request order.
    pub keys: Vec<String>,
    /// Raft log index of the batch.
    pub index: u64,
    /// Who answered.
    pub header: ResponseHeader,
}

impl From<pb::BatchRegisterResponse> for BatchRegister {
    fn from(r: pb::BatchRegisterResponse) -> Self {
        Self {
            keys: r.keys,
            index: r.index,
            header: r.header.into(),
        }
    }
}

/// The outcome of a batch deregistration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchDeregister {
    /// Catalog keys asked for, in request order.
    pub keys: Vec<String>,
    /// How many of them existed and were removed.
    pub deleted: u64,
    /// Who answered.
    pub header: ResponseHeader,
}

impl From<pb::BatchDeregisterResponse> for BatchDeregister {
    fn from(r: pb::BatchDeregisterResponse) -> Self {
        Self {
            keys: r.keys,
            deleted: r.deleted,
            header: r.header.into(),
        }
    }
}

/// The outcome of a batch read of services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchGetServices {
    /// Live services found, in request order.
    pub found: Vec<ServiceEntry>,
    /// Keys absent or expired, in request order.
    pub not_found: Vec<String>,
    /// Who answered and at which index.
    pub header: ResponseHeader,
}

impl From<pb::BatchGetServicesResponse> for BatchGetServices {
    fn from(r: pb::BatchGetServicesResponse) -> Self {
        Self {
            found: r.found.into_iter().map(Into::into).collect(),
            not_found: r.not_found,
            header: r.header.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_print_as_the_catalog_spells_them() {
        assert_eq!(ServiceKey::from("web"), ServiceKey::name("web"));
        assert_eq!(
            ServiceKey::from("web/i1"),
            ServiceKey::instance("web", "i1")
        );
        assert_eq!(ServiceKey::from(("web", "i1")).to_string(), "web/i1");
        assert_eq!(ServiceKey::name("web").to_string(), "web");
    }

    #[test]
    fn services_round_trip_through_the_wire_type() {
        let s = Service::new("web", "h", 80)
            .with_id("i1")
            .with_tags(["a"])
            .with_meta([("k", "v")])
            .with_ttl(Duration::from_secs(5))
            .with_check(Check::tcp("h:80").with_id("c"));
        let wire = s.clone().into_proto();
        assert_eq!(wire.ttl_ms, 5_000);
        assert_eq!(wire.port, 80);
        assert_eq!(wire.checks[0].id, "c");
        assert_eq!(Service::from(wire), s);
        assert_eq!(Service::new("a", "h", 1).into_proto().ttl_ms, 0);
    }
}
