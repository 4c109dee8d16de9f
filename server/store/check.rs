//! Health checks: their definitions (part of a service's registration), their replicated
//! status, and the check commands' half of apply.
//!
//! A check belongs to one service and lives in its [`super::ServiceEntry`]; it is removed
//! with the service. Statuses change only through the log: a TTL check through
//! `CheckTtlUpdate` (a client's `PUT /health/check/{id}`), an HTTP/TCP/gRPC check through
//! `CheckResults` proposed by the leader's check runner (`server/leader/checks.rs`), and a
//! TTL check whose deadline passed through the leader's `CatalogExpire`. Every time is
//! stamped into the command, so every node holds the same statuses at the same index, and
//! snapshots carry them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Response, Store};

/// Output a TTL check gets from a client update that gives none.
pub const TTL_PASSED_OUTPUT: &str = "TTL check passed";
/// Output of a TTL check whose deadline passed without an update.
pub const TTL_EXPIRED_OUTPUT: &str = "TTL expired";

/// What a check probes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKind {
    /// Kept passing by client updates.
    Ttl {
        /// How long one update holds; 0 means forever.
        ttl_ms: u64,
    },
    /// An HTTP(S) request: 2xx is passing, 429 warning, anything else critical.
    Http {
        /// Absolute http(s) URL.
        url: String,
        /// Request method, upper case.
        method: String,
        /// Extra request headers.
        headers: BTreeMap<String, String>,
        /// Accept any server certificate.
        tls_skip_verify: bool,
    },
    /// A TCP connect.
    Tcp {
        /// `host:port`.
        address: String,
    },
    /// A grpc.health.v1 Check call.
    Grpc {
        /// `host:port` of the server.
        address: String,
        /// Service asked about; "" = the whole server.
        service: String,
        /// Connect with TLS.
        use_tls: bool,
    },
}

impl CheckKind {
    /// The contract's type name: `ttl`, `http`, `tcp` or `grpc`.
    pub fn type_name(&self) -> &'static str {
        match self {
            CheckKind::Ttl { .. } => "ttl",
            CheckKind::Http { .. } => "http",
            CheckKind::Tcp { .. } => "tcp",
            CheckKind::Grpc { .. } => "grpc",
        }
    }
}

/// One check as registered with its service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDefinition {
    /// Unique across the catalog; what `PUT /health/check/{id}` names.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// What to probe.
    pub kind: CheckKind,
    /// How often the leader runs a probe (HTTP, TCP, gRPC).
    pub interval_ms: u64,
    /// How long one probe may take before it counts as critical.
    pub timeout_ms: u64,
}

/// A check's status, worst last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CheckStatus {
    /// Healthy.
    Passing,
    /// Degraded; not passing for `passing_only` queries.
    Warning,
    /// Failing.
    Critical,
}

impl CheckStatus {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Passing => "passing",
            CheckStatus::Warning => "warning",
            CheckStatus::Critical => "critical",
        }
    }
}

/// A check's replicated state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckState {
    /// Latest status; a new check starts critical until it is first seen passing.
    pub status: CheckStatus,
    /// Output of the latest probe or update.
    pub output: String,
    /// Leader time (ms since the epoch) of the latest result; 0 before the first.
    pub last_check_ms: u64,
    /// TTL checks: the deadline of the latest update; 0 when none is pending.
    pub expires_at_ms: u64,
}

impl super::ServiceEntry {
    /// Whether every check of this service passes at `now_ms` (true for a service without
    /// checks; a check with no recorded state yet does not pass).
    pub fn passing(&self, now_ms: u64) -> bool {
        self.service
            .checks
            .iter()
            .all(|def| match self.checks.get(&def.id) {
                Some(state) => state.at(now_ms).0 == CheckStatus::Passing,
                None => false,
            })
    }
}

impl CheckState {
    /// The state of a check nobody has run yet.
    pub fn new_check() -> Self {
        Self {
            status: CheckStatus::Critical,
            output: String::new(),
            last_check_ms: 0,
            expires_at_ms: 0,
        }
    }

    /// The state as a reader at `now_ms` should see it: a TTL check past its deadline is
    /// critical even before the leader's `CatalogExpire` records it.
    pub fn at(&self, now_ms: u64) -> (CheckStatus, &str) {
        if self.expires_at_ms != 0 && self.expires_at_ms <= now_ms {
            (CheckStatus::Critical, TTL_EXPIRED_OUTPUT)
        } else {
            (self.status, &self.output)
        }
    }
}

/// One probe result reported by the leader's check runner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check probed.
    pub check_id: String,
    /// What the probe found.
    pub status: CheckStatus,
    /// The probe's output (an HTTP status line, a connect error, ...).
    pub output: String,
}

impl Store {
    /// The catalog key of the service owning check `id`.
    pub fn check_owner(&self, id: &str) -> Option<&str> {
        self.check_owners.get(id).map(String::as_str)
    }

    /// The replicated state of check `id`, whichever service owns it.
    pub fn check_state(&self, id: &str) -> Option<&CheckState> {
        let owner = self.check_owners.get(id)?;
        self.catalog.get(owner)?.checks.get(id)
    }

    /// CheckTtlUpdate: a client reports a TTL check's status; the deadline becomes
    /// `now_ms + ttl` (none for a TTL of 0).
    pub(super) fn check_ttl_update(
        &mut self,
        index: u64,
        check_id: String,
        status: CheckStatus,
        output: String,
        now_ms: u64,
    ) -> Response {
        let Some((def, state)) = self.check_mut(&check_id) else {
            return Response::NotFound { key: check_id };
        };
        let CheckKind::Ttl { ttl_ms } = def.kind else {
            return Response::NotTtlCheck { check_id };
        };
        let changed = state.status != status || state.output != output;
        state.status = status;
        state.output = output;
        state.last_check_ms = now_ms;
        state.expires_at_ms = if ttl_ms == 0 {
            0
        } else {
            now_ms.saturating_add(ttl_ms)
        };
        let expires_at_ms = state.expires_at_ms;
        if changed {
            self.catalog_index = index;
        }
        Response::CheckUpdated {
            check_id,
            expires_at_ms,
        }
    }

    /// CheckResults: the leader's probe results. Checks gone since the probe (their service
    /// deregistered or re-registered without them) and TTL checks are skipped; counts the
    /// statuses that changed.
    pub(super) fn check_results(
        &mut self,
        index: u64,
        results: Vec<CheckResult>,
        now_ms: u64,
    ) -> Response {
        let mut changed = 0u64;
        for result in results {
            let Some((def, state)) = self.check_mut(&result.check_id) else {
                continue;
            };
            if matches!(def.kind, CheckKind::Ttl { .. }) {
                continue;
            }
            if state.status != result.status || state.output != result.output {
                changed += 1;
            }
            state.status = result.status;
            state.output = result.output;
            state.last_check_ms = now_ms;
        }
        if changed > 0 {
            self.catalog_index = index;
        }
        Response::CheckResultsApplied { changed }
    }

    /// Check `id`'s definition and its replicated state, for a command to change the state.
    fn check_mut(&mut self, id: &str) -> Option<(&CheckDefinition, &mut CheckState)> {
        let entry = self.catalog.get_mut(self.check_owners.get(id)?)?;
        let def = entry.service.checks.iter().find(|c| c.id == id)?;
        Some((def, entry.checks.get_mut(id)?))
    }

    /// Part of `CatalogExpire`: every TTL check whose deadline is at or before `now_ms`
    /// turns critical ("TTL expired"); returns their ids.
    pub(super) fn expire_ttl_checks(&mut self, now_ms: u64) -> Vec<String> {
        let mut expired = Vec::new();
        for entry in self.catalog.values_mut() {
            for (id, state) in entry.checks.iter_mut() {
                if state.expires_at_ms != 0 && state.expires_at_ms <= now_ms {
                    state.status = CheckStatus::Critical;
                    state.output = TTL_EXPIRED_OUTPUT.to_owned();
                    state.expires_at_ms = 0;
                    expired.push(id.clone());
                }
            }
        }
        expired
    }
}
