//! openraft's own storage test suite (`openraft::testing::Suite::test_all`) against the real
//! pair a node runs: the redb [`LogStore`] and this [`StateMachine`], each built fresh on
//! real files in its own temp dir, exactly as `raft::node` opens them.

// openraft 0.10 names its log types through the type config; the short names the tests
// were written with.
#[allow(unused_imports)]
use openraft::vote::RaftLeaderId as _;
#[allow(dead_code)]
type Entry = openraft::type_config::alias::EntryOf<crate::raft::TypeConfig>;
#[allow(dead_code)]
type CommittedLeaderId = openraft::type_config::alias::CommittedLeaderIdOf<crate::raft::TypeConfig>;
#[allow(dead_code)]
type LeaderId = openraft::type_config::alias::LeaderIdOf<crate::raft::TypeConfig>;
#[allow(unused_imports)]
use crate::raft::{Member, NodeId, TypeConfig};
#[allow(unused_imports)]
use openraft::{LogId, Vote};

use openraft::StorageIOError;
use openraft::testing::log::{StoreBuilder, Suite};

use super::*;
use crate::raft::log_store::LogStore;

/// Builds a fresh log store and state machine per suite case; the temp dir is the guard
/// that deletes both when the case ends.
struct FreshStores;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for FreshStores {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
        let log = LogStore::open(&dir.path().join("raft-log.redb"), &deps())
            .await
            .map_err(|e| StorageIOError::write(&e))?;
        let sm = StateMachine::open(&dir.path().join("snapshots"), &deps(), 2)
            .await
            .map_err(|e| StorageIOError::write(&e))?;
        Ok((dir, log, sm))
    }
}

/// A plain `#[test]`: the suite starts its own tokio runtime for every case.
#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(FreshStores).expect("openraft storage suite");
}
