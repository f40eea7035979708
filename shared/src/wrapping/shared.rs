//! The shared wrapping-key pool: key pairs generated ahead of time, sealed, and kept in the
//! store, so a fresh process or Lambda instance (whose in-process pool is still empty) answers
//! GetParametersForImport without generating an RSA key in the request.
//!
//! The store hands each sealed pair out at most once (`KeyStore::claim_pool_key`); the
//! `pool-refill` function tops the pool up on a schedule, and [`SharedTopUp`] from the
//! processes that take from it, when they find it low.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::pair::WrappingKeyPair;
use super::spec::{PerSpec, PooledSpec};
use crate::crypto::seal::{Purpose, Sealer};
use crate::domain::spec::WrappingKeySpec;
use crate::store::{KeyStore, StoreResult};

/// A pair sealed for the store; the spec is bound in, so it opens only as that spec.
pub fn seal(pair: &WrappingKeyPair, sealer: &Sealer) -> Vec<u8> {
    sealer.seal_bound(
        Purpose::WrappingKeyPool,
        pair.spec().as_str().as_bytes(),
        pair.private_key_pkcs8(),
    )
}

fn open(spec: WrappingKeySpec, sealed: &[u8], sealer: &Sealer) -> Option<WrappingKeyPair> {
    let pkcs8 = sealer.open_bound(Purpose::WrappingKeyPool, spec.as_str().as_bytes(), sealed)?;
    WrappingKeyPair::from_pkcs8(spec, &pkcs8)
}

/// Claims a pair of `spec`. Never fails a request: a store error or a pair that does not
/// open (sealed under another secret) is logged, and the caller generates instead.
pub async fn claim(
    store: &dyn KeyStore,
    sealer: &Sealer,
    spec: WrappingKeySpec,
) -> Option<WrappingKeyPair> {
    // A few attempts, so one unusable pair does not cost a generation.
    for _ in 0..3 {
        match store.claim_pool_key(spec).await {
            Ok(Some(sealed)) => match open(spec, &sealed, sealer) {
                Some(pair) => return Some(pair),
                None => tracing::warn!(
                    spec = spec.as_str(),
                    "dropped a shared-pool key that does not open with this sealing secret"
                ),
            },
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "shared wrapping-key pool unavailable");
                return None;
            }
        }
    }
    None
}

/// Tops the shared pool up to `target` pairs of `spec`, generating on blocking threads, at
/// most `parallel` at a time. Returns how many were added.
pub async fn top_up(
    store: Arc<dyn KeyStore>,
    sealer: Arc<Sealer>,
    spec: WrappingKeySpec,
    target: usize,
    parallel: usize,
) -> StoreResult<usize> {
    let have = store.count_pool_keys(spec).await?;
    let missing = target.saturating_sub(have);
    let mut added = 0;
    while added < missing {
        let batch = (missing - added).min(parallel.max(1));
        let mut jobs = Vec::with_capacity(batch);
        for _ in 0..batch {
            let sealer = sealer.clone();
            jobs.push(tokio::task::spawn_blocking(move || {
                seal(&WrappingKeyPair::generate(spec), &sealer)
            }));
        }
        let mut sealed = Vec::with_capacity(batch);
        for job in jobs {
            sealed.push(
                job.await
                    .map_err(|e| crate::store::StoreError(e.to_string()))?,
            );
        }
        store.add_pool_keys(spec, sealed).await?;
        added += batch;
    }
    Ok(added)
}

/// Tops the shared pool up from this process when a claim finds it low (under half its
/// target), so the instances that drain it refill it between scheduled `pool-refill` runs.
/// One top-up per spec at a time, one key at a time, each generated on a thread at the lowest
/// CPU priority, so requests keep the CPU.
pub struct SharedTopUp {
    store: Arc<dyn KeyStore>,
    sealer: Arc<Sealer>,
    /// Target pairs of each spec (0: this process never tops that spec up).
    targets: PerSpec<usize>,
    running: PerSpec<AtomicBool>,
}

impl SharedTopUp {
    pub fn new(
        store: Arc<dyn KeyStore>,
        sealer: Arc<Sealer>,
        targets: PerSpec<usize>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            sealer,
            targets,
            running: Default::default(),
        })
    }

    /// Called after this process claimed from the shared pool of `spec`, or found it empty:
    /// starts a background top-up unless one is running. Needs a tokio runtime.
    pub fn after_claim(self: &Arc<Self>, spec: WrappingKeySpec) {
        let Some(i) = PooledSpec::of(spec) else {
            return;
        };
        if self.targets[i] == 0 || self.running[i].swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            match this.top_up_if_low(spec, this.targets[i]).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    spec = spec.as_str(),
                    added = n,
                    "topped up the shared wrapping-key pool"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "could not top up the shared wrapping-key pool")
                }
            }
            this.running[i].store(false, Ordering::Release);
        });
    }

    async fn top_up_if_low(&self, spec: WrappingKeySpec, target: usize) -> StoreResult<usize> {
        let have = self.store.count_pool_keys(spec).await?;
        if have * 2 >= target {
            return Ok(0);
        }
        for _ in have..target {
            let sealer = self.sealer.clone();
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name("shared-pool-top-up".into())
                .spawn(move || {
                    super::pool::lower_thread_priority();
                    let _ = tx.send(seal(&WrappingKeyPair::generate(spec), &sealer));
                })
                .map_err(|e| crate::store::StoreError(e.to_string()))?;
            let sealed = rx
                .await
                .map_err(|e| crate::store::StoreError(e.to_string()))?;
            self.store.add_pool_keys(spec, vec![sealed]).await?;
        }
        Ok(target - have)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[tokio::test]
    async fn top_up_then_claim_each_once_then_none() {
        let store: Arc<dyn KeyStore> = Arc::new(MemoryStore::new());
        let sealer = Arc::new(Sealer::random());
        let spec = WrappingKeySpec::Rsa2048;
        assert_eq!(
            top_up(store.clone(), sealer.clone(), spec, 3, 2)
                .await
                .unwrap(),
            3
        );
        assert_eq!(
            top_up(store.clone(), sealer.clone(), spec, 3, 2)
                .await
                .unwrap(),
            0
        );
        let mut seen = Vec::new();
        for _ in 0..3 {
            let pair = claim(store.as_ref(), &sealer, spec).await.unwrap();
            assert_eq!(pair.spec(), spec);
            seen.push(pair.public_key_der().to_vec());
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 3);
        assert!(claim(store.as_ref(), &sealer, spec).await.is_none());
    }

    #[tokio::test]
    async fn pairs_sealed_elsewhere_or_for_another_spec_are_refused() {
        let store: Arc<dyn KeyStore> = Arc::new(MemoryStore::new());
        let sealer = Sealer::random();
        let pair = WrappingKeyPair::generate(WrappingKeySpec::Rsa2048);
        let other = Sealer::random();
        store
            .add_pool_keys(WrappingKeySpec::Rsa2048, vec![seal(&pair, &other)])
            .await
            .unwrap();
        store
            .add_pool_keys(WrappingKeySpec::Rsa3072, vec![seal(&pair, &sealer)])
            .await
            .unwrap();
        assert!(
            claim(store.as_ref(), &sealer, WrappingKeySpec::Rsa2048)
                .await
                .is_none()
        );
        assert!(
            claim(store.as_ref(), &sealer, WrappingKeySpec::Rsa3072)
                .await
                .is_none()
        );
        assert_eq!(
            store
                .count_pool_keys(WrappingKeySpec::Rsa2048)
                .await
                .unwrap(),
            0
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_claim_that_finds_the_pool_low_tops_it_up_once() {
        let store: Arc<dyn KeyStore> = Arc::new(MemoryStore::new());
        let sealer = Arc::new(Sealer::random());
        let spec = WrappingKeySpec::Rsa2048;
        top_up(store.clone(), sealer.clone(), spec, 2, 2)
            .await
            .unwrap();
        let refill = SharedTopUp::new(store.clone(), sealer.clone(), PerSpec::new(4, 0, 0));
        // 2 of 4 is not low: nothing added.
        refill.after_claim(spec);
        wait_idle(&refill, PooledSpec::Rsa2048).await;
        assert_eq!(store.count_pool_keys(spec).await.unwrap(), 2);
        claim(store.as_ref(), &sealer, spec).await.unwrap();
        // 1 of 4 is low: topped up to 4; a second trigger while running starts nothing.
        refill.after_claim(spec);
        refill.after_claim(spec);
        wait_idle(&refill, PooledSpec::Rsa2048).await;
        assert_eq!(store.count_pool_keys(spec).await.unwrap(), 4);
        // A spec whose target is 0 is never topped up.
        refill.after_claim(WrappingKeySpec::Rsa3072);
        assert!(!refill.running[PooledSpec::Rsa3072].load(Ordering::Acquire));
        assert_eq!(
            store
                .count_pool_keys(WrappingKeySpec::Rsa3072)
                .await
                .unwrap(),
            0
        );
        // And the pairs it added open with this process's secret.
        for _ in 0..4 {
            assert!(claim(store.as_ref(), &sealer, spec).await.is_some());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_top_up_ends_and_a_later_claim_starts_another() {
        use crate::store::sqlite::SqliteStore;
        let dir = std::env::temp_dir().join(format!("kms-top-up-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("store.sqlite3");
        let store: Arc<dyn KeyStore> =
            Arc::new(SqliteStore::open(&path, crate::config::Synchronous::Normal).unwrap());
        // The store fails under it: its pool table is gone.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("DROP TABLE wrapping_key_pool")
            .unwrap();
        let spec = WrappingKeySpec::Rsa2048;
        let refill = SharedTopUp::new(
            store.clone(),
            Arc::new(Sealer::random()),
            PerSpec::new(2, 0, 0),
        );
        refill.after_claim(spec);
        wait_idle(&refill, PooledSpec::Rsa2048).await;
        assert!(store.count_pool_keys(spec).await.is_err());
        // Opening the file again restores the table; the next claim tops up as usual.
        drop(SqliteStore::open(&path, crate::config::Synchronous::Normal).unwrap());
        refill.after_claim(spec);
        wait_idle(&refill, PooledSpec::Rsa2048).await;
        assert_eq!(store.count_pool_keys(spec).await.unwrap(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    async fn wait_idle(refill: &SharedTopUp, i: PooledSpec) {
        for _ in 0..600 {
            if !refill.running[i].load(Ordering::Acquire) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the top-up did not finish in 6 s");
    }
}
