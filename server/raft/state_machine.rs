//! The state machine adapter: where committed Raft entries meet the deterministic store.
//!
//! ```text
//!  openraft (committed entries) ──apply──► StateMachine ──► store::Store::apply(index, Command)
//!                                              │ Arc<RwLock<Applied>>
//!  api/ reads ◄──────────── StoreView ◄────────┤
//!                                              ▼
//!                          snapshot files (snapshot_dir.rs, snapshot_file.rs) ◄──► followers
//! ```
//!
//! The store is in memory (DESIGN.md §3); durability is the fsynced log plus snapshot files.
//! A restart opens the newest valid snapshot and openraft replays the log after it. The
//! snapshot data that travels to a follower is the snapshot file itself (header + store
//! stream, see `snapshot_file.rs`), so a follower installs byte for byte what the leader wrote.
//!
//! Every blocking file operation runs through `deps.blocking`, and the store lock is never
//! held across an await.

mod snapshot_dir;
mod snapshot_file;
#[cfg(test)]
mod tests;

use std::io;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine, Snapshot};
use openraft::type_config::alias::{
    EntryOf, LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf,
};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, SnapshotMeta, StoredMembership};
use tokio::io::AsyncWriteExt;

use self::snapshot_dir::SnapshotDir;
use self::snapshot_file::Meta;
use crate::deps::{BlockingExecutor, Deps};
use crate::raft::TypeConfig;
use crate::raft::stages::{Stage, Stages};
use crate::store::{Command, Response, Store};

/// What the node has applied so far: the store plus the two facts openraft asks for on
/// startup. One lock covers all three so a reader or a snapshot sees them consistently.
#[derive(Debug, Default)]
struct Applied {
    store: Store,
    last_applied: Option<LogIdOf<TypeConfig>>,
    last_membership: StoredMembershipOf<TypeConfig>,
}

/// openraft's state machine for Konsul: applies committed entries to the in-memory
/// [`Store`] and keeps its snapshots as files in one directory.
///
/// Openraft owns it (it is moved into `Raft::new`); the API keeps a [`StoreView`] to serve
/// reads from the same state.
pub struct StateMachine {
    applied: Arc<RwLock<Applied>>,
    dir: Arc<SnapshotDir>,
    blocking: BlockingExecutor,
    /// The node's write-path counters (the `apply` stage).
    stages: Arc<Stages>,
}

/// A cheap, cloneable read handle on the applied state, for the API's read path.
///
/// Reads take a short read lock and never wait on disk I/O; applying a batch of entries
/// holds the write lock only for the in-memory apply.
#[derive(Clone)]
pub struct StoreView {
    applied: Arc<RwLock<Applied>>,
}

/// Writes snapshot files for openraft, which runs `build_snapshot` concurrently with
/// `apply`: the builder copies the store under a brief read lock and writes the file with no
/// lock held, so applying never waits on snapshot I/O.
pub struct SnapshotBuilder {
    applied: Arc<RwLock<Applied>>,
    dir: Arc<SnapshotDir>,
    blocking: BlockingExecutor,
}

impl StateMachine {
    /// Opens the state machine over `snapshot_dir` (created if missing), restoring the store,
    /// the last applied log id and the membership from the newest snapshot that verifies.
    ///
    /// A damaged snapshot is renamed to `*.corrupt` with a warning and the next older one is
    /// used; with no usable snapshot the state machine starts empty (and says so at error
    /// level if damaged files were found). `retention` is how many snapshots to keep on disk
    /// (at least 1); older ones are deleted after each build or install.
    pub async fn open(
        snapshot_dir: &Path,
        deps: &Deps,
        retention: usize,
    ) -> crate::Result<StateMachine> {
        let path = snapshot_dir.to_path_buf();
        let (dir, loaded) = deps
            .blocking
            .run(move || SnapshotDir::open(&path, retention))
            .await
            .map_err(|e| {
                crate::Error::Storage(format!(
                    "opening snapshots in {}: {e}",
                    snapshot_dir.display()
                ))
            })?;
        let applied = match loaded {
            Some(loaded) => {
                tracing::info!(snapshot = %loaded.meta, "restored state machine from snapshot");
                Applied {
                    store: loaded.store,
                    last_applied: loaded.meta.last_log_id,
                    last_membership: loaded.meta.last_membership,
                }
            }
            None => Applied::default(),
        };
        Ok(StateMachine {
            applied: Arc::new(RwLock::new(applied)),
            dir: Arc::new(dir),
            blocking: deps.blocking,
            stages: Arc::default(),
        })
    }

    /// Counts the `apply` stage in this node's write-path counters.
    pub fn with_stages(mut self, stages: Arc<Stages>) -> Self {
        self.stages = stages;
        self
    }

    /// A read handle for the API layer; it stays valid (and current) for the life of the
    /// node, including across snapshot installs.
    pub fn view(&self) -> StoreView {
        StoreView {
            applied: self.applied.clone(),
        }
    }
}

impl StoreView {
    /// Runs `f` on the current store under the read lock. Keep `f` short and synchronous:
    /// apply waits while it runs.
    pub fn read<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&read_lock(&self.applied).store)
    }

    /// Like [`Self::read`], also returning the index of the last applied entry the read saw
    /// (taken under the same lock), so an answer can say exactly what it reflects.
    pub fn read_at<T>(&self, f: impl FnOnce(&Store) -> T) -> (T, u64) {
        let applied = read_lock(&self.applied);
        let index = applied.last_applied.map_or(0, |l| l.index);
        (f(&applied.store), index)
    }

    /// Index of the last applied log entry, 0 when nothing is applied yet (openraft's first
    /// entry, the initial membership, is also index 0). Lets a linearizable read wait until
    /// the state machine has caught up with the read index.
    pub fn applied_index(&self) -> u64 {
        read_lock(&self.applied).last_applied.map_or(0, |l| l.index)
    }

    /// Id of the last applied log entry, `None` when nothing is applied yet.
    pub fn applied_log_id(&self) -> Option<LogIdOf<TypeConfig>> {
        read_lock(&self.applied).last_applied
    }

    /// The membership as of the last applied entry, for cluster status calls.
    pub fn membership(&self) -> StoredMembershipOf<TypeConfig> {
        read_lock(&self.applied).last_membership.clone()
    }
}

impl StateMachine {
    /// Applies one committed entry under the write lock, so readers never see half of it.
    fn apply_one(&self, entry: EntryOf<TypeConfig>) -> Response {
        let mut applied = write_lock(&self.applied);
        applied.last_applied = Some(entry.log_id);
        match entry.payload {
            EntryPayload::Blank => Response::None,
            EntryPayload::Normal(command) => applied.store.apply(entry.log_id.index, command),
            EntryPayload::Membership(membership) => {
                applied.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                Response::None
            }
        }
    }

    /// Applies `entries` in order and returns their responses: what openraft's `apply`
    /// does, for tests that look at the responses without a running Raft.
    #[cfg(test)]
    pub(crate) async fn apply_entries(
        &mut self,
        entries: impl IntoIterator<Item = EntryOf<TypeConfig>>,
    ) -> io::Result<Vec<Response>> {
        Ok(entries.into_iter().map(|e| self.apply_one(e)).collect())
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = tokio::fs::File;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> io::Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>)> {
        let applied = read_lock(&self.applied);
        Ok((applied.last_applied, applied.last_membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        // openraft hands over what is committed as a stream; apply it under one write lock
        // per item so readers never see half an entry, and answer each client write.
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let started = tokio::time::Instant::now();
            let commands = match &entry.payload {
                EntryPayload::Normal(Command::Multi { commands }) => commands.len() as u64,
                EntryPayload::Normal(_) => 1,
                _ => 0,
            };
            let response = self.apply_one(entry);
            self.stages
                .record(Stage::Apply, started.elapsed(), commands);
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            applied: self.applied.clone(),
            dir: self.dir.clone(),
            blocking: self.blocking,
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        mut file: tokio::fs::File,
    ) -> io::Result<()> {
        // Any write still buffered in tokio's file must reach the OS before we read it back.
        file.flush().await?;
        let file = file.into_std().await;

        let dir = self.dir.clone();
        let expected = meta.clone();
        let store = self
            .blocking
            .run(move || {
                let installed = dir.install(file, &expected)?;
                dir.prune();
                Ok::<_, io::Error>(installed)
            })
            .await?;

        let mut applied = write_lock(&self.applied);
        applied.store = store;
        applied.last_applied = meta.last_log_id;
        applied.last_membership = meta.last_membership.clone();
        drop(applied);
        tracing::info!(snapshot = %meta, "installed snapshot from the leader");
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> io::Result<Option<SnapshotOf<TypeConfig, tokio::fs::File>>> {
        let dir = self.dir.clone();
        let current = self.blocking.run(move || dir.current()).await?;
        Ok(current.map(|(meta, file)| Snapshot {
            meta,
            snapshot: tokio::fs::File::from_std(file),
        }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = tokio::fs::File;

    async fn build_snapshot(&mut self) -> io::Result<SnapshotOf<TypeConfig, tokio::fs::File>> {
        // Copy a consistent view under the read lock; write it with no lock held.
        let (store, last_log_id, last_membership) = {
            let applied = read_lock(&self.applied);
            (
                applied.store.clone(),
                applied.last_applied,
                applied.last_membership.clone(),
            )
        };
        let seq = self.dir.next_seq();
        let meta: Meta = SnapshotMeta {
            last_log_id,
            last_membership,
        };

        let dir = self.dir.clone();
        let written = meta.clone();
        let file = self
            .blocking
            .run(move || {
                let file = dir.write(seq, &written, &store)?;
                dir.prune();
                Ok::<_, io::Error>(file)
            })
            .await?;
        tracing::info!(snapshot = %meta, seq, "built snapshot");
        Ok(Snapshot {
            meta,
            snapshot: tokio::fs::File::from_std(file),
        })
    }
}

/// A poisoned lock means a panic inside apply: the state may be half-applied, and DESIGN.md
/// §3 says a failure inside apply stops the node, so every later access panics too.
fn read_lock(lock: &RwLock<Applied>) -> RwLockReadGuard<'_, Applied> {
    lock.read()
        .expect("state machine lock poisoned by a panic in apply")
}

fn write_lock(lock: &RwLock<Applied>) -> RwLockWriteGuard<'_, Applied> {
    lock.write()
        .expect("state machine lock poisoned by a panic in apply")
}
