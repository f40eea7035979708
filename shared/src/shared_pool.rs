//! The shared wrapping-key pool: key pairs generated ahead of time, sealed, and kept in the
//! store, so a fresh process or Lambda instance (whose in-process pool is still empty) answers
//! GetParametersForImport without generating an RSA key in the request.
//!
//! The store hands each sealed pair out at most once (`KeyStore::claim_pool_key`); the
//! `pool-refill` function tops the pool up on a schedule.

use std::sync::Arc;

use crate::crypto::seal::{Purpose, Sealer};
use crate::domain::spec::WrappingKeySpec;
use crate::pool::WrappingKeyPair;
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
}
