//! Start-up and shut-down shared by the function binaries: open the store, load the sealing
//! secret, fill the wrapping-key pool (from the saved pool file first), and save the pool again
//! on the way out.

use std::path::PathBuf;
use std::sync::Arc;

#[cfg(feature = "aws")]
use crate::aws::secret_from_secrets_manager;
use crate::clock::Clock;
use crate::config::{Config, SecretSource, StoreConfig};
use crate::crypto::seal::{SECRET_LEN, Sealer, load_or_create_secret};
use crate::domain::arn::Scope;
use crate::endpoint::Endpoint;
use crate::seed::Seed;
use crate::service::Kms;
use crate::store::KeyStore;
use crate::store::memory::MemoryStore;
use crate::store::sqlite::SqliteStore;
use crate::wrapping::WrappingKeyPool;

pub struct App {
    pub endpoint: Endpoint,
    pool_file: Option<PathBuf>,
}

/// The tokio runtime of a function binary. Unless `TOKIO_WORKER_THREADS` says otherwise, it
/// leaves one core per pool refill thread: on a 2-core machine, a second worker thread woken
/// while key generation ran on the other core put the p99 latency of GetParametersForImport at
/// 2 ms instead of 0.3 ms (wrk over loopback, see README).
pub fn runtime(config: &Config) -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.worker_threads.is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        builder.worker_threads(cores.saturating_sub(config.pool.refill_threads).max(1));
    }
    builder.enable_all().build().expect("tokio runtime")
}

/// The store the configuration names (the SQLite file in the data folder is shared by every
/// process using that folder: endpoint and sidecar alike).
pub fn open_store(config: &Config) -> Result<Arc<dyn KeyStore>, String> {
    Ok(match &config.store {
        StoreConfig::Memory => Arc::new(MemoryStore::new()),
        #[cfg(feature = "aws")]
        StoreConfig::DynamoDb { table } => {
            Arc::new(crate::store::dynamodb::DynamoStore::from_env(table.clone()))
        }
        #[cfg(not(feature = "aws"))]
        StoreConfig::DynamoDb { .. } => {
            return Err("KMS_MOCK_STORE=dynamodb needs a build with the `aws` feature".into());
        }
        StoreConfig::Sqlite { file, synchronous } => Arc::new(
            SqliteStore::open(file, *synchronous)
                .map_err(|e| format!("cannot open {}: {e}", file.display()))?,
        ),
    })
}

/// The token-sealing secret: from the environment, from Secrets Manager (deployed stacks), or
/// kept in the data folder (created on first start).
pub async fn token_secret(config: &Config) -> Result<[u8; SECRET_LEN], String> {
    match &config.secret {
        SecretSource::Inline(s) => Ok(s.0),
        SecretSource::SecretsManager(id) => secret_from_secrets_manager(id).await,
        SecretSource::DataDir(path) => {
            load_or_create_secret(path).map_err(|e| format!("token secret {}: {e}", path.display()))
        }
    }
}

#[cfg(not(feature = "aws"))]
async fn secret_from_secrets_manager(_id: &str) -> Result<[u8; SECRET_LEN], String> {
    Err("KMS_MOCK_TOKEN_SECRET_ID needs a build with the `aws` feature".into())
}

/// Ends a binary that could not start (configuration, store, secret): `<name>: <message>` on
/// stderr and exit code 2.
pub fn exit_unstarted(name: &str, message: impl std::fmt::Display) -> ! {
    eprintln!("{name}: {message}");
    std::process::exit(2);
}

/// Ends a binary after its run: exit code 0, or 1 with `<name>: <error>` on stderr.
pub fn exit_with<E: std::fmt::Display>(name: &str, result: Result<(), E>) -> ! {
    if let Err(e) = result {
        eprintln!("{name}: {e}");
        std::process::exit(1);
    }
    std::process::exit(0);
}

/// `kms-api export-seed`: the stored keys of `account` in `regions` as a seed file (JSON), with
/// their material only when `with_material`. Reads the store as the endpoint would open it.
pub async fn export_seed(
    config: &Config,
    account: &str,
    regions: &[String],
    with_material: bool,
) -> Result<String, String> {
    let store = open_store(config)?;
    let secret = token_secret(config).await?;
    let pool = WrappingKeyPool::new(&crate::wrapping::PoolConfig {
        targets: crate::wrapping::PerSpec::new(0, 0, 0),
        refill_threads: 0,
        reuse: false,
    });
    let kms = Kms::new(store, pool, Clock::system(), Arc::new(Sealer::new(&secret)));
    let scopes: Vec<Scope> = regions
        .iter()
        .map(|r| Scope::new(account, r.as_str()))
        .collect();
    let file = kms
        .export_seed(&scopes, with_material)
        .await
        .map_err(|e| e.to_string())?;
    serde_json::to_string_pretty(&file).map_err(|e| e.to_string())
}

impl App {
    /// Builds everything from the configuration; the error says what could not be opened.
    pub async fn start(config: &Config) -> Result<Self, String> {
        crate::crypto::warm_up();
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            format!(
                "cannot create KMS_MOCK_DATA {}: {e}",
                config.data_dir.display()
            )
        })?;
        let store = open_store(config)?;
        let secret = token_secret(config).await?;
        let sealer = Arc::new(Sealer::new(&secret));
        let pool = WrappingKeyPool::new(&config.pool);
        if let Some(file) = &config.pool_file {
            let swept = WrappingKeyPool::sweep_stale(file);
            if swept > 0 {
                tracing::info!(
                    files = swept,
                    "removed temporary pool files of processes that no longer run"
                );
            }
            // Journals of processes that were killed first: then the pool file's keys are
            // journaled too.
            match pool.recover(file, &sealer) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(
                        keys = n,
                        "recovered the wrapping keys of processes that were killed"
                    )
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no pool journal: keys made are lost if the process is killed")
                }
            }
            match pool.load(file, &sealer) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(keys = n, file = %file.display(), "loaded pre-generated wrapping keys")
                }
                Err(e) => tracing::warn!(error = %e, "ignoring unusable pool file"),
            }
        }
        pool.start_refill();
        if !config.pool_warm.is_zero() {
            let (waiting, limit) = (pool.clone(), config.pool_warm);
            let t = std::time::Instant::now();
            let full = tokio::task::spawn_blocking(move || waiting.wait_full(limit))
                .await
                .unwrap_or(false);
            tracing::info!(
                full,
                waited_ms = t.elapsed().as_millis() as u64,
                "KMS_MOCK_POOL_WARM_SECONDS: pool warmed before serving"
            );
        }
        let mut kms = Kms::new(store, pool, Clock::system(), sealer).with_delays(config.delays);
        if config.shared_pool.top_up {
            kms = kms.with_shared_top_up(config.shared_pool.targets);
        }
        if let Some(path) = &config.seed {
            let seed = Seed::read(path, &config.scope).map_err(|e| e.to_string())?;
            let outcome = kms.apply_seed(&seed).await.map_err(|e| e.to_string())?;
            tracing::info!(
                file = %path.display(),
                created = outcome.created,
                unchanged = outcome.unchanged,
                aliases_created = outcome.aliases_created,
                "seed applied"
            );
        }
        Ok(App {
            endpoint: Endpoint::new(
                kms,
                config.scope.clone(),
                config.debug_api,
                config.front.door(),
            ),
            pool_file: config.pool_file.clone(),
        })
    }

    pub fn kms(&self) -> &Kms {
        &self.endpoint.kms
    }

    /// Stops the refill threads, saves the ready keys for the next process and tidies the
    /// store (the SQLite WAL truncated). For a clean exit, after requests have stopped.
    pub async fn stop(&self) {
        let kms = self.kms();
        kms.pool.shutdown();
        if let Some(file) = &self.pool_file {
            match kms.pool.save(file, &kms.sealer) {
                Ok(n) => {
                    tracing::info!(keys = n, file = %file.display(), "saved wrapping keys for the next start")
                }
                Err(e) => tracing::warn!(error = %e, "could not save the pool file"),
            }
        }
        kms.flush_usage().await;
        if let Err(e) = kms.store.close().await {
            tracing::warn!(error = %e, "could not tidy the store at exit");
        }
    }
}
