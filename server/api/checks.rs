//! The health-check half of the typed catalog API: TTL reports, every check, and one
//! service's checks.
//!
//! A client's TTL report becomes a `CheckTtlUpdate` stamped with the leader's time and goes
//! through `RaftNode::write_until`; reads go through `CatalogApi::fresh` and show a TTL
//! check past its deadline as critical even before the leader's expiry entry records it
//! (`CheckState::at`, through `catalog_types::check_views`). The HTTP, TCP and gRPC probes
//! are run by the leader (`server/leader/checks.rs`), not here.

use tokio::time::Instant;

use crate::api::catalog::{CatalogApi, unexpected};
use crate::api::catalog_types::{CheckView, check_views};
use crate::api::check_validate as check;
use crate::api::{Answer, ReadOptions};
use crate::error::{Error, Result};
use crate::store::{CheckStatus, Command, Response, ServiceEntry, Store, TTL_PASSED_OUTPUT};

/// Message of NOT_FOUND for an unknown check (the REST contract's text).
pub const CHECK_NOT_FOUND: &str = "check not found";

/// Every check and the catalog index it was read at.
#[derive(Debug, Clone)]
pub struct CheckListing {
    /// Checks by service key, then in registration order.
    pub checks: Vec<CheckView>,
    /// The catalog index of the store they came from.
    pub catalog_index: u64,
}

/// The checks of every registered service (of those named `name`, when given), by catalog
/// key. A service is listed until the leader's expiry removes it, whatever its replicated
/// deadline says (heartbeats live in the leader's memory).
fn live_checks(
    store: &Store,
    now_ms: u64,
    name: Option<&str>,
    passing_only: bool,
) -> Vec<CheckView> {
    let services: Box<dyn Iterator<Item = (&String, &ServiceEntry)>> = match name {
        Some(name) => Box::new(store.services_named(name)),
        None => Box::new(store.services()),
    };
    services
        .filter(|(_, e)| !passing_only || e.passing(now_ms))
        .flat_map(|(k, e)| check_views(k, e, now_ms))
        .collect()
}

impl CatalogApi {
    /// A TTL report for `check_id`: `status` (passing when the client named none) with
    /// `output` (for a pass without output, the contract's "TTL check passed"). Answers the
    /// check as it now is, when it still exists.
    pub async fn update_ttl_check(
        &self,
        check_id: &str,
        status: CheckStatus,
        output: String,
        deadline: Instant,
    ) -> Result<Answer<Option<CheckView>>> {
        check::check_id("check_id", check_id)?;
        check::output("output", &output)?;
        let output = if output.is_empty() && status == CheckStatus::Passing {
            TTL_PASSED_OUTPUT.to_owned()
        } else {
            output
        };
        let now = self.now_ms();
        let command = Command::CheckTtlUpdate {
            check_id: check_id.to_owned(),
            status,
            output,
            now_ms: now,
        };
        match self.node.write_until(command, deadline).await?.response {
            Response::CheckUpdated { check_id, .. } => {
                let check = self.node.view().read(|s| {
                    let key = s.check_owner(&check_id)?;
                    let entry = s.service(key)?;
                    check_views(key, entry, now)
                        .into_iter()
                        .find(|c| c.definition.id == check_id)
                });
                Ok(Answer::now(&self.node, check))
            }
            Response::NotFound { .. } => Err(Error::NotFound(CHECK_NOT_FOUND.into())),
            Response::NotTtlCheck { .. } => {
                Err(Error::invalid("check_id", "check is not a TTL check"))
            }
            other => Err(unexpected(other)),
        }
    }

    /// Every check of every live service, with the catalog index.
    pub async fn list_checks(
        &self,
        read: ReadOptions,
        deadline: Instant,
    ) -> Result<Answer<CheckListing>> {
        read.wait(&self.node, deadline).await?;
        let now = self.now_ms();
        let ((checks, catalog_index), applied) = self
            .node
            .view()
            .read_at(|s| (live_checks(s, now, None, false), s.catalog_index()));
        Ok(Answer::at(
            &self.node,
            CheckListing {
                checks,
                catalog_index,
            },
            applied,
        ))
    }

    /// The checks of every instance of service `name` (of passing instances only, with
    /// `passing_only`).
    pub async fn service_checks(
        &self,
        name: &str,
        passing_only: bool,
        read: ReadOptions,
        deadline: Instant,
    ) -> Result<Answer<Vec<CheckView>>> {
        crate::api::catalog_validate::name("name", name)?;
        read.wait(&self.node, deadline).await?;
        let now = self.now_ms();
        let (checks, applied) = self
            .node
            .view()
            .read_at(|s| live_checks(s, now, Some(name), passing_only));
        Ok(Answer::at(&self.node, checks, applied))
    }
}
