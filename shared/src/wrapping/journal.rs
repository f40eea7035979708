//! The pool's journal: each key that enters this process's pool and each key that leaves it,
//! appended to `<pool file>.live.<pid>.<random>` as it happens, so that a process killed with
//! `kill -9` (or by the OOM killer, or a CI job's timeout) leaves its ready keys to the next start
//! instead of taking them with it. The pool file written at a clean exit stays the common case.
//!
//! No key is handed out twice:
//! - a key's *drawn* record is written before the key leaves the pool, so before any client
//!   sees it; if it cannot be written, the key is not handed out (`drawn` says so);
//! - a journal belongs to the process that holds its `flock` (the kernel drops it when the
//!   process dies, however it dies), so a journal is recovered only once its owner is gone,
//!   whatever the process ids say (containers sharing a volume repeat them, and cannot see each
//!   other's processes); the recovering process claims it by a rename while holding its lock;
//! - a write that fails removes the journal: keys are then lost at a crash, never duplicated.
//!
//! Records: a tag byte, a little-endian `u32` length, the payload. `K`: one key, sealed
//! (`Purpose::WrappingKeyPool`, a JSON entry as in the pool file). `D`: the SHA-256 prefix of
//! a key's public key (its fingerprint). A torn last record (the process died mid-write) is
//! ignored. The file is rewritten with the live keys alone when it has grown past
//! [`COMPACT_BYTES`] and twice their size, so a long run does not grow it without bound and a
//! large pool does not rewrite it on every draw.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::pair::WrappingKeyPair;
use super::pool_file::{self, PoolFileEntry};
use crate::crypto::seal::{Purpose, Sealer};

/// The journal is rewritten with its live keys once it holds this many bytes (and twice what
/// they take).
pub const COMPACT_BYTES: u64 = 4 << 20;

const ADDED: u8 = b'K';
const DRAWN: u8 = b'D';

type Fingerprint = [u8; 8];

fn fingerprint(pair: &WrappingKeyPair) -> Fingerprint {
    crate::crypto::fingerprint(pair.public_key_der())
}

pub struct Journal {
    path: PathBuf,
    /// Where a compaction writes before renaming over `path`; the start-up sweep removes it if
    /// a process dies meanwhile.
    compacting: PathBuf,
    sealer: Arc<Sealer>,
    status: Mutex<Status>,
}

enum Status {
    Open(Open),
    /// Removed: a clean exit, or a write failed and the file is gone.
    Stopped,
    /// A write failed and the file could not be removed: it still offers these keys to a next
    /// start, so they are not handed out here; its lock is kept, so that nobody recovers it
    /// while this process lives.
    Poisoned {
        offered: HashSet<Fingerprint>,
        _lock: File,
    },
}

struct Open {
    /// Holds the journal's lock for the process's life.
    file: File,
    bytes: u64,
    /// The sealed records of the keys in the pool now, by fingerprint: what a compaction
    /// writes.
    live: HashMap<Fingerprint, Vec<u8>>,
    live_bytes: u64,
}

impl Journal {
    /// This process's journal beside `pool_file`: a new file (mode 0600) under a name no other
    /// process has, locked.
    pub fn create(pool_file: &Path, sealer: Arc<Sealer>) -> io::Result<Journal> {
        let path = pool_file::per_process(pool_file, "live");
        let file = crate::private_file::options()
            .append(true)
            .create_new(true)
            .open(&path)?;
        lock(&file)?;
        Ok(Journal {
            path,
            compacting: pool_file::per_process(pool_file, "compacting"),
            sealer,
            status: Mutex::new(Status::Open(Open {
                file,
                bytes: 0,
                live: HashMap::new(),
                live_bytes: 0,
            })),
        })
    }

    /// Records a key that enters the pool (before anyone can draw it).
    pub fn added(&self, pair: &WrappingKeyPair) {
        let entry = PoolFileEntry {
            spec: pair.spec(),
            pkcs8: B64.encode(pair.private_key_pkcs8()),
        };
        let plain = serde_json::to_vec(&entry).expect("a pool entry serializes");
        let record = record(ADDED, &self.sealer.seal(Purpose::WrappingKeyPool, &plain));
        self.write(|open| {
            open.file.write_all(&record)?;
            open.bytes += record.len() as u64;
            open.live_bytes += record.len() as u64;
            if let Some(old) = open.live.insert(fingerprint(pair), record) {
                open.live_bytes -= old.len() as u64;
            }
            Ok(())
        });
    }

    /// Records a key that leaves the pool; call it before the key is handed out. False: the
    /// key must not be handed out (a failed journal still offers it to the next start).
    #[must_use]
    pub fn drawn(&self, pair: &WrappingKeyPair) -> bool {
        let print = fingerprint(pair);
        self.write(|open| {
            if !open.live.contains_key(&print) {
                return Ok(());
            }
            let record = record(DRAWN, &print);
            open.file.write_all(&record)?;
            // Only once its drawn record is written: until then the key counts as offered.
            if let Some(old) = open.live.remove(&print) {
                open.live_bytes -= old.len() as u64;
            }
            open.bytes += record.len() as u64;
            if open.bytes >= COMPACT_BYTES.max(2 * open.live_bytes) {
                open.compact(&self.compacting, &self.path)?;
            }
            Ok(())
        });
        match &*self.status.lock().unwrap_or_else(|e| e.into_inner()) {
            Status::Poisoned { offered, .. } => !offered.contains(&print),
            Status::Open(_) | Status::Stopped => true,
        }
    }

    /// Removes the journal (a clean exit, before the pool file takes the keys). False: a
    /// journal file is left that still offers keys, so the pool file must not offer them too.
    #[must_use]
    pub fn remove(&self) -> bool {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        match &*status {
            Status::Stopped => true,
            Status::Poisoned { .. } => false,
            Status::Open(_) => {
                let removed = std::fs::remove_file(&self.path).is_ok();
                if removed {
                    *status = Status::Stopped;
                }
                removed
            }
        }
    }

    fn write(&self, f: impl FnOnce(&mut Open) -> io::Result<()>) {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let Status::Open(open) = &mut *status else {
            return;
        };
        if let Err(e) = f(open) {
            tracing::warn!(error = %e, file = %self.path.display(),
                "cannot write the wrapping-key pool's journal; keys made from now on are lost if the process is killed");
            // A journal that may lack a drawn record must not be recovered.
            let _ = std::fs::remove_file(&self.compacting);
            let removed = std::fs::remove_file(&self.path).is_ok();
            let Status::Open(open) = std::mem::replace(&mut *status, Status::Stopped) else {
                unreachable!("matched Open above");
            };
            if !removed {
                *status = Status::Poisoned {
                    offered: open.live.into_keys().collect(),
                    _lock: open.file,
                };
            }
        }
    }
}

impl Open {
    /// Rewrites the journal with the live keys alone: a new file, locked before it is renamed
    /// over the old one, so that the name is never an unlocked journal of a live process.
    fn compact(&mut self, tmp: &Path, path: &Path) -> io::Result<()> {
        let mut file = crate::private_file::options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp)?;
        lock(&file)?;
        let mut bytes = 0;
        for record in self.live.values() {
            file.write_all(record)?;
            bytes += record.len() as u64;
        }
        std::fs::rename(tmp, path)?;
        // The old file's lock goes with it, once the new one holds the name.
        self.file = file;
        self.bytes = bytes;
        Ok(())
    }
}

/// A journal of a process that is gone, claimed: renamed to `<pool file>.recovering.…` while
/// this process holds its lock, which it keeps until the journal is deleted.
pub struct Claimed {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    _lock: File,
}

/// Claims every journal beside `pool_file` whose owner is gone (its lock is free).
pub fn claim_orphans(pool_file: &Path) -> Vec<Claimed> {
    pool_file::beside(pool_file)
        .into_iter()
        .filter(|(rest, _)| rest.starts_with("live."))
        .filter_map(|(_, path)| claim(pool_file, &path))
        .collect()
}

fn claim(pool_file: &Path, path: &Path) -> Option<Claimed> {
    use std::os::unix::fs::MetadataExt;
    let mut file = File::open(path).ok()?;
    // Held: its owner lives (or another process is claiming it).
    file.try_lock().ok()?;
    // The lock is on the file we opened; the name must still be that file (an owner that
    // compacted meanwhile has a new, locked file under it).
    let (ours, named) = (file.metadata().ok()?, std::fs::metadata(path).ok()?);
    if (ours.dev(), ours.ino()) != (named.dev(), named.ino()) {
        return None;
    }
    let to = pool_file::per_process(pool_file, "recovering");
    std::fs::rename(path, &to).ok()?;
    let mut bytes = Vec::new();
    file.rewind().ok()?;
    file.read_to_end(&mut bytes).ok()?;
    Some(Claimed {
        path: to,
        bytes,
        _lock: file,
    })
}

fn lock(file: &File) -> io::Result<()> {
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::Error(e) => e,
        std::fs::TryLockError::WouldBlock => io::Error::other("a new journal is locked already"),
    })
}

fn record(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(tag);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The keys a journal still held: those added and not drawn, in the order they were added.
/// Records that do not open (another secret, a torn tail) are skipped.
pub fn replay(bytes: &[u8], sealer: &Sealer) -> Vec<WrappingKeyPair> {
    let mut keys: Vec<Option<(Fingerprint, WrappingKeyPair)>> = Vec::new();
    let mut at: HashMap<Fingerprint, usize> = HashMap::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let tag = rest[0];
        let len = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let Some(payload) = rest.get(5..5 + len) else {
            break;
        };
        rest = &rest[5 + len..];
        match tag {
            ADDED => {
                let Some(pair) = open_entry(payload, sealer) else {
                    continue;
                };
                let print = fingerprint(&pair);
                at.insert(print, keys.len());
                keys.push(Some((print, pair)));
            }
            DRAWN => {
                if let Some(i) = <Fingerprint>::try_from(payload)
                    .ok()
                    .and_then(|p| at.remove(&p))
                {
                    keys[i] = None;
                }
            }
            _ => break,
        }
    }
    keys.into_iter().flatten().map(|(_, pair)| pair).collect()
}

fn open_entry(payload: &[u8], sealer: &Sealer) -> Option<WrappingKeyPair> {
    let plain = sealer.open(Purpose::WrappingKeyPool, payload)?;
    let entry: PoolFileEntry = serde_json::from_slice(&plain).ok()?;
    let der = B64.decode(entry.pkcs8).ok()?;
    WrappingKeyPair::from_pkcs8(entry.spec, &der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::spec::WrappingKeySpec;

    fn temp_pool_file() -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("kms-journal-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        (dir.join("pool.sealed"), dir)
    }

    #[test]
    fn replay_keeps_added_minus_drawn_and_ignores_a_torn_tail() {
        let (file, dir) = temp_pool_file();
        let sealer = Arc::new(Sealer::random());
        let j = Journal::create(&file, sealer.clone()).unwrap();
        let keys: Vec<_> = (0..3)
            .map(|_| WrappingKeyPair::generate(WrappingKeySpec::Rsa2048))
            .collect();
        for k in &keys {
            j.added(k);
        }
        assert!(j.drawn(&keys[1]));
        let bytes = std::fs::read(&j.path).unwrap();
        let publics = |pairs: Vec<WrappingKeyPair>| -> Vec<Vec<u8>> {
            pairs.iter().map(|p| p.public_key_der().to_vec()).collect()
        };
        let want = vec![
            keys[0].public_key_der().to_vec(),
            keys[2].public_key_der().to_vec(),
        ];
        assert_eq!(publics(replay(&bytes, &sealer)), want);
        // Killed in the middle of a record: the records before it count. A torn drawn record
        // (the last 13 bytes) is a key that was never handed out: the process died first.
        assert_eq!(replay(&bytes[..bytes.len() - 1], &sealer).len(), 3);
        assert_eq!(replay(&bytes[..bytes.len() - 14], &sealer).len(), 2);
        // Another secret opens nothing.
        assert!(replay(&bytes, &Sealer::random()).is_empty());
        // Drawing a key the journal never had writes nothing.
        let len = bytes.len();
        assert!(j.drawn(&WrappingKeyPair::generate(WrappingKeySpec::Rsa2048)));
        assert_eq!(std::fs::read(&j.path).unwrap().len(), len);
        assert!(j.remove());
        assert!(!j.path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_long_run_compacts_the_journal_to_its_live_keys() {
        let (file, dir) = temp_pool_file();
        let sealer = Arc::new(Sealer::random());
        let j = Journal::create(&file, sealer.clone()).unwrap();
        let kept = WrappingKeyPair::generate(WrappingKeySpec::Rsa2048);
        let churn = WrappingKeyPair::generate(WrappingKeySpec::Rsa2048);
        j.added(&kept);
        let mut written = 0u64;
        while written < 2 * COMPACT_BYTES {
            j.added(&churn);
            assert!(j.drawn(&churn));
            written += 2000;
        }
        let bytes = std::fs::read(&j.path).unwrap();
        // About 7 MiB were written in all; the file holds what came after the last compaction.
        assert!(
            bytes.len() < COMPACT_BYTES as usize,
            "{} bytes",
            bytes.len()
        );
        let left = replay(&bytes, &sealer);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].public_key_der(), kept.public_key_der());
        assert!(!j.compacting.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
