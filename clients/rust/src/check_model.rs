//! The health-check types of the catalog and their conversion to and from the wire
//! (`konsul.v1.CheckDefinition`, `Check`, `CheckStatus`): a check as registered with a
//! service ([`Check`]), and a check with its replicated state as the reads return it
//! ([`CheckState`]). As in `catalog_model.rs`, milliseconds become `Duration`/`SystemTime`
//! and the wire's "0 / empty means default or never" becomes `Option`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use konsul_proto::v1 as pb;
use konsul_proto::v1::check_definition::Kind;

use crate::catalog_model::ServiceKey;
use crate::header::ResponseHeader;

/// One health check of a service, as registered with [`Service::with_check`].
///
/// Built with [`Check::ttl`], [`Check::http`], [`Check::tcp`] or [`Check::grpc`], then the
/// `with_*` methods. Fields left `None` are filled in by the server (docs/api.md, "Health
/// checks"): the id becomes `service:<key>` (or `service:<key>:<n>` when the service has
/// several checks), the name `<service name>-health`, the interval 30 s and the timeout
/// 10 s; every read returns the definition with those defaults in place.
///
/// ```
/// use std::time::Duration;
/// use konsul_client::{Check, Service};
///
/// let web = Service::new("web", "10.0.0.1", 8080)
///     .with_check(Check::ttl(Duration::from_secs(15)).with_id("web-ttl"))
///     .with_check(
///         Check::http("https://10.0.0.1:8080/health")
///             .with_method("HEAD")
///             .with_header("Authorization", "Bearer x")
///             .with_tls_skip_verify(true)
///             .with_interval(Duration::from_secs(5))
///             .with_timeout(Duration::from_secs(1)),
///     )
///     .with_check(Check::grpc("10.0.0.1:9090").with_grpc_service("app").with_tls(true));
/// assert_eq!(web.checks.len(), 3);
/// ```
///
/// [`Service::with_check`]: crate::Service::with_check
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// Check id, unique across the catalog (1..255 characters of `[A-Za-z0-9-_.:]`); `None`
    /// lets the server derive it from the service's key.
    pub id: Option<String>,
    /// Human-readable name; `None` means `<service name>-health`.
    pub name: Option<String>,
    /// What the check probes.
    pub kind: CheckKind,
    /// Time between probes (HTTP, TCP, gRPC), 100 ms..24 h; `None` means 30 s.
    pub interval: Option<Duration>,
    /// Time one probe may take, 100 ms..5 min; `None` means 10 s.
    pub timeout: Option<Duration>,
}

/// What a [`Check`] probes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// Kept passing by [`Client::update_ttl_check`](crate::Client::update_ttl_check).
    Ttl {
        /// How long one report holds (1 s..24 h); `None`: reports never expire.
        ttl: Option<Duration>,
    },
    /// An HTTP(S) request made by the leader: 2xx passing, 429 warning, anything else
    /// critical.
    Http {
        /// Absolute `http://` or `https://` URL.
        url: String,
        /// GET (when `None`), HEAD, POST, PUT, PATCH, DELETE or OPTIONS.
        method: Option<String>,
        /// Extra request headers (at most 32).
        headers: BTreeMap<String, String>,
        /// Accept any server certificate.
        tls_skip_verify: bool,
    },
    /// A TCP connect made by the leader: passing when it connects.
    Tcp {
        /// `host:port` to connect to.
        address: String,
    },
    /// A `grpc.health.v1` Check call made by the leader: passing when `SERVING`.
    Grpc {
        /// `host:port` of the gRPC server.
        address: String,
        /// Service name to ask about; `None` asks about the whole server.
        service: Option<String>,
        /// Connect with TLS (the server's certificate is not verified).
        use_tls: bool,
    },
}

impl Check {
    fn of(kind: CheckKind) -> Self {
        Self {
            id: None,
            name: None,
            kind,
            interval: None,
            timeout: None,
        }
    }

    /// A TTL check: passing while the latest report is younger than `ttl`, critical
    /// (`TTL expired`) after. `Duration::ZERO` makes reports never expire.
    pub fn ttl(ttl: Duration) -> Self {
        Self::of(CheckKind::Ttl {
            ttl: (!ttl.is_zero()).then_some(ttl),
        })
    }

    /// An HTTP(S) check of `url` (GET, no extra headers, certificates verified).
    pub fn http(url: impl Into<String>) -> Self {
        Self::of(CheckKind::Http {
            url: url.into(),
            method: None,
            headers: BTreeMap::new(),
            tls_skip_verify: false,
        })
    }

    /// A TCP check connecting to `address` (`host:port`).
    pub fn tcp(address: impl Into<String>) -> Self {
        Self::of(CheckKind::Tcp {
            address: address.into(),
        })
    }

    /// A gRPC health check of the server at `address` (`host:port`), about the whole
    /// server, without TLS.
    pub fn grpc(address: impl Into<String>) -> Self {
        Self::of(CheckKind::Grpc {
            address: address.into(),
            service: None,
            use_tls: false,
        })
    }

    /// The same check with this id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The same check with this name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The same check probed every `interval` (whole milliseconds).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// The same check with this per-probe timeout (whole milliseconds).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// HTTP checks: the same check with this request method. No effect on other kinds.
    pub fn with_method(mut self, method: impl Into<String>) -> Self {
        if let CheckKind::Http { method: m, .. } = &mut self.kind {
            *m = Some(method.into());
        }
        self
    }

    /// HTTP checks: the same check also sending the header `name: value`. No effect on
    /// other kinds.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let CheckKind::Http { headers, .. } = &mut self.kind {
            headers.insert(name.into(), value.into());
        }
        self
    }

    /// HTTP checks: the same check with these request headers (replacing any). No effect
    /// on other kinds.
    pub fn with_headers(
        mut self,
        headers: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
    ) -> Self {
        if let CheckKind::Http { headers: h, .. } = &mut self.kind {
            *h = headers
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect();
        }
        self
    }

    /// HTTPS checks: accept any server certificate (`true`) or verify it (`false`, the
    /// default). No effect on other kinds.
    pub fn with_tls_skip_verify(mut self, skip: bool) -> Self {
        if let CheckKind::Http {
            tls_skip_verify, ..
        } = &mut self.kind
        {
            *tls_skip_verify = skip;
        }
        self
    }

    /// gRPC checks: ask about this service instead of the whole server. No effect on
    /// other kinds.
    pub fn with_grpc_service(mut self, name: impl Into<String>) -> Self {
        if let CheckKind::Grpc { service, .. } = &mut self.kind {
            *service = Some(name.into());
        }
        self
    }

    /// gRPC checks: connect with TLS (`use_tls`; the certificate is not verified). No
    /// effect on other kinds.
    pub fn with_tls(mut self, use_tls: bool) -> Self {
        if let CheckKind::Grpc { use_tls: u, .. } = &mut self.kind {
            *u = use_tls;
        }
        self
    }

    pub(crate) fn into_proto(self) -> pb::CheckDefinition {
        let kind = match self.kind {
            CheckKind::Ttl { ttl } => Kind::Ttl(pb::TtlCheck {
                ttl_ms: ttl.map_or(0, millis),
            }),
            CheckKind::Http {
                url,
                method,
                headers,
                tls_skip_verify,
            } => Kind::Http(pb::HttpCheck {
                url,
                method: method.unwrap_or_default(),
                headers: headers.into_iter().collect(),
                tls_skip_verify,
            }),
            CheckKind::Tcp { address } => Kind::Tcp(pb::TcpCheck { address }),
            CheckKind::Grpc {
                address,
                service,
                use_tls,
            } => Kind::Grpc(pb::GrpcCheck {
                address,
                service: service.unwrap_or_default(),
                use_tls,
            }),
        };
        pb::CheckDefinition {
            id: self.id.unwrap_or_default(),
            name: self.name.unwrap_or_default(),
            kind: Some(kind),
            interval_ms: self.interval.map_or(0, millis),
            timeout_ms: self.timeout.map_or(0, millis),
        }
    }
}

/// Milliseconds on the wire; a duration above u64::MAX ms is out of range anyway and the
/// server names the limit.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn some_ms(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn some_time(ms: u64) -> Option<SystemTime> {
    (ms > 0).then(|| UNIX_EPOCH + Duration::from_millis(ms))
}

impl From<pb::CheckDefinition> for Check {
    fn from(d: pb::CheckDefinition) -> Self {
        let kind = match d.kind {
            // No kind at all is a TTL check that never expires.
            None => CheckKind::Ttl { ttl: None },
            Some(Kind::Ttl(t)) => CheckKind::Ttl {
                ttl: some_ms(t.ttl_ms),
            },
            Some(Kind::Http(h)) => CheckKind::Http {
                url: h.url,
                method: non_empty(h.method),
                headers: h.headers.into_iter().collect(),
                tls_skip_verify: h.tls_skip_verify,
            },
            Some(Kind::Tcp(t)) => CheckKind::Tcp { address: t.address },
            Some(Kind::Grpc(g)) => CheckKind::Grpc {
                address: g.address,
                service: non_empty(g.service),
                use_tls: g.use_tls,
            },
        };
        Self {
            id: non_empty(d.id),
            name: non_empty(d.name),
            kind,
            interval: some_ms(d.interval_ms),
            timeout: some_ms(d.timeout_ms),
        }
    }
}

/// A health check's status. A new (or redefined) check is critical until first seen
/// passing; a warning is not passing for the passing-only reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckStatus {
    /// The check passes.
    Passing,
    /// The check warns (an HTTP 429, or a TTL report of `Warning`).
    Warning,
    /// The check fails, has not passed yet, or its TTL ran out.
    Critical,
}

impl CheckStatus {
    /// True for [`CheckStatus::Passing`].
    pub fn is_passing(self) -> bool {
        self == CheckStatus::Passing
    }

    /// The wire value.
    pub(crate) fn to_proto(self) -> i32 {
        let s = match self {
            CheckStatus::Passing => pb::CheckStatus::Passing,
            CheckStatus::Warning => pb::CheckStatus::Warning,
            CheckStatus::Critical => pb::CheckStatus::Critical,
        };
        s as i32
    }

    /// Reads a wire value; anything the SDK does not know is treated as critical (not
    /// passing), the safe side for a caller choosing instances.
    fn from_proto(status: i32) -> Self {
        match pb::CheckStatus::try_from(status) {
            Ok(pb::CheckStatus::Passing) => CheckStatus::Passing,
            Ok(pb::CheckStatus::Warning) => CheckStatus::Warning,
            _ => CheckStatus::Critical,
        }
    }
}

impl fmt::Display for CheckStatus {
    /// `passing`, `warning` or `critical`, as the REST API spells them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckStatus::Passing => "passing",
            CheckStatus::Warning => "warning",
            CheckStatus::Critical => "critical",
        })
    }
}

/// A registered check and its replicated state, as every catalog read returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckState {
    /// The definition, with the server's defaults filled in (id, name, interval, timeout,
    /// HTTP method).
    pub definition: Check,
    /// Catalog key of the service the check belongs to.
    pub service_key: ServiceKey,
    /// Current status.
    pub status: CheckStatus,
    /// Output of the latest probe or report (`TTL expired` for a lapsed TTL check).
    pub output: String,
    /// When the latest probe ran or report arrived, on the leader's clock; `None` before
    /// the first one.
    pub last_check: Option<SystemTime>,
    /// TTL checks: when the latest report runs out, on the leader's clock; `None` before
    /// any report, for a TTL that never expires, and for other kinds.
    pub expires_at: Option<SystemTime>,
}

impl CheckState {
    /// The check's id (what [`Client::update_ttl_check`](crate::Client::update_ttl_check)
    /// takes); the server always fills it in.
    pub fn id(&self) -> &str {
        self.definition.id.as_deref().unwrap_or_default()
    }
}

impl From<pb::Check> for CheckState {
    fn from(c: pb::Check) -> Self {
        Self {
            definition: c.definition.unwrap_or_default().into(),
            service_key: ServiceKey::from(c.service_key.as_str()),
            status: CheckStatus::from_proto(c.status),
            output: c.output,
            last_check: some_time(c.last_check_ms),
            expires_at: some_time(c.expires_at_ms),
        }
    }
}

/// The outcome of a TTL check report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckUpdated {
    /// The check after the report.
    pub check: CheckState,
    /// Who answered.
    pub header: ResponseHeader,
}

impl From<pb::UpdateTtlCheckResponse> for CheckUpdated {
    fn from(r: pb::UpdateTtlCheckResponse) -> Self {
        Self {
            check: r.check.unwrap_or_default().into(),
            header: r.header.into(),
        }
    }
}

/// Checks of live services: every check, or those of one service name; by service key,
/// then registration order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checks {
    /// The checks.
    pub checks: Vec<CheckState>,
    /// For [`Client::list_checks`](crate::Client::list_checks): the log index of the last
    /// entry that added, changed or removed a service or changed a check's status (equal
    /// on two nodes whose catalogs are equal). `None` for calls whose answer lacks it.
    pub catalog_index: Option<u64>,
    /// Who answered and at which index.
    pub header: ResponseHeader,
}

impl From<pb::ListChecksResponse> for Checks {
    fn from(r: pb::ListChecksResponse) -> Self {
        Self {
            checks: r.checks.into_iter().map(Into::into).collect(),
            catalog_index: Some(r.catalog_index),
            header: r.header.into(),
        }
    }
}

impl From<pb::ServiceChecksResponse> for Checks {
    fn from(r: pb::ServiceChecksResponse) -> Self {
        Self {
            checks: r.checks.into_iter().map(Into::into).collect(),
            catalog_index: None,
            header: r.header.into(),
        }
    }
}

#[cfg(test)]
mod tests;
