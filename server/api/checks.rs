//! The health-check half of CatalogService: check definitions and states between protobuf
//! and the store, and the UpdateTtlCheck, ListChecks and ServiceChecks calls.
//!
//! A client's TTL report becomes a `CheckTtlUpdate` stamped with the leader's time and goes
//! through `RaftNode::write`; reads go through `CatalogApi::fresh` and show a TTL check
//! past its deadline as critical even before the leader's expiry entry records it
//! (`CheckState::at`). The HTTP, TCP and gRPC probes are run by the leader
//! (`server/leader/checks.rs`), not here. The REST gateway calls these same methods.

use konsul_proto::v1 as pb;
use konsul_proto::v1::check_definition::Kind as PbKind;
use tokio::time::Instant;

use crate::api::catalog::CatalogApi;
use crate::api::check_validate::{self as check, RawCheck};
use crate::error::{Error, Result};
use crate::store::{
    CheckDefinition, CheckKind, CheckState, CheckStatus, Command, Response, ServiceEntry, Store,
    TTL_PASSED_OUTPUT,
};

/// Message of NOT_FOUND for an unknown check (the REST contract's text).
pub const CHECK_NOT_FOUND: &str = "check not found";

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

/// Whether every check of `entry` passes at `now_ms` (true for a service without checks).
pub fn passing(entry: &ServiceEntry, now_ms: u64) -> bool {
    entry
        .service
        .checks
        .iter()
        .all(|def| match entry.checks.get(&def.id) {
            Some(state) => state.at(now_ms).0 == CheckStatus::Passing,
            None => false,
        })
}

/// The checks of every registered service (of those named `name`, when given), by catalog
/// key. A service is listed until the leader's expiry removes it, whatever its replicated
/// deadline says (heartbeats live in the leader's memory).
fn live_checks(
    store: &Store,
    now_ms: u64,
    name: Option<&str>,
    passing_only: bool,
) -> Vec<pb::Check> {
    let services: Box<dyn Iterator<Item = (&String, &ServiceEntry)>> = match name {
        Some(name) => Box::new(store.services_named(name)),
        None => Box::new(store.services()),
    };
    services
        .filter(|(_, e)| !passing_only || passing(e, now_ms))
        .flat_map(|(k, e)| checks_to_pb(k, e, now_ms))
        .collect()
}

impl CatalogApi {
    pub(crate) async fn update_ttl_check_inner(
        &self,
        req: pb::UpdateTtlCheckRequest,
    ) -> Result<pb::UpdateTtlCheckResponse> {
        check::check_id("check_id", &req.check_id)?;
        check::output("output", &req.output)?;
        let status = match pb::CheckStatus::try_from(req.status) {
            Ok(pb::CheckStatus::Unspecified | pb::CheckStatus::Passing) => CheckStatus::Passing,
            Ok(pb::CheckStatus::Warning) => CheckStatus::Warning,
            Ok(pb::CheckStatus::Critical) => CheckStatus::Critical,
            Err(_) => {
                return Err(Error::invalid(
                    "status",
                    format!("{} is not a check status", req.status),
                ));
            }
        };
        let output = if req.output.is_empty() && status == CheckStatus::Passing {
            TTL_PASSED_OUTPUT.to_owned()
        } else {
            req.output
        };
        let now = self.now_ms();
        let command = Command::CheckTtlUpdate {
            check_id: req.check_id.clone(),
            status,
            output,
            now_ms: now,
        };
        match self.node.write(command).await?.response {
            Response::CheckUpdated { check_id, .. } => {
                let check = self.node.view().read(|s| {
                    let key = s.check_owner(&check_id)?;
                    let entry = s.service(key)?;
                    checks_to_pb(key, entry, now)
                        .into_iter()
                        .find(|c| c.definition.as_ref().is_some_and(|d| d.id == check_id))
                });
                Ok(pb::UpdateTtlCheckResponse {
                    header: self.header(),
                    check,
                })
            }
            Response::NotFound { .. } => Err(Error::NotFound(CHECK_NOT_FOUND.into())),
            Response::NotTtlCheck { .. } => {
                Err(Error::invalid("check_id", "check is not a TTL check"))
            }
            other => Err(crate::api::catalog::unexpected(other)),
        }
    }

    pub(crate) async fn list_checks_inner(
        &self,
        req: pb::ListChecksRequest,
        deadline: Instant,
    ) -> Result<pb::ListChecksResponse> {
        self.fresh(req.consistency, req.min_index, deadline).await?;
        let now = self.now_ms();
        let ((checks, catalog_index), applied) = self
            .node
            .view()
            .read_at(|s| (live_checks(s, now, None, false), s.catalog_index()));
        Ok(pb::ListChecksResponse {
            header: self.header_at(applied),
            checks,
            catalog_index,
        })
    }

    pub(crate) async fn service_checks_inner(
        &self,
        req: pb::ServiceChecksRequest,
        deadline: Instant,
    ) -> Result<pb::ServiceChecksResponse> {
        crate::api::catalog_validate::name("name", &req.name)?;
        self.fresh(req.consistency, req.min_index, deadline).await?;
        let now = self.now_ms();
        let (checks, applied) = self
            .node
            .view()
            .read_at(|s| live_checks(s, now, Some(&req.name), req.passing_only));
        Ok(pb::ServiceChecksResponse {
            header: self.header_at(applied),
            checks,
        })
    }
}
