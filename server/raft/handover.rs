//! A leader asked to remove itself hands leadership over first, then asks the new leader to
//! remove it.
//!
//! ```text
//!  api/cluster Leave(me) ─► RaftNode::leave ─► hand_over: transfer_leader(best voter)
//!                                               └─ wait until another node leads
//!                                            ─► ClusterService/Leave(me) at the new leader
//! ```
//!
//! Why not let the leader commit its own removal: with openraft 0.10 a configuration takes
//! effect as soon as it is appended, and a voter that finds itself the only voter of the new
//! configuration elects itself at once, before the old leader has seen the entry commit. The
//! new leader then commits the entry, but never tells the old leader (no longer a member), so
//! the old leader's `change_membership` would wait forever. After a hand-over the removal is
//! an ordinary removal of a follower. Consul's leader does the same on a graceful leave.

use std::time::Duration;

use konsul_proto::v1::LeaveRequest;
use konsul_proto::v1::cluster_service_client::ClusterServiceClient;
use openraft::ServerState;
use openraft::async_runtime::WatchReceiver;
use tonic::transport::Endpoint;

use crate::error::{Error, Result};
use crate::raft::node::RaftNode;
use crate::raft::{Member, NodeId};

/// How long the chosen voter gets to take over, and the new leader to answer the removal.
pub const HANDOVER_TIMEOUT: Duration = Duration::from_secs(10);

impl RaftNode {
    /// Transfers leadership to the other voter with the longest replicated log and waits
    /// until another node leads. Returns the new leader's member record.
    pub(super) async fn hand_over(&self) -> Result<Member> {
        let m = self.raft().metrics().borrow_watched().clone();
        let membership = m.membership_config.membership();
        let matched = |id: &NodeId| {
            m.replication
                .as_ref()
                .and_then(|r| r.get(id).cloned().flatten())
                .map_or(0, |l| l.index + 1)
        };
        let target = membership
            .voter_ids()
            .filter(|id| *id != self.id())
            .max_by_key(matched)
            .ok_or_else(|| Error::InvalidArgument("no other voter to hand leadership to".into()))?;
        let name = membership
            .get_node(&target)
            .map_or_else(|| target.to_string(), |n| n.name.clone());
        tracing::info!(to = %name, "leave: handing leadership over before removing this node");
        self.raft()
            .trigger()
            .transfer_leader(target)
            .await
            .map_err(|f| Error::Unavailable(format!("raft stopped: {f}")))?;

        let me = self.id();
        let led = self
            .raft()
            .wait(Some(HANDOVER_TIMEOUT))
            .metrics(
                |m| m.state != ServerState::Leader && m.current_leader.is_some_and(|l| l != me),
                "another node leads",
            )
            .await
            .map_err(|_| {
                Error::Timeout(format!(
                    "leadership did not pass to {name} within {HANDOVER_TIMEOUT:?}; this node \
                     is still a member"
                ))
            })?;
        let leader = led.current_leader.expect("checked by the wait");
        led.membership_config
            .membership()
            .get_node(&leader)
            .cloned()
            .ok_or_else(|| Error::Internal(format!("the new leader {leader} is not a member")))
    }
}

/// Asks `leader` (over its client port) to remove the member named `name`. Bounded by
/// [`HANDOVER_TIMEOUT`]. Its refusal comes back as [`Error::Unavailable`] naming the leader.
pub(super) async fn ask_leader_to_remove(leader: &Member, name: &str) -> Result<()> {
    let failed = |what: String| {
        Error::Unavailable(format!(
            "handed leadership to {} ({}), but {what}; this node may still be a member, \
             retry the leave there",
            leader.name, leader.client_addr
        ))
    };
    let endpoint = Endpoint::from_shared(format!("http://{}", leader.client_addr))
        .map_err(|e| failed(format!("its client address is invalid: {e}")))?
        .connect_timeout(HANDOVER_TIMEOUT)
        .timeout(HANDOVER_TIMEOUT);
    let work = async {
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| failed(format!("it cannot be reached: {e}")))?;
        let mut request = tonic::Request::new(LeaveRequest {
            node_id: name.to_string(),
        });
        request.set_timeout(HANDOVER_TIMEOUT);
        ClusterServiceClient::new(channel)
            .leave(request)
            .await
            .map(drop)
            .map_err(|s| failed(format!("its removal failed: {}", s.message())))
    };
    tokio::time::timeout(HANDOVER_TIMEOUT * 2, work)
        .await
        .unwrap_or_else(|_| Err(failed("it did not answer in time".into())))
}
