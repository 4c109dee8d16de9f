//! Catalog and health-check types between protobuf and the store: registrations (checked
//! against the limits on the way in), stored entries, check definitions, statuses and
//! states as a reader sees them. Both `catalog.rs` and `checks.rs` use these, and neither
//! imports the other.

use konsul_proto::v1 as pb;
use konsul_proto::v1::check_definition::Kind as PbKind;

use crate::api::catalog_validate::{self as check, CatalogLimits};
use crate::api::check_validate::{self, RawCheck};
use crate::error::Result;
use crate::store::{CheckDefinition, CheckKind, CheckState, CheckStatus, Service, ServiceEntry};

/// A protobuf registration checked against `limits` and turned into the store's type: a
/// missing TTL becomes the configured default, and its checks' defaults are filled in.
pub fn service_from_pb(limits: &CatalogLimits, field: &str, s: pb::Service) -> Result<Service> {
    let raw = s.checks.into_iter().map(raw_from_pb).collect();
    let mut service = check::service(
        limits, field, s.name, s.id, s.address, s.port, s.tags, s.meta, s.ttl_ms,
    )?;
    service.checks = check_validate::checks(&format!("{field}.checks"), &service, raw)?;
    Ok(service)
}

/// A stored entry as the API shows it to a reader at `now_ms`.
pub fn entry_to_pb(key: &str, e: &ServiceEntry, now_ms: u64) -> pb::ServiceEntry {
    let s = &e.service;
    pb::ServiceEntry {
        service: Some(pb::Service {
            name: s.name.clone(),
            id: s.id.clone(),
            address: s.address.clone(),
            port: u32::from(s.port),
            tags: s.tags.clone(),
            meta: s.meta.clone(),
            ttl_ms: s.ttl_ms,
            checks: s.checks.iter().map(definition_to_pb).collect(),
        }),
        create_index: e.create_index,
        modify_index: e.modify_index,
        expires_at_ms: e.expires_at_ms,
        checks: checks_to_pb(key, e, now_ms),
    }
}

/// A protobuf check definition as the validator takes it; no kind is a TTL check without
/// expiry (contract §2.3).
pub fn raw_from_pb(c: pb::CheckDefinition) -> RawCheck {
    let kind = match c.kind {
        None => CheckKind::Ttl { ttl_ms: 0 },
        Some(PbKind::Ttl(t)) => CheckKind::Ttl { ttl_ms: t.ttl_ms },
        Some(PbKind::Http(h)) => CheckKind::Http {
            url: h.url,
            method: h.method,
            headers: h.headers.into_iter().collect(),
            tls_skip_verify: h.tls_skip_verify,
        },
        Some(PbKind::Tcp(t)) => CheckKind::Tcp { address: t.address },
        Some(PbKind::Grpc(g)) => CheckKind::Grpc {
            address: g.address,
            service: g.service,
            use_tls: g.use_tls,
        },
    };
    RawCheck {
        id: c.id,
        name: c.name,
        kind,
        interval_ms: c.interval_ms,
        timeout_ms: c.timeout_ms,
    }
}

/// A stored definition as the API shows it.
pub fn definition_to_pb(d: &CheckDefinition) -> pb::CheckDefinition {
    let kind = match &d.kind {
        CheckKind::Ttl { ttl_ms } => PbKind::Ttl(pb::TtlCheck { ttl_ms: *ttl_ms }),
        CheckKind::Http {
            url,
            method,
            headers,
            tls_skip_verify,
        } => PbKind::Http(pb::HttpCheck {
            url: url.clone(),
            method: method.clone(),
            headers: headers.clone().into_iter().collect(),
            tls_skip_verify: *tls_skip_verify,
        }),
        CheckKind::Tcp { address } => PbKind::Tcp(pb::TcpCheck {
            address: address.clone(),
        }),
        CheckKind::Grpc {
            address,
            service,
            use_tls,
        } => PbKind::Grpc(pb::GrpcCheck {
            address: address.clone(),
            service: service.clone(),
            use_tls: *use_tls,
        }),
    };
    pb::CheckDefinition {
        id: d.id.clone(),
        name: d.name.clone(),
        kind: Some(kind),
        interval_ms: d.interval_ms,
        timeout_ms: d.timeout_ms,
    }
}

/// A status as the API shows it.
pub fn status_to_pb(s: CheckStatus) -> pb::CheckStatus {
    match s {
        CheckStatus::Passing => pb::CheckStatus::Passing,
        CheckStatus::Warning => pb::CheckStatus::Warning,
        CheckStatus::Critical => pb::CheckStatus::Critical,
    }
}

/// Every check of `entry`, in registration order, as a reader at `now_ms` sees it.
pub fn checks_to_pb(key: &str, entry: &ServiceEntry, now_ms: u64) -> Vec<pb::Check> {
    let fresh = CheckState::new_check();
    entry
        .service
        .checks
        .iter()
        .map(|def| {
            let state = entry.checks.get(&def.id).unwrap_or(&fresh);
            let (status, output) = state.at(now_ms);
            pb::Check {
                definition: Some(definition_to_pb(def)),
                service_key: key.to_owned(),
                service_name: entry.service.name.clone(),
                status: status_to_pb(status) as i32,
                output: output.to_owned(),
                last_check_ms: state.last_check_ms,
                expires_at_ms: state.expires_at_ms,
            }
        })
        .collect()
}
