//! The embedded durable store: one SQLite file in WAL mode, which several processes (the
//! endpoint, the sidecar, `sam local invoke` runs) open at once and see the same keys.
//!
//! Records are JSON in a `body` column next to a `version` counter; writes are single
//! conditional statements (`INSERT` on a primary key, `UPDATE ... WHERE version = ?`), so
//! concurrent writers in any process serialize on SQLite's lock and never lose an update.
//! SQLite calls block, so they run on tokio's blocking threads.
//!
//! The store recovers from faults of its folder by itself (each measured, see the fault tests
//! in `tests/integration/test_faults.py`):
//! - at most [`MAX_CONNECTIONS`] connections; more callers queue for one instead of opening
//!   more (700 writes queued behind another process's lock once opened 300 connections and ran
//!   the process out of descriptors);
//! - a connection that failed, or that SQLite opened read-only (the folder was read-only for a
//!   moment), is closed instead of kept: kept, it failed every later write until a restart;
//! - the WAL is checkpointed every [`WAL_CHECKPOINT_PAGES`] pages and cut back to
//!   [`WAL_SIZE_LIMIT`], and truncated at open and at clean exit: left to SQLite's ~4 MiB
//!   default it filled a 2 MiB volume after 467 updates.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, MAIN_DB, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{KeyStore, StoreError, StoreResult, Versioned, Write};
use crate::config::Synchronous;
use crate::domain::arn::Scope;
use crate::domain::key::{AliasRecord, KeyRecord};
use crate::domain::spec::WrappingKeySpec;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS keys (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    key_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (account, region, key_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aliases (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    alias_name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (account, region, alias_name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wrapping_key_pool (
    id INTEGER PRIMARY KEY,
    spec TEXT NOT NULL,
    sealed BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS wrapping_key_pool_spec ON wrapping_key_pool (spec, id);
";

/// How long a writer waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections open at once, at most. Writes serialize on SQLite's lock whatever the count, and
/// reads take microseconds: a few cover two cores, and each costs three descriptors.
pub const MAX_CONNECTIONS: usize = 8;
/// Idle connections kept for the next call; the rest are closed when they come back.
pub const MAX_IDLE: usize = 4;
/// WAL pages (4 KiB) after which a commit checkpoints (SQLite's default is 1,000).
pub const WAL_CHECKPOINT_PAGES: u32 = 128;
/// Bytes the WAL file is cut back to once a checkpoint has reset it.
pub const WAL_SIZE_LIMIT: u64 = 512 * 1024;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    synchronous: Synchronous,
    /// Idle connections; one is taken per call and put back after, if still sound.
    idle: Arc<Mutex<Vec<Connection>>>,
    /// One permit per connection that may be open; callers wait for one.
    permits: Arc<tokio::sync::Semaphore>,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn open_connection(path: &Path, synchronous: Synchronous) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous.pragma())?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT as i64)?;
    Ok(conn)
}

/// Checkpoints the whole WAL into the database and truncates the WAL file to nothing (when no
/// other process is reading an older snapshot; else it stays as it is, bounded).
fn truncate_wal(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
}

fn to_json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(err)
}

fn from_json<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| err(format!("corrupt record: {e}")))
}

fn written(changed: usize) -> Write {
    if changed == 1 {
        Write::Done
    } else {
        Write::Conflict
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store file, and truncates a WAL a killed process left.
    pub fn open(path: &Path, synchronous: Synchronous) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        crate::private_file::touch(path).map_err(err)?;
        let conn = open_connection(path, synchronous).map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        // Best effort: another process may be reading, or the volume full.
        if let Err(e) = truncate_wal(&conn) {
            tracing::debug!(error = %e, "WAL not truncated at open");
        }
        Ok(Self {
            path: path.to_path_buf(),
            synchronous,
            idle: Arc::new(Mutex::new(vec![conn])),
            permits: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
        })
    }

    /// Runs `f` on a pooled connection on a blocking thread, once one of the
    /// [`MAX_CONNECTIONS`] is free.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let permit = self.permits.clone().acquire_owned().await.map_err(err)?;
        let idle = self.idle.clone();
        let (path, synchronous) = (self.path.clone(), self.synchronous);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = lock(&idle).pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_connection(&path, synchronous).map_err(err)?,
            };
            let out = f(&conn);
            // A failed call may have left the connection unusable (read-only, I/O error, full
            // disk): a new one costs ~100 µs, a bad one kept fails every call after it.
            let sound = out.is_ok() && !conn.is_readonly(MAIN_DB).unwrap_or(true);
            let mut idle = lock(&idle);
            if sound && idle.len() < MAX_IDLE {
                idle.push(conn);
            }
            out
        })
        .await
        .map_err(err)?
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &KeyRecord) -> StoreResult<Write> {
        let (s, id, body) = (key.scope.clone(), key.key_id.clone(), to_json(key)?);
        self.with(move |c| {
            c.execute(
                "INSERT INTO keys (account, region, key_id, version, body) VALUES (?1, ?2, ?3, 1, ?4)
                 ON CONFLICT DO NOTHING",
                params![s.account, s.region, id, body],
            )
            .map(written)
            .map_err(err)
        })
        .await
    }

    async fn get_key(
        &self,
        scope: &Scope,
        key_id: &str,
    ) -> StoreResult<Option<Versioned<KeyRecord>>> {
        let (s, id) = (scope.clone(), key_id.to_string());
        self.with(move |c| {
            let row: Option<(i64, String)> = c
                .query_row(
                    "SELECT version, body FROM keys WHERE account = ?1 AND region = ?2 AND key_id = ?3",
                    params![s.account, s.region, id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(err)?;
            row.map(|(version, body)| {
                Ok(Versioned {
                    version: version as u64,
                    record: from_json(&body)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn replace_key(&self, version: u64, key: &KeyRecord) -> StoreResult<Write> {
        let (s, id, body) = (key.scope.clone(), key.key_id.clone(), to_json(key)?);
        self.with(move |c| {
            c.execute(
                "UPDATE keys SET version = version + 1, body = ?5
                 WHERE account = ?1 AND region = ?2 AND key_id = ?3 AND version = ?4",
                params![s.account, s.region, id, version as i64, body],
            )
            .map(written)
            .map_err(err)
        })
        .await
    }

    async fn replace_keys(&self, keys: &[(u64, KeyRecord)]) -> StoreResult<Write> {
        let rows = keys
            .iter()
            .map(|(v, k)| Ok((k.scope.clone(), k.key_id.clone(), *v, to_json(k)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        self.with(move |c| {
            // Dropped without commit on any early return: then nothing changed.
            let tx = c.unchecked_transaction().map_err(err)?;
            for (s, id, version, body) in &rows {
                let changed = if *version == 0 {
                    tx.execute(
                        "INSERT INTO keys (account, region, key_id, version, body) VALUES (?1, ?2, ?3, 1, ?4)
                         ON CONFLICT DO NOTHING",
                        params![s.account, s.region, id, body],
                    )
                } else {
                    tx.execute(
                        "UPDATE keys SET version = version + 1, body = ?5
                         WHERE account = ?1 AND region = ?2 AND key_id = ?3 AND version = ?4",
                        params![s.account, s.region, id, *version as i64, body],
                    )
                }
                .map_err(err)?;
                if written(changed) == Write::Conflict {
                    return Ok(Write::Conflict);
                }
            }
            tx.commit().map_err(err)?;
            Ok(Write::Done)
        })
        .await
    }

    async fn remove_key(&self, scope: &Scope, key_id: &str, version: u64) -> StoreResult<Write> {
        let (s, id) = (scope.clone(), key_id.to_string());
        self.with(move |c| {
            c.execute(
                "DELETE FROM keys WHERE account = ?1 AND region = ?2 AND key_id = ?3 AND version = ?4",
                params![s.account, s.region, id, version as i64],
            )
            .map(written)
            .map_err(err)
        })
        .await
    }

    async fn list_keys(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<KeyRecord>> {
        let (s, after) = (scope.clone(), after.unwrap_or("").to_string());
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT body FROM keys WHERE account = ?1 AND region = ?2 AND key_id > ?3
                     ORDER BY key_id LIMIT ?4",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map(params![s.account, s.region, after, limit as i64], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(err)?;
            rows.map(|b| from_json(&b.map_err(err)?)).collect()
        })
        .await
    }

    async fn insert_alias(&self, alias: &AliasRecord) -> StoreResult<Write> {
        let (s, name, body) = (
            alias.scope.clone(),
            alias.alias_name.clone(),
            to_json(alias)?,
        );
        self.with(move |c| {
            c.execute(
                "INSERT INTO aliases (account, region, alias_name, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
                params![s.account, s.region, name, body],
            )
            .map(written)
            .map_err(err)
        })
        .await
    }

    async fn get_alias(&self, scope: &Scope, alias_name: &str) -> StoreResult<Option<AliasRecord>> {
        let (s, name) = (scope.clone(), alias_name.to_string());
        self.with(move |c| {
            let body: Option<String> = c
                .query_row(
                    "SELECT body FROM aliases WHERE account = ?1 AND region = ?2 AND alias_name = ?3",
                    params![s.account, s.region, name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            body.map(|b| from_json(&b)).transpose()
        })
        .await
    }

    async fn update_alias(&self, alias: &AliasRecord) -> StoreResult<Write> {
        let (s, name, body) = (
            alias.scope.clone(),
            alias.alias_name.clone(),
            to_json(alias)?,
        );
        self.with(move |c| {
            c.execute(
                "UPDATE aliases SET body = ?4 WHERE account = ?1 AND region = ?2 AND alias_name = ?3",
                params![s.account, s.region, name, body],
            )
            .map(written)
            .map_err(err)
        })
        .await
    }

    async fn delete_alias(&self, scope: &Scope, alias_name: &str) -> StoreResult<Write> {
        let (s, name) = (scope.clone(), alias_name.to_string());
        self.with(move |c| {
            c.execute(
                "DELETE FROM aliases WHERE account = ?1 AND region = ?2 AND alias_name = ?3",
                params![s.account, s.region, name],
            )
            .map(written)
            .map_err(err)
        })
        .await
    }

    async fn list_aliases(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<AliasRecord>> {
        let (s, after) = (scope.clone(), after.unwrap_or("").to_string());
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT body FROM aliases WHERE account = ?1 AND region = ?2 AND alias_name > ?3
                     ORDER BY alias_name LIMIT ?4",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map(params![s.account, s.region, after, limit as i64], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(err)?;
            rows.map(|b| from_json(&b.map_err(err)?)).collect()
        })
        .await
    }

    async fn add_pool_keys(&self, spec: WrappingKeySpec, sealed: Vec<Vec<u8>>) -> StoreResult<()> {
        self.with(move |c| {
            let tx = c.unchecked_transaction().map_err(err)?;
            {
                let mut stmt = tx
                    .prepare_cached("INSERT INTO wrapping_key_pool (spec, sealed) VALUES (?1, ?2)")
                    .map_err(err)?;
                for item in &sealed {
                    stmt.execute(params![spec.as_str(), item]).map_err(err)?;
                }
            }
            tx.commit().map_err(err)
        })
        .await
    }

    async fn claim_pool_key(&self, spec: WrappingKeySpec) -> StoreResult<Option<Vec<u8>>> {
        // One statement: the row is gone for every other connection once it is returned.
        self.with(move |c| {
            c.prepare_cached(
                "DELETE FROM wrapping_key_pool WHERE id =
                   (SELECT id FROM wrapping_key_pool WHERE spec = ?1 ORDER BY id LIMIT 1)
                 RETURNING sealed",
            )
            .map_err(err)?
            .query_row(params![spec.as_str()], |r| r.get(0))
            .optional()
            .map_err(err)
        })
        .await
    }

    async fn count_pool_keys(&self, spec: WrappingKeySpec) -> StoreResult<usize> {
        self.with(move |c| {
            c.query_row(
                "SELECT COUNT(*) FROM wrapping_key_pool WHERE spec = ?1",
                params![spec.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(err)
        })
        .await
    }

    /// Checkpoints and truncates the WAL (at clean exit), waiting for every call in flight.
    async fn close(&self) -> StoreResult<()> {
        let all = self
            .permits
            .clone()
            .acquire_many_owned(MAX_CONNECTIONS as u32)
            .await
            .map_err(err)?;
        let idle = self.idle.clone();
        let (path, synchronous) = (self.path.clone(), self.synchronous);
        tokio::task::spawn_blocking(move || {
            let _all = all;
            let conns: Vec<Connection> = std::mem::take(&mut *lock(&idle));
            let conn = match conns.into_iter().next() {
                Some(c) => c,
                None => open_connection(&path, synchronous).map_err(err)?,
            };
            truncate_wal(&conn).map_err(err)
        })
        .await
        .map_err(err)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance;

    fn temp_db() -> PathBuf {
        std::env::temp_dir()
            .join(format!("kms-sqlite-{}", uuid::Uuid::new_v4()))
            .join("store.sqlite3")
    }

    #[tokio::test]
    async fn conformance_keys() {
        conformance::keys_crud(Arc::new(
            SqliteStore::open(&temp_db(), Synchronous::Normal).unwrap(),
        ))
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conformance_related_keys() {
        conformance::related_keys(Arc::new(
            SqliteStore::open(&temp_db(), Synchronous::Normal).unwrap(),
        ))
        .await;
    }

    #[tokio::test]
    async fn conformance_aliases() {
        conformance::aliases_crud(Arc::new(
            SqliteStore::open(&temp_db(), Synchronous::Normal).unwrap(),
        ))
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conformance_pool() {
        conformance::pool_claims_once(Arc::new(
            SqliteStore::open(&temp_db(), Synchronous::Normal).unwrap(),
        ))
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conformance_concurrency() {
        conformance::concurrent_updates_are_not_lost(Arc::new(
            SqliteStore::open(&temp_db(), Synchronous::Normal).unwrap(),
        ))
        .await;
    }

    /// Two independently opened stores on one file (as two processes would) see each other's
    /// writes and do not lose updates when racing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_handles_share_one_file() {
        let path = temp_db();
        let a = Arc::new(SqliteStore::open(&path, Synchronous::Normal).unwrap());
        let b = Arc::new(SqliteStore::open(&path, Synchronous::Normal).unwrap());
        let scope = Scope::new("111122223333", "us-east-1");
        let mut k = crate::domain::key::tests::sample(crate::domain::spec::Origin::External);
        k.key_id = "shared".into();
        assert_eq!(a.insert_key(&k).await.unwrap(), Write::Done);
        assert_eq!(b.insert_key(&k).await.unwrap(), Write::Conflict);
        let mut tasks = Vec::new();
        for i in 0..20 {
            let store: Arc<dyn KeyStore> = if i % 2 == 0 { a.clone() } else { b.clone() };
            let scope = scope.clone();
            tasks.push(tokio::spawn(async move {
                crate::store::update_key(store.as_ref(), &scope, "shared", move |k| {
                    k.description.push('x');
                    Ok(())
                })
                .await
                .unwrap()
                .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let got = b.get_key(&scope, "shared").await.unwrap().unwrap();
        assert_eq!(got.record.description.len(), 20);
        let mode: String = open_connection(&path, Synchronous::Normal)
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    /// The settings that bound the WAL and choose durability are on every connection.
    #[test]
    fn connections_carry_the_wal_bounds_and_the_durability() {
        let path = temp_db();
        drop(SqliteStore::open(&path, Synchronous::Full).unwrap());
        for (synchronous, expected) in [(Synchronous::Normal, 1), (Synchronous::Full, 2)] {
            let c = open_connection(&path, synchronous).unwrap();
            let get = |pragma: &str| -> i64 {
                c.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
                    .unwrap()
            };
            assert_eq!(get("synchronous"), expected);
            assert_eq!(get("wal_autocheckpoint"), WAL_CHECKPOINT_PAGES as i64);
            assert_eq!(get("journal_size_limit"), WAL_SIZE_LIMIT as i64);
        }
    }

    /// A call that fails does not give its connection back; the next call opens a fresh one.
    #[tokio::test]
    async fn a_failed_call_drops_its_connection() {
        let store = SqliteStore::open(&temp_db(), Synchronous::Normal).unwrap();
        assert_eq!(lock(&store.idle).len(), 1);
        let failed = store
            .with(|c| c.execute_batch("SELECT * FROM no_such_table").map_err(err))
            .await;
        assert!(failed.is_err());
        assert_eq!(lock(&store.idle).len(), 0);
        store
            .with(|c| c.execute_batch("SELECT 1").map_err(err))
            .await
            .unwrap();
        assert_eq!(lock(&store.idle).len(), 1);
    }
}
