//! The snapshot directory: which snapshot files exist, which one is current, and how a new
//! one replaces the old ones safely.
//!
//! Part of the state machine's on-disk half (raft/mod.rs has the data flow). The store lives
//! in memory; what makes it durable is the fsynced Raft log plus the files kept here. A
//! restart loads the newest file that verifies and openraft replays the log after it. The
//! layout of one file is in `snapshot_file.rs`. Everything here is synchronous `std::fs`
//! code, called only through `deps.blocking.run`.
//!
//! # Layout
//!
//! * `snapshot-<last index, 20 digits>-<seq, 20 digits>-<snapshot id>.snap`: a complete,
//!   fsynced snapshot. Names sort by (last log index, local sequence number), so the
//!   greatest name is the current snapshot.
//! * `*.part`: a file being built or received. It becomes a `.snap` only by an atomic rename
//!   after fsync (then the directory is fsynced too); leftovers of a crash are removed on open.
//! * `*.snap.corrupt`: a snapshot that failed verification on open, renamed aside (never
//!   deleted) so that an operator can inspect it and it never again counts as current.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::snapshot_file::{self, Loaded, Meta, invalid};
use crate::store::Store;

const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";
const PART_SUFFIX: &str = ".part";
const CORRUPT_SUFFIX: &str = ".corrupt";

/// The snapshot directory of one node, shared by the state machine and its builders.
#[derive(Debug)]
pub(super) struct SnapshotDir {
    path: PathBuf,
    /// How many complete snapshots to keep; at least 1.
    retention: usize,
    /// Local sequence number for file names and snapshot ids. Starts above every number
    /// found on disk, so ids are deterministic for a given directory and never reused.
    seq: AtomicU64,
}

/// One complete snapshot file in the directory.
#[derive(Debug)]
struct Listed {
    path: PathBuf,
    index: u64,
    seq: u64,
}

impl SnapshotDir {
    /// Opens (creating if needed) the directory, removes leftovers of interrupted writes and
    /// loads the newest snapshot that verifies. Files that fail are renamed to `.corrupt`
    /// with a warning, so they can never be served as the current snapshot afterwards.
    pub(super) fn open(path: &Path, retention: usize) -> io::Result<(SnapshotDir, Option<Loaded>)> {
        fs::create_dir_all(path)?;
        let mut max_seq = 0;
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(PART_SUFFIX) {
                tracing::info!(file = %entry.path().display(), "removing unfinished snapshot file");
                remove_if_present(&entry.path())?;
            } else if let Some((_, seq)) = parse_name(name.trim_end_matches(CORRUPT_SUFFIX)) {
                max_seq = max_seq.max(seq);
            }
        }
        let dir = SnapshotDir {
            path: path.to_path_buf(),
            retention: retention.max(1),
            seq: AtomicU64::new(max_seq + 1),
        };

        let mut rejected = 0;
        for listed in dir.list()? {
            match File::open(&listed.path).and_then(|mut f| snapshot_file::load(&mut f)) {
                Ok(loaded) => {
                    if rejected > 0 {
                        tracing::warn!(
                            file = %listed.path.display(),
                            snapshot = %loaded.meta,
                            rejected,
                            "restoring from an older snapshot because newer ones failed verification"
                        );
                    }
                    return Ok((dir, Some(loaded)));
                }
                Err(error) => {
                    rejected += 1;
                    let aside = quarantine(&listed.path)?;
                    tracing::warn!(
                        file = %listed.path.display(),
                        renamed_to = %aside.display(),
                        %error,
                        "skipping a snapshot that failed verification"
                    );
                }
            }
        }
        if rejected > 0 {
            tracing::error!(
                dir = %path.display(),
                rejected,
                "no snapshot verified; starting from an empty state machine"
            );
        }
        Ok((dir, None))
    }

    /// The next local sequence number (file names, snapshot ids, temporary files).
    pub(super) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Writes `store` as a new snapshot: temp file, fsync, rename, fsync of the directory.
    /// Returns the finished file rewound to its start, ready to be streamed to a follower.
    pub(super) fn write(&self, seq: u64, meta: &Meta, store: &Store) -> io::Result<File> {
        let tmp = self.path.join(format!("build-{seq}{PART_SUFFIX}"));
        let written = (|| {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            snapshot_file::write_contents(&mut file, meta, store)?;
            file.sync_all()?;
            Ok(file)
        })();
        let mut file = match written {
            Ok(file) => file,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        self.publish(&tmp, seq, meta)?;
        file.rewind()?;
        Ok(file)
    }

    /// Verifies a received snapshot and makes it the current one.
    ///
    /// `received` (wherever the peer service wrote it) is copied into a new file of this
    /// directory, so a snapshot here is always one this directory owns. Verification is
    /// complete (length, checksum, store decoding) and the header meta must equal `expected`,
    /// the meta openraft received with the data. Returns the decoded store.
    pub(super) fn install(&self, mut received: File, expected: &Meta) -> io::Result<Store> {
        let tmp = self
            .path
            .join(format!("recv-{}{PART_SUFFIX}", self.next_seq()));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        let verified = (|| {
            received.rewind()?;
            io::copy(&mut received, &mut file)?;
            file.rewind()?;
            let loaded = snapshot_file::load(&mut file)?;
            if loaded.meta != *expected {
                return Err(invalid(format!(
                    "snapshot header {} does not match the announced {}",
                    loaded.meta, expected
                )));
            }
            file.sync_all()?;
            Ok(loaded.store)
        })();
        let store = match verified {
            Ok(store) => store,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        self.publish(&tmp, self.next_seq(), expected)?;
        Ok(store)
    }

    /// The newest snapshot file with its header meta, rewound to its start.
    pub(super) fn current(&self) -> io::Result<Option<(Meta, File)>> {
        for listed in self.list()? {
            let mut file = match File::open(&listed.path) {
                Ok(file) => file,
                // Pruned by a concurrent build or install after we listed it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let meta = snapshot_file::read_meta(&mut file)?;
            file.rewind()?;
            return Ok(Some((meta, file)));
        }
        Ok(None)
    }

    /// Deletes complete snapshots beyond the newest `retention`. A failure to delete is only
    /// logged: an extra old file costs disk, not correctness.
    pub(super) fn prune(&self) {
        let listed = match self.list() {
            Ok(listed) => listed,
            Err(error) => {
                tracing::warn!(dir = %self.path.display(), %error, "cannot list snapshots to prune");
                return;
            }
        };
        for old in listed.iter().skip(self.retention) {
            if let Err(error) = remove_if_present(&old.path) {
                tracing::warn!(file = %old.path.display(), %error, "cannot delete old snapshot");
            }
        }
    }

    /// Atomically turns the fsynced temp file into a complete snapshot.
    fn publish(&self, tmp: &Path, seq: u64, meta: &Meta) -> io::Result<()> {
        let index = meta.last_log_id.map_or(0, |l| l.index);
        // openraft 0.10 dropped the snapshot id; names written by 0.9 carry it as a third
        // field, which `parse_name` ignores.
        let name = format!("{PREFIX}{index:020}-{seq:020}{SUFFIX}");
        fs::rename(tmp, self.path.join(name))?;
        sync_dir(&self.path)
    }

    /// Complete snapshot files, newest first.
    fn list(&self) -> io::Result<Vec<Listed>> {
        let mut listed = Vec::new();
        for entry in fs::read_dir(&self.path)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some((index, seq)) = name.to_str().and_then(parse_name) else {
                continue;
            };
            listed.push(Listed {
                path: entry.path(),
                index,
                seq,
            });
        }
        listed.sort_by_key(|l| std::cmp::Reverse((l.index, l.seq)));
        Ok(listed)
    }
}

/// (last log index, seq) of a complete snapshot's file name; None for any other file.
fn parse_name(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let mut fields = rest.splitn(3, '-');
    let index = fields.next()?.parse().ok()?;
    let seq = fields.next()?.parse().ok()?;
    Some((index, seq))
}

/// Renames a snapshot that failed verification to `<name>.corrupt`.
fn quarantine(path: &Path) -> io::Result<PathBuf> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(CORRUPT_SUFFIX);
    let aside = PathBuf::from(aside);
    fs::rename(path, &aside)?;
    Ok(aside)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes renames and creations in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_to_index_and_seq() {
        assert_eq!(
            parse_name("snapshot-00000000000000000042-00000000000000000007-3-42-7.snap"),
            Some((42, 7))
        );
        assert_eq!(parse_name("snapshot-1-2-x.snap.corrupt"), None);
        assert_eq!(parse_name("recv-3.part"), None);
    }
}
