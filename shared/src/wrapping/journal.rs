//! The pool's journal: each key that enters this process's pool and each key that leaves it,
//! appended to `<pool file>.live.<pid>` as it happens, so that a process killed with `kill -9`
//! (or by the OOM killer, or a CI job's timeout) leaves its ready keys to the next start instead
//! of taking them with it. The pool file written at a clean exit stays the common case.
//!
//! No key is handed out twice: a key's *drawn* record is written before the key leaves the
//! pool (so before any client sees it), and a dead process's journal is claimed by renaming
//! it, so that one process alone recovers it. A write that fails (a full disk) removes the
//! journal and stops it: keys are then lost at a crash, never duplicated.
//!
//! Records: a tag byte, a little-endian `u32` length, the payload. `K`: one key, sealed
//! (`Purpose::WrappingKeyPool`, a JSON entry as in the pool file). `D`: the SHA-256 prefix of
//! a key's public key (its fingerprint). A torn last record (the process died mid-write) is
//! ignored. The file is rewritten with the live keys alone when it grows past
//! [`COMPACT_BYTES`], so a long run does not grow it without bound.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::pair::WrappingKeyPair;
use super::pool::PoolFileEntry;
use crate::crypto::seal::{Purpose, Sealer};

/// The journal is rewritten with its live keys once it holds this many bytes.
pub const COMPACT_BYTES: u64 = 4 << 20;

const ADDED: u8 = b'K';
const DRAWN: u8 = b'D';

type Fingerprint = [u8; 8];

fn fingerprint(pair: &WrappingKeyPair) -> Fingerprint {
    crate::crypto::fingerprint(pair.public_key_der())
}

pub struct Journal {
    path: PathBuf,
    /// Where a compaction writes before renaming over `path`: `<pool file>.compacting.<pid>`,
    /// which the start-up sweep removes if a process dies meanwhile.
    compacting: PathBuf,
    sealer: Arc<Sealer>,
    state: Mutex<Option<State>>,
}

struct State {
    file: File,
    bytes: u64,
    /// The sealed records of the keys in the pool now, by fingerprint: what a compaction
    /// writes.
    live: HashMap<Fingerprint, Vec<u8>>,
}

impl Journal {
    /// This process's journal beside `pool_file`, created empty (mode 0600).
    pub fn create(pool_file: &Path, sealer: Arc<Sealer>) -> io::Result<Journal> {
        let path = live_path(pool_file, std::process::id());
        let mut compacting = pool_file.as_os_str().to_owned();
        compacting.push(format!(".compacting.{}", std::process::id()));
        let file = open_new(&path)?;
        Ok(Journal {
            path,
            compacting: PathBuf::from(compacting),
            sealer,
            state: Mutex::new(Some(State {
                file,
                bytes: 0,
                live: HashMap::new(),
            })),
        })
    }

    /// Records a key that enters the pool.
    pub fn added(&self, pair: &WrappingKeyPair) {
        let entry = PoolFileEntry {
            spec: pair.spec(),
            pkcs8: B64.encode(pair.private_key_pkcs8()),
        };
        let plain = serde_json::to_vec(&entry).expect("a pool entry serializes");
        let record = record(ADDED, &self.sealer.seal(Purpose::WrappingKeyPool, &plain));
        self.write(|state| {
            state.file.write_all(&record)?;
            state.bytes += record.len() as u64;
            state.live.insert(fingerprint(pair), record);
            Ok(())
        });
    }

    /// Records a key that leaves the pool; call it before the key is handed out.
    pub fn drawn(&self, pair: &WrappingKeyPair) {
        let print = fingerprint(pair);
        self.write(|state| {
            if state.live.remove(&print).is_none() {
                return Ok(());
            }
            let record = record(DRAWN, &print);
            state.file.write_all(&record)?;
            state.bytes += record.len() as u64;
            if state.bytes >= COMPACT_BYTES {
                state.compact(&self.compacting, &self.path)?;
            }
            Ok(())
        });
    }

    /// Removes the journal (a clean exit, once the pool file holds the keys, or is about to).
    pub fn remove(&self) {
        if self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .is_some()
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    fn write(&self, f: impl FnOnce(&mut State) -> io::Result<()>) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(state) = guard.as_mut() else {
            return;
        };
        if let Err(e) = f(state) {
            // A journal that may lack a drawn record must not be recovered.
            *guard = None;
            let _ = std::fs::remove_file(&self.path);
            tracing::warn!(error = %e, file = %self.path.display(),
                "cannot write the wrapping-key pool's journal; keys made from now on are lost if the process is killed");
        }
    }
}

impl State {
    /// Rewrites the journal with the live keys alone (a new file renamed over the old one).
    fn compact(&mut self, tmp: &Path, path: &Path) -> io::Result<()> {
        let mut file = open_new(tmp)?;
        let mut bytes = 0;
        for record in self.live.values() {
            file.write_all(record)?;
            bytes += record.len() as u64;
        }
        std::fs::rename(tmp, path)?;
        self.file = file;
        self.bytes = bytes;
        Ok(())
    }
}

/// `<pool file>.live.<pid>`.
pub fn live_path(pool_file: &Path, pid: u32) -> PathBuf {
    let mut name = pool_file.as_os_str().to_owned();
    name.push(format!(".live.{pid}"));
    PathBuf::from(name)
}

fn open_new(path: &Path) -> io::Result<File> {
    crate::private_file::options()
        .append(true)
        .create(true)
        .truncate(false)
        .open(path)
        .and_then(|f| f.set_len(0).map(|()| f))
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
        j.drawn(&keys[1]);
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
        j.drawn(&WrappingKeyPair::generate(WrappingKeySpec::Rsa2048));
        assert_eq!(std::fs::read(&j.path).unwrap().len(), len);
        j.remove();
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
            j.drawn(&churn);
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
