//! Tops up the shared wrapping-key pool in the store to `KMS_MOCK_SHARED_POOL_RSA_*` sealed
//! pairs per spec, so fresh instances answer GetParametersForImport without generating.
//!
//! In Lambda (an EventBridge schedule in the template) every event runs one top-up; anywhere
//! else it runs once and prints what it did, e.g. before a test run on the embedded store.
//! The result: `{"added": {"RSA_2048": n, ...}, "ready": {"RSA_2048": n, ...}}`.

use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Map, Value, json};
use shared::KeyStore;
use shared::PerSpec;
use shared::Sealer;
use shared::{Config, Front};

struct Refill {
    store: Arc<dyn KeyStore>,
    sealer: Arc<Sealer>,
    targets: PerSpec<usize>,
    parallel: usize,
}

impl Refill {
    async fn run(&self) -> Result<Value, String> {
        let (mut added, mut ready) = (Map::new(), Map::new());
        for (spec, &target) in self.targets.iter() {
            let spec = spec.spec();
            let n = shared::top_up_shared_pool(
                self.store.clone(),
                self.sealer.clone(),
                spec,
                target,
                self.parallel,
            )
            .await
            .map_err(|e| e.to_string())?;
            added.insert(spec.as_str().into(), n.into());
            let count = self
                .store
                .count_pool_keys(spec)
                .await
                .map_err(|e| e.to_string())?;
            ready.insert(spec.as_str().into(), count.into());
        }
        Ok(json!({"added": added, "ready": ready}))
    }
}

fn main() {
    let config = Config::from_env().unwrap_or_else(|e| fail(e));
    config.init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        let refill = Refill {
            store: shared::open_store(&config).unwrap_or_else(|e| fail(e)),
            sealer: Arc::new(Sealer::new(
                &shared::token_secret(&config)
                    .await
                    .unwrap_or_else(|e| fail(e)),
            )),
            targets: config.shared_pool.targets,
            parallel: std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if matches!(config.front, Front::Lambda { .. }) {
            let refill = &refill;
            lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async move {
                refill.run().await.map_err(Diagnostic::from)
            }))
            .await
            .map_err(|e| e.to_string())
        } else {
            refill.run().await.map(|out| println!("{out}"))
        }
    });
    shared::exit_with("pool-refill", result);
}

fn fail(message: impl std::fmt::Display) -> ! {
    shared::exit_unstarted("pool-refill", message)
}
