//! The leader's lease and quorum contact, measured here, at read time, on the monotonic
//! clock: what lets a leader answer `leader` reads from its own state and notice that it
//! has lost its quorum.
//!
//! ```text
//!  network (AppendEntries to a peer) ── sent at t, peer accepted vote V ──► LeaseTracker::ack
//!  node.read_until / node.write ──► LeaseTracker::quorum_contact(V, voters) ──► lease check
//! ```
//!
//! openraft 0.9 reports the time since its last quorum acknowledgement only in a metrics
//! snapshot computed when metrics change: a leader cut off from its followers produces no
//! changes, so that number freezes and its lease would look valid forever. Instead this
//! tracker keeps, per peer, the *send* time of the last AppendEntries (replication or
//! heartbeat) the peer accepted under the leader's vote. The time at which a quorum had
//! acknowledged the leader is the quorum-th newest of those times, with the leader itself
//! counting as "now". Because a send time is never later than the peer's receipt, and a peer
//! refuses to vote for anyone else for `election_timeout_max` after it last accepted the
//! leader, no other leader can be elected before `quorum_contact + election_timeout_max`
//! (openraft's lease). Konsul trusts its lease for `raft.leader_lease_timeout`, which
//! validation keeps at most `raft.heartbeat_timeout` ≤ `election_timeout`, so at most half of
//! openraft's window: the other half is the margin for clocks that run at different rates.
//! Two more holes are closed in `service.rs`: a node refuses to grant votes until
//! `election_timeout_max` after it starts (openraft 0.9 already times a stored committed vote
//! from startup; this also covers one that was not committed), and a node that grants its
//! vote revokes its own lease first ([`LeaseTracker::revoke`]): the leader itself is the one
//! voter whose refusal window openraft does not keep fresh.

use crate::raft::TypeConfig;
use openraft::type_config::alias::VoteOf;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::NodeId;

/// Acknowledgements per peer, shared by the network (which records them) and the node
/// (which reads them). Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct LeaseTracker(Arc<Mutex<State>>);

#[derive(Default, Debug)]
struct State {
    /// Per peer: the newest send time of an AppendEntries it accepted, and under which vote.
    acks: HashMap<NodeId, (VoteOf<TypeConfig>, Instant)>,
    /// The vote this node last asked about as leader, and when it first did: a leader that
    /// was just elected has had no AppendEntries answered yet, and counts its election as
    /// its first contact with a quorum.
    leading: Option<(VoteOf<TypeConfig>, Instant)>,
}

impl LeaseTracker {
    /// Notes that `peer` accepted an AppendEntries sent at `sent` by the leader of `vote`.
    pub fn ack(&self, peer: NodeId, vote: VoteOf<TypeConfig>, sent: Instant) {
        let mut st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let newer = match st.acks.get(&peer) {
            Some((v, t)) => *v != vote || *t < sent,
            None => true,
        };
        if newer {
            st.acks.insert(peer, (vote, sent));
        }
    }

    /// Forgets every acknowledgement: called when this node grants its vote to a candidate,
    /// before the grant is sent. A leader grants a vote once `election_timeout_max` has
    /// passed since its own election (openraft does not refresh its own vote's time), and
    /// steps down in its core; its metrics may still say "leader" for a moment. Revoking here
    /// means no lease read can pass after the grant, whatever the metrics say.
    pub fn revoke(&self) {
        let mut st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        st.acks.clear();
        st.leading = None;
    }

    /// The latest time by which every voter set in `configs` (one, or two during a joint
    /// membership change) had a majority that accepted this leader's `vote`; its own vote
    /// counts as `now`. `None` while some set has no such majority. This is what a lease
    /// read trusts, so only real acknowledgements count.
    pub fn quorum_acked(
        &self,
        me: NodeId,
        vote: VoteOf<TypeConfig>,
        configs: &[BTreeSet<NodeId>],
        now: Instant,
    ) -> Option<Instant> {
        let st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        quorum_time(configs, |id| {
            if id == me {
                return Some(now);
            }
            st.acks
                .get(&id)
                .filter(|(v, _)| *v == vote)
                .map(|(_, t)| *t)
        })
    }

    /// Like [`Self::quorum_acked`], but a leader also counts the first moment it asked
    /// under `vote` as an acknowledgement from every peer, so that a leader elected a moment
    /// ago, whose first AppendEntries round has not come back yet, is not taken for one that
    /// lost its quorum. What write admission and the quorum-loss check use; never a lease.
    pub fn quorum_contact(
        &self,
        me: NodeId,
        vote: VoteOf<TypeConfig>,
        configs: &[BTreeSet<NodeId>],
        now: Instant,
    ) -> Instant {
        let mut st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let since = match st.leading {
            Some((v, t)) if v == vote => t,
            _ => {
                st.leading = Some((vote, now));
                now
            }
        };
        quorum_time(configs, |id| {
            if id == me {
                return Some(now);
            }
            let acked = st
                .acks
                .get(&id)
                .filter(|(v, _)| *v == vote)
                .map(|(_, t)| *t);
            Some(acked.map_or(since, |t| t.max(since)))
        })
        .unwrap_or(since)
    }
}

/// The quorum-th newest of `time(voter)` in each voter set, and the oldest of those across
/// sets; `None` when a set lacks a majority of known times (or is empty).
fn quorum_time(
    configs: &[BTreeSet<NodeId>],
    time: impl Fn(NodeId) -> Option<Instant>,
) -> Option<Instant> {
    let mut contact: Option<Instant> = None;
    for voters in configs {
        let mut times: Vec<Instant> = voters.iter().filter_map(|id| time(*id)).collect();
        let majority = voters.len() / 2 + 1;
        if voters.is_empty() || times.len() < majority {
            return None;
        }
        times.sort_unstable_by(|a, b| b.cmp(a));
        let t = times[majority - 1];
        contact = Some(contact.map_or(t, |c| c.min(t)));
    }
    contact
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use openraft::Vote;

    use super::*;

    fn vote(term: u64, node: NodeId) -> VoteOf<TypeConfig> {
        Vote::new_committed(term, node)
    }

    fn set(ids: &[NodeId]) -> BTreeSet<NodeId> {
        ids.iter().copied().collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_quorum_is_the_majority_th_newest_acknowledgement() {
        let lease = LeaseTracker::default();
        let v = vote(2, 1);
        let three = [set(&[1, 2, 3])];
        assert_eq!(lease.quorum_acked(1, v, &three, Instant::now()), None);
        tokio::time::advance(Duration::from_millis(100)).await;
        let t1 = Instant::now();
        lease.ack(2, v, t1);
        tokio::time::advance(Duration::from_millis(100)).await;
        let now = Instant::now();
        // Node 2 answered at t1, node 3 never did: {1 (now), 2 (t1)} is a majority.
        assert_eq!(lease.quorum_acked(1, v, &three, now), Some(t1));
        // In a 5-node cluster two acknowledgements besides the leader's are needed.
        assert_eq!(
            lease.quorum_acked(1, v, &[set(&[1, 2, 3, 4, 5])], now),
            None
        );
        lease.ack(3, v, now);
        assert_eq!(lease.quorum_acked(1, v, &three, now), Some(now));
        assert_eq!(
            lease.quorum_acked(1, v, &[set(&[1, 2, 3, 4, 5])], now),
            Some(t1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn acknowledgements_of_another_vote_do_not_count() {
        let lease = LeaseTracker::default();
        let old = vote(2, 1);
        let new = vote(3, 1);
        let three = [set(&[1, 2, 3])];
        lease.ack(2, old, Instant::now());
        lease.ack(3, old, Instant::now());
        assert_eq!(lease.quorum_acked(1, new, &three, Instant::now()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_leader_counts_its_election_as_contact_but_not_as_a_lease() {
        let lease = LeaseTracker::default();
        let v = vote(4, 1);
        let three = [set(&[1, 2, 3])];
        let elected = Instant::now();
        assert_eq!(lease.quorum_contact(1, v, &three, elected), elected);
        tokio::time::advance(Duration::from_secs(5)).await;
        let now = Instant::now();
        assert_eq!(lease.quorum_contact(1, v, &three, now), elected);
        assert_eq!(lease.quorum_acked(1, v, &three, now), None);
        lease.ack(3, v, now);
        assert_eq!(lease.quorum_contact(1, v, &three, now), now);
    }

    #[tokio::test(start_paused = true)]
    async fn joint_configurations_need_a_majority_of_each() {
        let lease = LeaseTracker::default();
        let v = vote(1, 1);
        let t = Instant::now();
        lease.ack(2, v, t);
        tokio::time::advance(Duration::from_millis(100)).await;
        let now = Instant::now();
        let joint = [set(&[1, 2, 3]), set(&[1, 4, 5])];
        assert_eq!(lease.quorum_acked(1, v, &joint, now), None);
        lease.ack(4, v, now);
        assert_eq!(lease.quorum_acked(1, v, &joint, now), Some(t));
    }

    #[tokio::test(start_paused = true)]
    async fn a_granted_vote_revokes_the_lease() {
        let lease = LeaseTracker::default();
        let v = vote(2, 1);
        let now = Instant::now();
        lease.ack(2, v, now);
        assert_eq!(lease.quorum_acked(1, v, &[set(&[1, 2, 3])], now), Some(now));
        lease.revoke();
        assert_eq!(lease.quorum_acked(1, v, &[set(&[1, 2, 3])], now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_single_voter_always_has_its_quorum() {
        let lease = LeaseTracker::default();
        let now = Instant::now();
        assert_eq!(
            lease.quorum_acked(1, vote(1, 1), &[set(&[1])], now),
            Some(now)
        );
    }
}
