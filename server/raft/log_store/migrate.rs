//! The one-time move of a log kept by an older Konsul in redb (`raft-log.redb`, beside the
//! segment directory) into segment files, on the first open by this version.
//!
//! ```text
//!  raft-log.redb ──read──► raft-log.migrating/ (records, synced) ──rename──► raft-log/
//!                                                          then raft-log.redb is deleted
//! ```
//!
//! The records are the same bytes redb held (entries, vote, committed id and purge point
//! are all protobuf in [`crate::raft::codec`]'s form), so nothing is re-encoded. A crash at
//! any step leaves a state the next open finishes: a half-written `raft-log.migrating` is
//! started over, and a redb file beside a finished `raft-log/` is only deleted. The move
//! runs before the log's `LOCK` is taken: the old file is opened first, and redb's own lock
//! on it refuses a second process on the same data dir until the move is done (then `LOCK`
//! does).

use std::fs::File;
use std::io;
use std::path::Path;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::segments::{Record, Segments};
use crate::deps::Disk;

/// The older log's tables: entries by index, and the vote, committed id and purge point.
pub(super) const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");

/// Entries copied per append while moving (bounds the memory a large log needs).
const CHUNK: usize = 1024;

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("moving the raft log out of redb: {e}"))
}

/// Moves `<dir>.redb`, if there is one, into the segment directory `dir`.
pub(super) fn from_redb(dir: &Path, segment_bytes: u64, disk: &dyn Disk) -> io::Result<()> {
    let old = dir.with_extension("redb");
    if !old.exists() {
        return Ok(());
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    if dir.exists() {
        // Moved already; the crash came before the old file was deleted.
        std::fs::remove_file(&old)?;
        return File::open(parent)?.sync_all();
    }
    // Opened first: redb's lock on it keeps a second process out of everything below.
    let db = disk.open_database(&old).map_err(other)?;
    let tmp = dir.with_extension("migrating");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    let moved = copy(&db, &tmp, segment_bytes)?;
    drop(db);
    std::fs::rename(&tmp, dir)?;
    File::open(parent)?.sync_all()?;
    std::fs::remove_file(&old)?;
    File::open(parent)?.sync_all()?;
    tracing::info!(
        entries = moved,
        from = %old.display(),
        to = %dir.display(),
        "raft log moved from redb into segment files"
    );
    Ok(())
}

/// Writes every record of the redb log `db` into fresh segments in `tmp`, synced, and
/// answers how many entries it copied.
fn copy(db: &redb::Database, tmp: &Path, segment_bytes: u64) -> io::Result<usize> {
    let txn = db.begin_read().map_err(other)?;
    let meta_value = |key: &str| -> io::Result<Option<Vec<u8>>> {
        let meta = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(other(e)),
        };
        Ok(meta.get(key).map_err(other)?.map(|v| v.value().to_vec()))
    };
    let (mut segments, found) = Segments::open(tmp, segment_bytes)?;
    debug_assert!(found.is_empty(), "a fresh directory");
    let mut head = Vec::new();
    if let Some(vote) = meta_value("vote")? {
        head.push(Record::Vote(vote));
    }
    if let Some(purged) = meta_value("last_purged")? {
        head.push(Record::Purge(purged));
    }
    segments.append(&head)?;
    let mut moved = 0;
    match txn.open_table(LOG) {
        Ok(log) => {
            let mut chunk = Vec::with_capacity(CHUNK);
            for item in log.iter().map_err(other)? {
                let (_, value) = item.map_err(other)?;
                chunk.push(Record::Entry(value.value().to_vec()));
                if chunk.len() == CHUNK {
                    moved += chunk.len();
                    segments.append(&std::mem::take(&mut chunk))?;
                }
            }
            moved += chunk.len();
            segments.append(&chunk)?;
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(other(e)),
    }
    if let Some(committed) = meta_value("committed")? {
        segments.append(&[Record::Committed(committed)])?;
    }
    segments.sync()?;
    Ok(moved)
}
