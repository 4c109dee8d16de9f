//! Tests of how a join reads the leader's metrics while its learner catches up.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use openraft::type_config::alias::{CommittedLeaderIdOf, LogIdOf};
use openraft::vote::RaftLeaderId as _;
use openraft::{LogId, Membership, RaftMetrics, ServerState, StoredMembership};

use super::{CATCH_UP_MAX_LAG, catch_up_progress};
use crate::error::Error;
use crate::raft::{Member, NodeId, TypeConfig};

const LEADER: NodeId = 1;
const LEARNER: NodeId = 2;

fn log_id(index: u64) -> LogIdOf<TypeConfig> {
    LogId::new(CommittedLeaderIdOf::<TypeConfig>::new(1, LEADER), index)
}

fn member(id: NodeId) -> Member {
    Member {
        name: format!("n{id}"),
        raft_addr: format!("n{id}:7000"),
        client_addr: format!("n{id}:8888"),
        incarnation: id,
    }
}

/// A leader's metrics: its configuration (logged at `config_at`) holds the leader as voter
/// and, when `with_learner`, the learner; the learner has replicated up to `matched`.
fn leader_metrics(
    config_at: u64,
    with_learner: bool,
    last_log: u64,
    matched: Option<u64>,
) -> RaftMetrics<TypeConfig> {
    let mut nodes = BTreeMap::from([(LEADER, member(LEADER))]);
    if with_learner {
        nodes.insert(LEARNER, member(LEARNER));
    }
    let membership = Membership::new(vec![BTreeSet::from([LEADER])], nodes).unwrap();
    let mut m = RaftMetrics::new_initial(LEADER);
    m.state = ServerState::Leader;
    m.last_log_index = Some(last_log);
    m.membership_config = Arc::new(StoredMembership::new(Some(log_id(config_at)), membership));
    let mut replication = BTreeMap::from([(LEADER, Some(log_id(last_log)))]);
    if with_learner {
        replication.insert(LEARNER, matched.map(log_id));
    }
    m.replication = Some(replication);
    m
}

/// The regression of CI's chaos_short failure: add_learner answered before the leader's
/// metrics showed the configuration that added the learner, and the join took the
/// learner's absence from the older configuration for a removal and undid itself.
#[test]
fn metrics_older_than_the_learners_configuration_mean_wait() {
    let m = leader_metrics(1, false, 2, None);
    assert!(catch_up_progress(&m, LEARNER, 3).is_none());
}

#[test]
fn a_configuration_at_or_after_the_addition_without_the_learner_is_a_removal() {
    for config_at in [3, 4] {
        let m = leader_metrics(config_at, false, 4, None);
        match catch_up_progress(&m, LEARNER, 3) {
            Some(Err(Error::Conflict(msg))) => assert!(msg.contains("removed"), "{msg}"),
            other => panic!("config at {config_at}: expected a removal, got {other:?}"),
        }
    }
}

#[test]
fn the_learner_is_caught_up_once_it_holds_its_configuration_and_lags_little() {
    let m = leader_metrics(3, true, 10, Some(2));
    assert!(
        catch_up_progress(&m, LEARNER, 3).is_none(),
        "behind its configuration"
    );
    let m = leader_metrics(3, true, 10, None);
    assert!(
        catch_up_progress(&m, LEARNER, 3).is_none(),
        "nothing replicated yet"
    );
    let m = leader_metrics(3, true, 10, Some(3));
    assert!(matches!(catch_up_progress(&m, LEARNER, 3), Some(Ok(()))));
}

#[test]
fn a_learner_too_far_behind_the_log_is_not_caught_up() {
    let last = 3 + CATCH_UP_MAX_LAG + 1;
    let m = leader_metrics(3, true, last, Some(3));
    assert!(catch_up_progress(&m, LEARNER, 3).is_none());
    let m = leader_metrics(3, true, last, Some(4));
    assert!(matches!(catch_up_progress(&m, LEARNER, 3), Some(Ok(()))));
}

#[test]
fn losing_leadership_ends_the_wait() {
    let mut m = leader_metrics(3, true, 10, Some(3));
    m.state = ServerState::Follower;
    m.replication = None;
    assert!(matches!(
        catch_up_progress(&m, LEARNER, 3),
        Some(Err(Error::Unavailable(_)))
    ));
}
