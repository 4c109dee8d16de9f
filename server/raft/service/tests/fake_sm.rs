//! A stand-in state machine for tests of the peer transport and service: it remembers what
//! was applied and what snapshots were installed, whatever their bytes, and serves snapshots
//! as real files (padded past one chunk) so that they travel through the streaming path. It
//! does not run `store::apply` (the real state machine refuses bytes that are not a snapshot
//! file, which these tests send on purpose).

use std::io;
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::type_config::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, SnapshotMeta, StoredMembership};
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::raft::TypeConfig;
use crate::store::Response;

type StoreResult<T> = io::Result<T>;
type Snapshot = SnapshotOf<TypeConfig, File>;

/// Bytes of padding in every snapshot, so each one spans several stream chunks.
pub const SNAPSHOT_PADDING: usize = 2 * 1024 * 1024 + 17;

/// What the fake state machine has seen.
#[derive(Default)]
pub struct FakeState {
    pub last_applied: Option<LogIdOf<TypeConfig>>,
    pub membership: StoredMembershipOf<TypeConfig>,
    /// Indexes of the command entries applied, in order.
    pub applied_commands: Vec<u64>,
    /// The latest snapshot built or installed: its metadata and bytes.
    pub snapshot: Option<(SnapshotMetaOf<TypeConfig>, Vec<u8>)>,
    /// Every snapshot installed, with the bytes that arrived.
    pub installed: Vec<(SnapshotMetaOf<TypeConfig>, Vec<u8>)>,
}

/// Cheap to clone; clones share the state, so a test keeps one to inspect.
#[derive(Clone, Default)]
pub struct FakeSm(pub Arc<Mutex<FakeState>>);

impl FakeSm {
    pub fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.0.lock().unwrap()
    }
}

/// A read-write temporary file holding `data`, positioned at the start.
async fn file_with(data: &[u8]) -> File {
    let mut file = File::from_std(tempfile::tempfile().unwrap());
    file.write_all(data).await.unwrap();
    file.flush().await.unwrap();
    file.seek(std::io::SeekFrom::Start(0)).await.unwrap();
    file
}

impl RaftSnapshotBuilder<TypeConfig> for FakeSm {
    type SnapshotData = File;

    async fn build_snapshot(&mut self) -> StoreResult<Snapshot> {
        let (meta, data) = {
            let mut st = self.state();
            let mut data = format!("{:?}", st.applied_commands).into_bytes();
            data.resize(data.len() + SNAPSHOT_PADDING, 0xab);
            let meta: SnapshotMetaOf<TypeConfig> = SnapshotMeta {
                last_log_id: st.last_applied,
                last_membership: st.membership.clone(),
            };
            st.snapshot = Some((meta.clone(), data.clone()));
            (meta, data)
        };
        Ok(Snapshot {
            meta,
            snapshot: file_with(&data).await,
        })
    }
}

impl RaftStateMachine<TypeConfig> for FakeSm {
    type SnapshotData = File;
    type SnapshotBuilder = FakeSm;

    async fn applied_state(
        &mut self,
    ) -> StoreResult<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>)> {
        let st = self.state();
        Ok((st.last_applied, st.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> StoreResult<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            {
                let mut st = self.state();
                st.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => {}
                    EntryPayload::Normal(_) => st.applied_commands.push(entry.log_id.index),
                    EntryPayload::Membership(m) => {
                        st.membership = StoredMembership::new(Some(entry.log_id), m)
                    }
                }
            }
            if let Some(responder) = responder {
                responder.send(Response::None);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> FakeSm {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        mut snapshot: File,
    ) -> StoreResult<()> {
        let mut data = Vec::new();
        snapshot.read_to_end(&mut data).await.unwrap();
        let mut st = self.state();
        st.last_applied = meta.last_log_id;
        st.membership = meta.last_membership.clone();
        st.snapshot = Some((meta.clone(), data.clone()));
        st.installed.push((meta.clone(), data));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StoreResult<Option<Snapshot>> {
        let current = self.state().snapshot.clone();
        match current {
            None => Ok(None),
            Some((meta, data)) => Ok(Some(Snapshot {
                meta,
                snapshot: file_with(&data).await,
            })),
        }
    }
}
