//! Wrapping keys for GetParametersForImport, in one place: the pair type, the in-process pool
//! (refill threads, pool file), the shared pool in the store, and the chain that draws from
//! them fastest first, behind one call ([`Sources::draw`]).

pub mod journal;
pub mod pair;
pub mod pool;
mod pool_file;
pub mod shared;
pub mod spec;

use std::sync::Arc;

pub use pair::WrappingKeyPair;
pub use pool::{KeySource, PoolConfig, WrappingKeyPool};
pub use shared::SharedTopUp;
pub use spec::{PerSpec, PooledSpec};

use crate::crypto::seal::Sealer;
use crate::domain::spec::WrappingKeySpec;
use crate::store::KeyStore;

/// Where a process gets wrapping keys from.
pub struct Sources<'a> {
    pub pool: &'a WrappingKeyPool,
    pub store: &'a dyn KeyStore,
    pub sealer: &'a Sealer,
    /// Refills the shared pool when a claim finds it low (off: `None`).
    pub top_up: Option<&'a Arc<SharedTopUp>>,
}

impl Sources<'_> {
    /// A wrapping key pair, fastest source first: the in-process pool, then the shared pool
    /// in the store (a fresh instance's first requests), then the pool's own fallback
    /// (generation, or reuse when asked for).
    pub async fn draw(&self, spec: WrappingKeySpec) -> (Arc<WrappingKeyPair>, KeySource) {
        if let Some(hit) = self.pool.take_ready(spec) {
            return hit;
        }
        let claimed = shared::claim(self.store, self.sealer, spec).await;
        if let Some(top_up) = self.top_up {
            top_up.after_claim(spec);
        }
        if let Some(pair) = claimed {
            self.pool.record_shared_hit(spec);
            return (Arc::new(pair), KeySource::Shared);
        }
        self.pool.take(spec).await
    }
}
