//! The health-check half of CatalogService: the UpdateTtlCheck, ListChecks and
//! ServiceChecks calls (their protobuf conversions are in `convert/catalog.rs`).
//!
//! A client's TTL report becomes a `CheckTtlUpdate` stamped with the leader's time and goes
//! through `RaftNode::write`; reads go through `CatalogApi::fresh` and show a TTL check
//! past its deadline as critical even before the leader's expiry entry records it
//! (`CheckState::at`). The HTTP, TCP and gRPC probes are run by the leader
//! (`server/leader/checks.rs`), not here. The REST gateway calls these same methods.

use konsul_proto::v1 as pb;
use tokio::time::Instant;

use crate::api::catalog::CatalogApi;
use crate::api::check_validate as check;
use crate::api::convert::checks_to_pb;
use crate::error::{Error, Result};
use crate::store::{CheckStatus, Command, Response, ServiceEntry, Store, TTL_PASSED_OUTPUT};

/// Message of NOT_FOUND for an unknown check (the REST contract's text).
pub const CHECK_NOT_FOUND: &str = "check not found";

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
        .filter(|(_, e)| !passing_only || e.passing(now_ms))
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
