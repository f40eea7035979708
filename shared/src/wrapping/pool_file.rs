//! The pool's files beside `<data>/wrapping-key-pool.sealed`, named in one place: the pool file's
//! entry format (also the journal's key records), the per-process names of its temporary,
//! claimed and journal files, and the listing the start-up sweep and recovery read.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::spec::WrappingKeySpec;

/// One key of the pool file (and of a journal's key record).
#[derive(Serialize, Deserialize)]
pub(super) struct PoolFileEntry {
    pub(super) spec: WrappingKeySpec,
    pub(super) pkcs8: String,
}

/// `<pool file>.<what>.<pid>.<random>`: unique even among processes with the same id
/// (containers sharing a volume), so that one process's claimed, half-written or journal file
/// is never another's. The sweep reads the id back.
pub(super) fn per_process(pool_file: &Path, what: &str) -> PathBuf {
    let mut name = pool_file.as_os_str().to_owned();
    name.push(format!(
        ".{what}.{}.{}",
        std::process::id(),
        crate::crypto::random_hex(6)
    ));
    PathBuf::from(name)
}

/// The files beside the pool file named `<pool file>.<rest>`, with their `rest`.
pub(super) fn beside(pool_file: &Path) -> Vec<(String, PathBuf)> {
    let (Some(dir), Some(name)) = (pool_file.parent(), pool_file.file_name()) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let prefix = name.to_string_lossy().into_owned() + ".";
    entries
        .flatten()
        .filter_map(|entry| {
            let file = entry.file_name().to_string_lossy().into_owned();
            let rest = file.strip_prefix(&prefix)?.to_string();
            Some((rest, entry.path()))
        })
        .collect()
}
