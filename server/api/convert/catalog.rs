//! The typed catalog API's inputs and outputs (`catalog_types.rs`) and the store's catalog
//! types, to and from protobuf: registrations on the way in, services and checks as a
//! reader sees them on the way out, check definitions and statuses both ways.

use konsul_proto::v1 as pb;
use konsul_proto::v1::check_definition::Kind as PbKind;

use crate::api::catalog_types::{CheckView, Registration, ServiceView};
use crate::api::check_validate::RawCheck;
use crate::error::{Error, Result};
use crate::store::{CheckDefinition, CheckKind, CheckStatus};

/// A protobuf registration as the typed API takes it (validated there).
pub fn registration_from_pb(s: pb::Service) -> Registration {
    Registration {
        name: s.name,
        id: s.id,
        address: s.address,
        port: s.port,
        tags: s.tags,
        meta: s.meta,
        ttl_ms: s.ttl_ms,
        checks: s.checks.into_iter().map(raw_from_pb).collect(),
    }
}

/// A service as a reader saw it, as the protobuf API shows it.
pub fn service_view_to_pb(v: ServiceView) -> pb::ServiceEntry {
    let s = v.service;
    pb::ServiceEntry {
        service: Some(pb::Service {
            checks: s.checks.iter().map(definition_to_pb).collect(),
            name: s.name,
            id: s.id,
            address: s.address,
            port: u32::from(s.port),
            tags: s.tags,
            meta: s.meta,
            ttl_ms: s.ttl_ms,
        }),
        create_index: v.create_index,
        modify_index: v.modify_index,
        expires_at_ms: v.expires_at_ms,
        checks: v.checks.into_iter().map(check_view_to_pb).collect(),
    }
}

/// A check as a reader saw it, as the protobuf API shows it.
pub fn check_view_to_pb(c: CheckView) -> pb::Check {
    pb::Check {
        definition: Some(definition_to_pb(&c.definition)),
        service_key: c.service_key,
        service_name: c.service_name,
        status: status_to_pb(c.status) as i32,
        output: c.output,
        last_check_ms: c.last_check_ms,
        expires_at_ms: c.expires_at_ms,
    }
}

/// The status of a protobuf TTL report: unspecified means passing; an unknown number is
/// INVALID_ARGUMENT naming `status`.
pub fn report_status_from_pb(raw: i32) -> Result<CheckStatus> {
    match pb::CheckStatus::try_from(raw) {
        Ok(pb::CheckStatus::Unspecified | pb::CheckStatus::Passing) => Ok(CheckStatus::Passing),
        Ok(pb::CheckStatus::Warning) => Ok(CheckStatus::Warning),
        Ok(pb::CheckStatus::Critical) => Ok(CheckStatus::Critical),
        Err(_) => Err(Error::invalid(
            "status",
            format!("{raw} is not a check status"),
        )),
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
