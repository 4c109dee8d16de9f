//! One Join attempt: the gRPC `konsul.v1.ClusterService/Join` call to one member, following
//! a "not leader" answer to the leader once.
//!
//! ```text
//!  join_loop.rs ── attempt(addr) ──► ClusterService/Join at addr
//!                                     └─ UNAVAILABLE + konsul-leader-addr ─► Join at the leader
//! ```
//!
//! Every call has a connect timeout and a deadline (DESIGN.md §4: a lost packet must never
//! hang a call), and each call's outcome is one log line naming the address.

use std::time::Duration;

use konsul_proto::v1::JoinRequest;
use konsul_proto::v1::cluster_service_client::ClusterServiceClient;
use tonic::Code;
use tonic::transport::Endpoint;

use crate::api::status::LEADER_ADDR_KEY;
use crate::raft::Member;

/// Why a call did not add the node.
#[derive(Debug)]
enum CallError {
    /// The member is not the leader and named the leader's client address.
    NotLeader { leader: String },
    /// Anything else: no connection, a deadline, a refusal.
    Failed(String),
}

/// Asks members to add one node; holds the node's identity and the call timeouts.
#[derive(Clone, Debug)]
pub struct JoinCall {
    me: Member,
    connect_timeout: Duration,
    call_timeout: Duration,
}

impl JoinCall {
    /// Joins `me` (name, Raft address, client address) with the given connect timeout and
    /// per-call deadline. The deadline must cover the leader's wait for the new node to catch
    /// up, since Join answers only once the node is a voter.
    pub fn new(me: Member, connect_timeout: Duration, call_timeout: Duration) -> Self {
        Self {
            me,
            connect_timeout,
            call_timeout,
        }
    }

    /// Asks the member at client address `addr` to add this node; on "not leader" with a
    /// leader address, asks that leader once. Returns the address that accepted and whether
    /// this node was already a member, or the failure (already logged).
    pub async fn attempt(&self, addr: &str) -> Result<(String, bool), String> {
        match self.call(addr).await {
            Ok(already) => {
                tracing::info!(already_member = already, "join: {addr} added this node");
                Ok((addr.to_string(), already))
            }
            Err(CallError::NotLeader { leader })
                if leader != addr && leader != self.me.client_addr =>
            {
                tracing::info!("join: {addr} is not the leader; asking {leader}");
                match self.call(&leader).await {
                    Ok(already) => {
                        tracing::info!(
                            already_member = already,
                            "join: leader {leader} added this node"
                        );
                        Ok((leader, already))
                    }
                    Err(e) => {
                        let e = describe(e);
                        tracing::warn!("join: leader {leader} (via {addr}): {e}");
                        Err(e)
                    }
                }
            }
            Err(e) => {
                let e = describe(e);
                tracing::warn!("join: {addr}: {e}");
                Err(e)
            }
        }
    }

    /// How long the leader may wait for this node to catch up: a little less than the call's
    /// deadline, so the leader gives up (and removes the learner) before the caller does, and
    /// the caller sees the leader's answer rather than its own timeout.
    fn catch_up_timeout(&self) -> Duration {
        let margin = (self.call_timeout / 4).min(Duration::from_secs(10));
        self.call_timeout.saturating_sub(margin)
    }

    /// One Join call; `Ok(already_member)` on success.
    async fn call(&self, addr: &str) -> Result<bool, CallError> {
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| CallError::Failed(format!("bad address: {e}")))?
            .connect_timeout(self.connect_timeout)
            .timeout(self.call_timeout)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5));
        let work = async {
            let channel = endpoint
                .connect()
                .await
                .map_err(|e| CallError::Failed(format!("cannot connect: {}", chain(&e))))?;
            let mut request = tonic::Request::new(JoinRequest {
                node_id: self.me.name.clone(),
                address: self.me.raft_addr.clone(),
                client_address: self.me.client_addr.clone(),
                catch_up_timeout_ms: u32::try_from(self.catch_up_timeout().as_millis())
                    .unwrap_or(u32::MAX),
            });
            request.set_timeout(self.call_timeout);
            match ClusterServiceClient::new(channel).join(request).await {
                Ok(response) => Ok(response.into_inner().already_member),
                Err(status) => Err(classify(status)),
            }
        };
        // Belt and braces over the two timeouts above: the attempt as a whole is bounded.
        tokio::time::timeout(self.connect_timeout + self.call_timeout, work)
            .await
            .unwrap_or_else(|_| Err(CallError::Failed("timed out".to_string())))
    }
}

/// Sorts a failed call's status into "go to the leader" or a plain failure.
fn classify(status: tonic::Status) -> CallError {
    let leader = status
        .metadata()
        .get(LEADER_ADDR_KEY)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    match (status.code(), leader) {
        (Code::Unavailable, Some(leader)) => CallError::NotLeader { leader },
        (code, _) => CallError::Failed(format!("{code:?}: {}", status.message())),
    }
}

fn describe(e: CallError) -> String {
    match e {
        CallError::NotLeader { leader } => format!("not the leader; leader is {leader}"),
        CallError::Failed(message) => message,
    }
}

/// An error and its sources on one line: tonic's transport errors say only "transport error"
/// at the top.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
