//! Health-check conversions: a service's [`CheckDefinition`]s and the check commands'
//! statuses and results, to and from `konsul.raft.v1`. Called by `codec/command.rs` for
//! the catalog commands that carry them.

use konsul_proto::raft::v1 as pb;
use konsul_proto::raft::v1::catalog_check::Kind as PbKind;

use super::{CodecError, DecodeResult, required};
use crate::store::{CheckDefinition, CheckKind, CheckResult, CheckStatus};

pub(super) fn encode_check(c: CheckDefinition) -> pb::CatalogCheck {
    let kind = match c.kind {
        CheckKind::Ttl { ttl_ms } => PbKind::Ttl(pb::TtlCheckSpec { ttl_ms }),
        CheckKind::Http {
            url,
            method,
            headers,
            tls_skip_verify,
        } => PbKind::Http(pb::HttpCheckSpec {
            url,
            method,
            headers: headers.into_iter().collect(),
            tls_skip_verify,
        }),
        CheckKind::Tcp { address } => PbKind::Tcp(pb::TcpCheckSpec { address }),
        CheckKind::Grpc {
            address,
            service,
            use_tls,
        } => PbKind::Grpc(pb::GrpcCheckSpec {
            address,
            service,
            use_tls,
        }),
    };
    pb::CatalogCheck {
        id: c.id,
        name: c.name,
        kind: Some(kind),
        interval_ms: c.interval_ms,
        timeout_ms: c.timeout_ms,
    }
}

pub(super) fn decode_check(c: pb::CatalogCheck) -> DecodeResult<CheckDefinition> {
    let kind = match required(c.kind, "CatalogCheck.kind")? {
        PbKind::Ttl(t) => CheckKind::Ttl { ttl_ms: t.ttl_ms },
        PbKind::Http(h) => CheckKind::Http {
            url: h.url,
            method: h.method,
            headers: h.headers.into_iter().collect(),
            tls_skip_verify: h.tls_skip_verify,
        },
        PbKind::Tcp(t) => CheckKind::Tcp { address: t.address },
        PbKind::Grpc(g) => CheckKind::Grpc {
            address: g.address,
            service: g.service,
            use_tls: g.use_tls,
        },
    };
    Ok(CheckDefinition {
        id: c.id,
        name: c.name,
        kind,
        interval_ms: c.interval_ms,
        timeout_ms: c.timeout_ms,
    })
}

pub(super) fn encode_status(s: CheckStatus) -> i32 {
    let status = match s {
        CheckStatus::Passing => pb::CheckStatus::Passing,
        CheckStatus::Warning => pb::CheckStatus::Warning,
        CheckStatus::Critical => pb::CheckStatus::Critical,
    };
    status as i32
}

/// Refuses UNSPECIFIED and unknown numbers: encoders never write them.
pub(super) fn decode_status(field: &'static str, s: i32) -> DecodeResult<CheckStatus> {
    match pb::CheckStatus::try_from(s) {
        Ok(pb::CheckStatus::Passing) => Ok(CheckStatus::Passing),
        Ok(pb::CheckStatus::Warning) => Ok(CheckStatus::Warning),
        Ok(pb::CheckStatus::Critical) => Ok(CheckStatus::Critical),
        Ok(pb::CheckStatus::Unspecified) | Err(_) => Err(CodecError::OutOfRange {
            field,
            value: s as u64,
        }),
    }
}

pub(super) fn encode_result(r: CheckResult) -> pb::CheckResult {
    pb::CheckResult {
        check_id: r.check_id,
        status: encode_status(r.status),
        output: r.output,
    }
}

pub(super) fn decode_result(r: pb::CheckResult) -> DecodeResult<CheckResult> {
    Ok(CheckResult {
        status: decode_status("CheckResult.status", r.status)?,
        check_id: r.check_id,
        output: r.output,
    })
}
