//! Who this node is: its name and the incarnation of its Raft data dir.
//!
//! ```text
//!  RaftNode::start ──load_checked──► identity.redb (name, incarnation) ── name differs? refuse
//!        │ open the log: empty (no vote, no entries)? ──keep_or_renew──► fresh incarnation
//!        ▼
//!  own Member { name, addrs, incarnation } ──► membership ──► every peer's outbound calls
//!  service ◄── konsul-target-node / konsul-target-incarnation ──── check_caller: refuse if not me
//! ```
//!
//! A Raft member's promises (its vote, the entries it acknowledged) live in its data dir. A
//! node whose data dir was wiped and that comes back under the same name and address has
//! lost them, so it must not take its old place: counted in a quorum again, it could help
//! elect a leader that misses an acknowledged write. The incarnation tells the two apart. It
//! is drawn from the node's entropy seam whenever the node starts without any Raft state (a
//! new node, a wiped one, one whose log file was lost), recorded in a small redb file next to
//! the log, and carried in the node's [`Member`](super::Member) record. Peers name the
//! incarnation they expect on every call and the node refuses calls meant for another one.
//! Incarnation 0 means "unknown" (members recorded before incarnations existed) and is
//! never checked.

use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, TableDefinition};

use crate::deps::Deps;
use crate::error::{Error, Result};

/// gRPC metadata on every outbound Raft RPC: the name of the member the caller means to reach.
pub const TARGET_NODE_METADATA: &str = "konsul-target-node";

/// gRPC metadata on every outbound Raft RPC: the incarnation the caller's membership records
/// for the target (decimal). Absent when the membership does not know it (0).
pub const TARGET_INCARNATION_METADATA: &str = "konsul-target-incarnation";

/// The identity file, in the Raft data dir beside the log. Wiping the data dir wipes it.
pub const IDENTITY_FILE: &str = "identity.redb";

const TABLE: TableDefinition<&str, &str> = TableDefinition::new("identity");

/// A node's name and the incarnation of its data dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The node name (KONSUL_RAFT_NODE_ID) the data dir belongs to.
    pub name: String,
    /// Random, non-zero; drawn again whenever the node starts without Raft state.
    pub incarnation: u64,
}

impl Identity {
    /// Decides whether a peer call addressed to (`name`, `incarnation`), as read from the
    /// call's metadata, is meant for this node. Missing values (an older peer, a member whose
    /// incarnation is unknown) are accepted. The error is the message for the caller.
    pub fn check_caller(
        &self,
        name: Option<&str>,
        incarnation: Option<&str>,
    ) -> std::result::Result<(), String> {
        if let Some(name) = name
            && name != self.name
        {
            return Err(format!(
                "this node is {} (incarnation {}), but the caller expects node {name}: the \
                 address now serves another node; remove {name} from the cluster \
                 (DELETE /cluster/leave/{name}) and join the node that runs here under its own name",
                self.name, self.incarnation
            ));
        }
        let Some(raw) = incarnation else {
            return Ok(());
        };
        match raw.parse::<u64>() {
            Ok(0) => Ok(()),
            Ok(expected) if expected == self.incarnation => Ok(()),
            Ok(expected) => Err(format!(
                "this node is {} incarnation {}, the caller expects incarnation {expected}: its \
                 data dir was wiped or replaced; remove it from the cluster \
                 (DELETE /cluster/leave/{}) and join it again",
                self.name, self.incarnation, self.name
            )),
            Err(_) => Err(format!(
                "{TARGET_INCARNATION_METADATA} '{raw}' is not a decimal incarnation"
            )),
        }
    }
}

fn path(dir: &Path) -> PathBuf {
    dir.join(IDENTITY_FILE)
}

fn storage(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("{what} {}: {e}", path.display()))
}

/// Reads the identity recorded in `dir` and refuses to go on when it belongs to another
/// node: starting `name` on that data dir would take over the other node's vote and log.
/// `None` when nothing is recorded yet.
pub async fn load_checked(dir: &Path, name: &str, deps: &Deps) -> Result<Option<Identity>> {
    let recorded = load(dir, deps).await?;
    if let Some(r) = &recorded
        && r.name != name
    {
        return Err(Error::Config(format!(
            "the Raft data dir {} belongs to node '{}' (incarnation {}), but this node is \
             configured as '{name}' (KONSUL_RAFT_NODE_ID): point KONSUL_DATA_DIR at this \
             node's own data dir, or start '{}' there",
            dir.display(),
            r.name,
            r.incarnation,
            r.name
        )));
    }
    Ok(recorded)
}

/// Keeps the recorded identity while the node still holds Raft state; otherwise records a
/// new incarnation. `log_is_empty` (no vote, no entries) is what makes a node a new
/// incarnation: whatever it promised before, it no longer remembers.
pub async fn keep_or_renew(
    recorded: Option<Identity>,
    name: &str,
    log_is_empty: bool,
    dir: &Path,
    deps: &Deps,
) -> Result<Identity> {
    match recorded {
        Some(r) if !log_is_empty => Ok(r),
        recorded => {
            let identity = create(dir, name, deps).await?;
            match recorded {
                Some(old) => tracing::info!(
                    node = name,
                    old = old.incarnation,
                    new = identity.incarnation,
                    "no Raft state (vote, log) in the data dir: starting as a new incarnation"
                ),
                None => tracing::info!(
                    node = name,
                    incarnation = identity.incarnation,
                    "recorded this node's identity"
                ),
            }
            Ok(identity)
        }
    }
}

/// Reads the identity recorded in `dir`, if any.
pub async fn load(dir: &Path, deps: &Deps) -> Result<Option<Identity>> {
    let path = path(dir);
    let disk = deps.disk.clone();
    deps.blocking
        .run(move || {
            let db = disk
                .open_database(&path)
                .map_err(|e| storage("opening", &path, e))?;
            let read = db.begin_read().map_err(|e| storage("reading", &path, e))?;
            let table = match read.open_table(TABLE) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(storage("reading", &path, e)),
            };
            let get = |key: &str| -> Result<Option<String>> {
                Ok(table
                    .get(key)
                    .map_err(|e| storage("reading", &path, e))?
                    .map(|v| v.value().to_owned()))
            };
            let (Some(name), Some(incarnation)) = (get("name")?, get("incarnation")?) else {
                return Ok(None);
            };
            let incarnation = incarnation
                .parse::<u64>()
                .map_err(|e| storage("corrupt incarnation in", &path, e))?;
            Ok(Some(Identity { name, incarnation }))
        })
        .await
}

/// Records `name` with a new random, non-zero incarnation in `dir`, replacing any earlier
/// record. redb commits durably (fsync) before this returns.
pub async fn create(dir: &Path, name: &str, deps: &Deps) -> Result<Identity> {
    let incarnation = std::iter::repeat_with(|| deps.rng.next_u64())
        .find(|&i| i != 0)
        .unwrap_or(1);
    let identity = Identity {
        name: name.to_owned(),
        incarnation,
    };
    let path = path(dir);
    let disk = deps.disk.clone();
    let record = identity.clone();
    deps.blocking
        .run(move || {
            let db = disk
                .open_database(&path)
                .map_err(|e| storage("opening", &path, e))?;
            let write = db.begin_write().map_err(|e| storage("writing", &path, e))?;
            {
                let mut table = write
                    .open_table(TABLE)
                    .map_err(|e| storage("writing", &path, e))?;
                table
                    .insert("name", record.name.as_str())
                    .map_err(|e| storage("writing", &path, e))?;
                table
                    .insert("incarnation", record.incarnation.to_string().as_str())
                    .map_err(|e| storage("writing", &path, e))?;
            }
            write.commit().map_err(|e| storage("committing", &path, e))
        })
        .await?;
    Ok(identity)
}

#[cfg(test)]
mod tests;
