//! When a leader last had a quorum's acknowledgement: what write admission, the give-up on
//! pending writes (`writes.rs`), the cluster status and response headers report. Reads do
//! not use it; their lease and ReadIndex checks are openraft's own (`reads.rs`).
//!
//! ```text
//!  openraft metrics.last_quorum_acked (send time of the newest AppendEntries a quorum accepted)
//!      │  None while a leader's first round has not come back
//!      ▼
//!  QuorumContact::at(metrics, now) ──► writes.rs (quorum_timeout), cluster_status.rs, header
//! ```
//!
//! openraft 0.10 publishes `last_quorum_acked` as an absolute monotonic instant, so a leader
//! cut off from its followers shows a contact time that stops moving while `now` goes on
//! (0.9 only published a duration frozen at its last metrics change, which is why Konsul
//! once tracked acknowledgements itself). Two gaps are filled here. A single voter is its own
//! quorum, but openraft stamps only followers' answers, so its value stays at its election:
//! it counts as in contact now. A leader elected a moment ago has no acknowledgement yet: it
//! counts the first moment it was seen leading under its vote as contact, so that it is
//! neither taken for a leader that lost its quorum nor left without a limit when its first
//! round never comes back.

use std::sync::{Arc, Mutex};

use openraft::Instant as _;
use openraft::RaftMetrics;
use openraft::ServerState;
use openraft::type_config::alias::VoteOf;
use tokio::time::Instant;

use super::{NodeId, TypeConfig};

/// A vote this node was seen leading under, and when it first was.
type FirstSight = Option<(VoteOf<TypeConfig>, Instant)>;

/// The first moment this node was seen leading under its current vote. Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct QuorumContact(Arc<Mutex<FirstSight>>);

impl QuorumContact {
    /// When this node, leading according to `m`, last had a quorum's acknowledgement, or
    /// the first moment it was seen leading under its vote if none has come back yet.
    /// `None` when `m` does not say this node (`me`) leads under its own committed vote.
    pub fn at(&self, m: &RaftMetrics<TypeConfig>, me: NodeId, now: Instant) -> Option<Instant> {
        let leads = m.state == ServerState::Leader
            && m.vote.is_committed()
            && m.vote.leader_id().node_id == me;
        if !leads {
            return None;
        }
        // A single voter is its own quorum; openraft stamps only its followers' answers.
        let alone = m
            .membership_config
            .membership()
            .get_joint_config()
            .iter()
            .all(|voters| voters.len() == 1 && voters.contains(&me));
        if alone {
            return Some(now);
        }
        let since = {
            let mut leading = super::lock(&self.0);
            match *leading {
                Some((vote, t)) if vote == m.vote => t,
                _ => {
                    *leading = Some((m.vote, now));
                    now
                }
            }
        };
        // openraft's instant wraps tokio's; its age carries over.
        let acked = m
            .last_quorum_acked
            .and_then(|acked| now.checked_sub(acked.elapsed()));
        Some(acked.map_or(since, |acked| acked.max(since)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use openraft::metrics::SerdeInstant;
    use openraft::type_config::alias::InstantOf;
    use openraft::{Membership, StoredMembership, Vote};

    use super::*;

    /// Metrics of `me` leading a three-voter cluster {1, 2, 3} in `term`.
    fn leader_metrics(term: u64, me: NodeId) -> RaftMetrics<TypeConfig> {
        let mut m = RaftMetrics::new_initial(me);
        m.state = ServerState::Leader;
        m.vote = Vote::new_committed(term, me);
        let membership = Membership::new_with_defaults(vec![BTreeSet::from([1, 2, 3])], []);
        m.membership_config = Arc::new(StoredMembership::new(None, membership));
        m
    }

    #[tokio::test(start_paused = true)]
    async fn a_single_voter_is_always_in_contact_with_its_quorum() {
        let contact = QuorumContact::default();
        let mut m = leader_metrics(2, 1);
        // Node 4 is a learner: it does not count towards the quorum.
        let alone = Membership::new_with_defaults(vec![BTreeSet::from([1])], [4]);
        m.membership_config = Arc::new(StoredMembership::new(None, alone));
        contact.at(&m, 1, Instant::now());
        tokio::time::advance(Duration::from_secs(5)).await;
        let now = Instant::now();
        assert_eq!(contact.at(&m, 1, now), Some(now));
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_leader_counts_its_first_sight_as_contact_until_a_quorum_answers() {
        let contact = QuorumContact::default();
        let mut m = leader_metrics(2, 1);
        let elected = Instant::now();
        assert_eq!(contact.at(&m, 1, elected), Some(elected));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(contact.at(&m, 1, Instant::now()), Some(elected));
        let acked = Instant::now();
        m.last_quorum_acked = Some(SerdeInstant::new(InstantOf::<TypeConfig>::now()));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(contact.at(&m, 1, Instant::now()), Some(acked));
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_term_starts_a_new_first_sight() {
        let contact = QuorumContact::default();
        let first = Instant::now();
        assert_eq!(contact.at(&leader_metrics(2, 1), 1, first), Some(first));
        tokio::time::advance(Duration::from_secs(3)).await;
        let later = Instant::now();
        assert_eq!(contact.at(&leader_metrics(3, 1), 1, later), Some(later));
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_leader_under_its_own_committed_vote_has_contact() {
        let contact = QuorumContact::default();
        let now = Instant::now();
        let mut follower = leader_metrics(2, 1);
        follower.state = ServerState::Follower;
        assert_eq!(contact.at(&follower, 1, now), None);
        let mut candidate = leader_metrics(2, 1);
        candidate.vote = Vote::new(2, 1);
        assert_eq!(contact.at(&candidate, 1, now), None);
        assert_eq!(contact.at(&leader_metrics(2, 2), 1, now), None);
    }
}
