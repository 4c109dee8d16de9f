//! openraft's own storage test suite (`openraft::testing::Suite::test_all`) against the real
//! pair a node runs: the segment-file [`LogStore`] and this [`StateMachine`], each built fresh on
//! real files in its own temp dir, exactly as `raft::node` opens them.

// openraft 0.10 names its log types through the type config; short names for the tests.
use crate::raft::TypeConfig;

use openraft::testing::log::{StoreBuilder, Suite};

use super::*;
use crate::raft::log_store::{LogOptions, LogStore};

/// Builds a fresh log store and state machine per suite case; the temp dir is the guard
/// that deletes both when the case ends.
struct FreshStores;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for FreshStores {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), openraft::StorageError<TypeConfig>>
    {
        let dir = tempfile::tempdir().map_err(|e| {
            openraft::StorageError::write(openraft::errors::ErrorSource::from_error(&e))
        })?;
        let log = LogStore::open_with(&dir.path().join("raft-log"), &deps(), LogOptions::small())
            .await
            .map_err(|e| {
                openraft::StorageError::write(openraft::errors::ErrorSource::from_error(&e))
            })?;
        let sm = StateMachine::open(&dir.path().join("snapshots"), &deps(), 2)
            .await
            .map_err(|e| {
                openraft::StorageError::write(openraft::errors::ErrorSource::from_error(&e))
            })?;
        Ok((dir, log, sm))
    }
}

/// The whole suite, case after case, on one runtime.
#[tokio::test]
async fn openraft_storage_suite_passes() {
    Suite::test_all(FreshStores)
        .await
        .expect("openraft storage suite");
}
