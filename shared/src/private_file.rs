//! Files of the data folder hold key material, sealed pools and audit records: they are created
//! readable and writable by their owner only (0600), whatever the umask.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Options that create a file with mode 0600 (on Unix).
pub fn options() -> OpenOptions {
    let mut opts = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts
}

/// Writes `bytes` to a new or truncated file of mode 0600.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use io::Write;
    let mut f = options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Creates `path` empty with mode 0600 unless it exists (SQLite then gives its WAL and
/// shared-memory files the database file's mode).
pub fn touch(path: &Path) -> io::Result<File> {
    options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}
