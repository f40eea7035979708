//! Configuration from `KMS_MOCK_*` environment variables. A bad value stops start-up with a
//! message naming the variable.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine;

use crate::crypto::seal::SECRET_LEN;
use crate::domain::arn::{Scope, is_valid_account, is_valid_region};
use crate::wrapping::{PerSpec, PoolConfig, PooledSpec};

/// Where keys live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// An SQLite file in the data folder, shared by every process using that folder.
    Sqlite {
        file: PathBuf,
        synchronous: Synchronous,
    },
    /// Per-process memory; gone at exit.
    Memory,
    /// A DynamoDB table, shared by every instance of a deployed stack (needs the `aws`
    /// feature).
    DynamoDb { table: String },
}

/// What a write the SQLite store acknowledged survives (`KMS_MOCK_SQLITE_SYNCHRONOUS`, SQLite's
/// own names). Both survive a crash of the process, and neither can corrupt the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// The default: the WAL is synced at checkpoints only, so a power loss or a crash of the
    /// operating system may take back the last acknowledged writes.
    Normal,
    /// Every commit is synced before it is acknowledged: it survives a power loss too.
    Full,
}

impl Synchronous {
    pub fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// The 32-byte token-sealing secret, which `Debug` never shows.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(pub [u8; SECRET_LEN]);

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the token-sealing secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Given in `KMS_MOCK_TOKEN_SECRET`.
    Inline(SecretBytes),
    /// A Secrets Manager secret (ARN or name) whose string is hashed into the secret: how
    /// deployed stacks get it without a plain-text value anywhere.
    SecretsManager(String),
    /// Kept in this file of the data folder, created on first start.
    DataDir(PathBuf),
}

/// How requests reach this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Front {
    /// Inside Lambda: invocations come from the Runtime API, or through the policy sidecar's
    /// Runtime API proxy (`KMS_POLICY_PROXY`) when the sidecar runs as an extension.
    Lambda {
        runtime_api: String,
        via_proxy: Option<String>,
    },
    /// Plain HTTP on `listen`, or on the sidecar's private socket when the sidecar started
    /// this endpoint (`KMS_MOCK_ENDPOINT_SOCKET`).
    Http {
        listen: SocketAddr,
        socket: Option<PathBuf>,
    },
}

impl Front {
    /// Who may call: behind the sidecar (its socket, or its extension's proxy), or anyone.
    pub fn door(&self) -> Door {
        match self {
            Front::Lambda {
                via_proxy: Some(_), ..
            }
            | Front::Http {
                socket: Some(_), ..
            } => Door::Sidecar,
            _ => Door::Open,
        }
    }
}

/// The store's shared wrapping-key pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedPoolConfig {
    /// Sealed pairs per spec the `pool-refill` function keeps in the store.
    pub targets: PerSpec<usize>,
    /// Whether a process that finds the shared pool low (a claim leaves it under half its
    /// target) tops it up itself, between scheduled `pool-refill` runs.
    pub top_up: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub filter: String,
    pub format: LogFormat,
}

/// Who may call the endpoint, and so whom it believes about the caller and the Region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// Run alone: anyone reaches it, unauthenticated. The Region is the SigV4 credential's,
    /// read by the same parser the sidecar uses.
    Open,
    /// Behind the policy sidecar (it started this endpoint on its private socket, or this is
    /// a function behind the sidecar's extension): only what the sidecar decided counts, and a
    /// request without its decision is refused.
    Sidecar,
}

/// Bounds on the connections a listening server holds, so that a flood of idle or slow
/// connections cannot use up descriptors or stop service for longer than it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most; past it new ones are closed at once, and counted again as old
    /// ones end.
    pub max_connections: MaxConnections,
    /// A connection must deliver a request's whole head within this time of becoming ready
    /// for it, and its body within the same time after (`KMS_MOCK_HEADER_TIMEOUT_SECONDS`).
    /// hyper starts the clock when the connection waits for a request, new or kept alive, so
    /// this is also the idle timeout: idle and slow connections are both closed after it.
    pub header_read_timeout: std::time::Duration,
    /// After SIGTERM or SIGINT, how long requests in flight may take to finish before their
    /// connections are closed anyway (`KMS_MOCK_SHUTDOWN_GRACE_SECONDS`).
    pub shutdown_grace: std::time::Duration,
}

/// A server's connection limit, and whether it may be lowered to fit the open-file limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxConnections {
    /// The default, 1,024, lowered at start to what the open-file limit leaves room for
    /// (`server::fit_to_descriptors`).
    Fitted(usize),
    /// Set in `KMS_MOCK_MAX_CONNECTIONS`: taken as given.
    Exactly(usize),
}

impl MaxConnections {
    pub fn get(self) -> usize {
        match self {
            MaxConnections::Fitted(n) | MaxConnections::Exactly(n) => n,
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: MaxConnections::Fitted(1024),
            header_read_timeout: std::time::Duration::from_secs(30),
            shutdown_grace: std::time::Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting of a function binary, by part; each part's variables are read here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub front: Front,
    /// The configured account, and the Region of requests that name none.
    pub scope: Scope,
    /// Folder of the embedded store, the token secret and the pool file.
    pub data_dir: PathBuf,
    pub store: StoreConfig,
    pub secret: SecretSource,
    pub pool: PoolConfig,
    /// Sealed pool file loaded at start-up and written at shut-down; `None` when off.
    pub pool_file: Option<PathBuf>,
    /// `KMS_MOCK_POOL_WARM_SECONDS`: start serving only once the pool is full, or after this
    /// long (CI jobs that prefer a slower start to any request waiting for a key).
    pub pool_warm: std::time::Duration,
    pub shared_pool: SharedPoolConfig,
    pub log: LogConfig,
    /// Enables `/_kms_mock/clock`, which moves the mock's clock (for expiry tests).
    pub debug_api: bool,
    /// How long on-demand rotations and multi-Region changes take to complete.
    pub delays: crate::clock::Delays,
    pub limits: ConnectionLimits,
    /// `TOKIO_WORKER_THREADS`, when set (tokio reads it itself; this says whether it is).
    pub worker_threads: Option<String>,
    /// `KMS_MOCK_SEED`: a seed file of keys created at start (see `seed`).
    pub seed: Option<PathBuf>,
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}={:?}: {}",
            self.variable, self.value, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4599";
pub const DEFAULT_ACCOUNT: &str = "111122223333";
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_DATA_DIR: &str = ".kms-mock";
pub const LAMBDA_DATA_DIR: &str = "/tmp/kms-mock";

/// A switch as the variables write it: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.
pub fn parse_flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds the configuration from any variable lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &'static str| get(name).filter(|v| !v.trim().is_empty());
        let bad = |variable: &'static str, value: &str, reason: &str| ConfigError {
            variable,
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let or_default =
            |name: &'static str, default: &str| var(name).unwrap_or_else(|| default.to_string());
        let count = |name: &'static str, default: usize| -> Result<usize, ConfigError> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= 100_000)
                    .ok_or_else(|| bad(name, &v, "expected a whole number from 0 to 100000")),
            }
        };
        let flag = |name: &'static str| -> Result<bool, ConfigError> {
            match var(name) {
                None => Ok(false),
                Some(v) => parse_flag(&v).ok_or_else(|| bad(name, &v, "expected true or false")),
            }
        };

        let listen_s = or_default("KMS_MOCK_LISTEN", DEFAULT_LISTEN);
        let listen = listen_s.parse().map_err(|_| {
            bad(
                "KMS_MOCK_LISTEN",
                &listen_s,
                "expected host:port, e.g. 127.0.0.1:4599",
            )
        })?;

        // Inside Lambda only /tmp is writable.
        let default_data = if get("AWS_LAMBDA_FUNCTION_NAME").is_some() {
            LAMBDA_DATA_DIR
        } else {
            DEFAULT_DATA_DIR
        };
        let data_dir = PathBuf::from(or_default("KMS_MOCK_DATA", default_data));

        let store = match var("KMS_MOCK_STORE").as_deref().map(str::trim) {
            None | Some("sqlite") => StoreConfig::Sqlite {
                file: data_dir.join("store.sqlite3"),
                synchronous: match var("KMS_MOCK_SQLITE_SYNCHRONOUS")
                    .map(|v| v.trim().to_ascii_lowercase())
                    .as_deref()
                {
                    None | Some("normal") => Synchronous::Normal,
                    Some("full") => Synchronous::Full,
                    Some(v) => {
                        return Err(bad(
                            "KMS_MOCK_SQLITE_SYNCHRONOUS",
                            v,
                            "expected normal or full",
                        ));
                    }
                },
            },
            Some("memory") => StoreConfig::Memory,
            Some("dynamodb") => StoreConfig::DynamoDb {
                table: or_default("KMS_MOCK_DYNAMODB_TABLE", "kms-import-mock"),
            },
            Some(v) => {
                return Err(bad(
                    "KMS_MOCK_STORE",
                    v,
                    "expected sqlite, memory or dynamodb",
                ));
            }
        };

        let account = or_default("KMS_MOCK_ACCOUNT", DEFAULT_ACCOUNT);
        if !is_valid_account(&account) {
            return Err(bad(
                "KMS_MOCK_ACCOUNT",
                &account,
                "expected a 12-digit account id",
            ));
        }
        let region = or_default("KMS_MOCK_REGION", DEFAULT_REGION);
        if !is_valid_region(&region) {
            return Err(bad(
                "KMS_MOCK_REGION",
                &region,
                "expected a region name such as us-east-1",
            ));
        }

        let defaults = PoolConfig::default();
        let pool = PoolConfig {
            targets: PerSpec::new(
                count(
                    "KMS_MOCK_POOL_RSA_2048",
                    defaults.targets[PooledSpec::Rsa2048],
                )?,
                count(
                    "KMS_MOCK_POOL_RSA_3072",
                    defaults.targets[PooledSpec::Rsa3072],
                )?,
                count(
                    "KMS_MOCK_POOL_RSA_4096",
                    defaults.targets[PooledSpec::Rsa4096],
                )?,
            ),
            refill_threads: count("KMS_MOCK_POOL_THREADS", defaults.refill_threads)?,
            reuse: flag("KMS_MOCK_POOL_REUSE")?,
        };
        let pool_warm =
            std::time::Duration::from_secs(count("KMS_MOCK_POOL_WARM_SECONDS", 0)? as u64);
        let pool_file = match var("KMS_MOCK_POOL_FILE") {
            Some(v) if v.trim() == "off" => None,
            Some(v) => Some(PathBuf::from(v)),
            None => Some(data_dir.join("wrapping-key-pool.sealed")),
        };

        // The first that is set: inline, Secrets Manager, else the data folder's file.
        let secret = match (
            var("KMS_MOCK_TOKEN_SECRET"),
            var("KMS_MOCK_TOKEN_SECRET_ID"),
        ) {
            (Some(v), _) => SecretSource::Inline(SecretBytes(
                base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .ok()
                    .and_then(|b| <[u8; SECRET_LEN]>::try_from(b).ok())
                    .ok_or_else(|| ConfigError {
                        variable: "KMS_MOCK_TOKEN_SECRET",
                        value: "<redacted>".into(),
                        reason: format!("expected base64 of exactly {SECRET_LEN} bytes"),
                    })?,
            )),
            (None, Some(id)) => SecretSource::SecretsManager(id.trim().to_string()),
            (None, None) => SecretSource::DataDir(data_dir.join("token-secret")),
        };

        let log_filter = var("KMS_MOCK_LOG").unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_filter).is_err() {
            return Err(bad(
                "KMS_MOCK_LOG",
                &log_filter,
                "expected a level (info, debug, ...) or a tracing filter",
            ));
        }
        let log_format = match var("KMS_MOCK_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(v) => return Err(bad("KMS_MOCK_LOG_FORMAT", v, "expected text or json")),
        };

        // Inside Lambda, invocations come from the Runtime API; behind the sidecar's extension,
        // through its proxy. Elsewhere, plain HTTP, on the sidecar's private socket when the
        // sidecar started this process.
        let front = match var("AWS_LAMBDA_RUNTIME_API") {
            Some(runtime_api) => Front::Lambda {
                runtime_api: runtime_api.trim().to_string(),
                via_proxy: var("KMS_POLICY_PROXY").map(|p| p.trim().to_string()),
            },
            None => Front::Http {
                listen,
                socket: get("KMS_MOCK_ENDPOINT_SOCKET")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from),
            },
        };
        let limit_defaults = ConnectionLimits::default();
        let limits = ConnectionLimits {
            max_connections: match var("KMS_MOCK_MAX_CONNECTIONS") {
                None => limit_defaults.max_connections,
                Some(_) => match count(
                    "KMS_MOCK_MAX_CONNECTIONS",
                    limit_defaults.max_connections.get(),
                )? {
                    0 => return Err(bad("KMS_MOCK_MAX_CONNECTIONS", "0", "expected at least 1")),
                    n => MaxConnections::Exactly(n),
                },
            },
            header_read_timeout: match count(
                "KMS_MOCK_HEADER_TIMEOUT_SECONDS",
                limit_defaults.header_read_timeout.as_secs() as usize,
            )? {
                0 => {
                    return Err(bad(
                        "KMS_MOCK_HEADER_TIMEOUT_SECONDS",
                        "0",
                        "expected at least 1 second",
                    ));
                }
                n => std::time::Duration::from_secs(n as u64),
            },
            shutdown_grace: std::time::Duration::from_secs(count(
                "KMS_MOCK_SHUTDOWN_GRACE_SECONDS",
                limit_defaults.shutdown_grace.as_secs() as usize,
            )? as u64),
        };

        Ok(Config {
            front,
            scope: Scope::new(account, region),
            data_dir,
            store,
            secret,
            pool,
            pool_file,
            pool_warm,
            shared_pool: SharedPoolConfig {
                targets: PerSpec::new(
                    count("KMS_MOCK_SHARED_POOL_RSA_2048", 16)?,
                    count("KMS_MOCK_SHARED_POOL_RSA_3072", 8)?,
                    count("KMS_MOCK_SHARED_POOL_RSA_4096", 16)?,
                ),
                top_up: flag("KMS_MOCK_SHARED_POOL_TOP_UP")?,
            },
            log: LogConfig {
                filter: log_filter,
                format: log_format,
            },
            debug_api: flag("KMS_MOCK_DEBUG_API")?,
            delays: crate::clock::Delays {
                rotation: std::time::Duration::from_secs(count(
                    "KMS_MOCK_ROTATION_DELAY_SECONDS",
                    0,
                )? as u64),
                multi_region: std::time::Duration::from_secs(count(
                    "KMS_MOCK_MULTI_REGION_DELAY_SECONDS",
                    2,
                )? as u64),
            },
            limits,
            worker_threads: var("TOKIO_WORKER_THREADS"),
            seed: var("KMS_MOCK_SEED").map(|v| PathBuf::from(v.trim())),
        })
    }

    /// Installs the global tracing subscriber (text or JSON lines on stderr).
    pub fn init_logging(&self) {
        let filter = tracing_subscriber::EnvFilter::new(&self.log.filter);
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        let _ = match self.log.format {
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
            LogFormat::Text => builder.try_init(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]).unwrap();
        let Front::Http { listen, socket } = &c.front else {
            panic!("plain HTTP outside Lambda");
        };
        assert_eq!(
            (listen.to_string().as_str(), socket),
            ("127.0.0.1:4599", &None)
        );
        assert_eq!(c.front.door(), Door::Open);
        assert_eq!(c.scope.account, "111122223333");
        assert_eq!(c.scope.region, "us-east-1");
        assert_eq!(
            c.store,
            StoreConfig::Sqlite {
                file: PathBuf::from(".kms-mock/store.sqlite3"),
                synchronous: Synchronous::Normal,
            }
        );
        assert_eq!(
            c.secret,
            SecretSource::DataDir(PathBuf::from(".kms-mock/token-secret"))
        );
        assert_eq!(c.pool, PoolConfig::default());
        assert_eq!(
            c.pool_file,
            Some(PathBuf::from(".kms-mock/wrapping-key-pool.sealed"))
        );
        assert!(!c.debug_api);
        let c = cfg(&[("AWS_LAMBDA_FUNCTION_NAME", "kms-api")]).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/kms-mock"));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("KMS_MOCK_LISTEN", "nowhere"),
            ("KMS_MOCK_ACCOUNT", "1234"),
            ("KMS_MOCK_REGION", "mars"),
            ("KMS_MOCK_POOL_RSA_4096", "-1"),
            ("KMS_MOCK_POOL_REUSE", "maybe"),
            ("KMS_MOCK_STORE", "redis"),
            ("KMS_MOCK_LOG_FORMAT", "xml"),
            ("KMS_MOCK_TOKEN_SECRET", "c2hvcnQ="),
            ("KMS_MOCK_ROTATION_DELAY_SECONDS", "soon"),
            ("KMS_MOCK_MULTI_REGION_DELAY_SECONDS", "-2"),
            ("KMS_MOCK_SQLITE_SYNCHRONOUS", "off"),
            ("KMS_MOCK_SHUTDOWN_GRACE_SECONDS", "later"),
        ] {
            let e = cfg(&[(var, value)]).unwrap_err();
            assert_eq!(e.variable, var);
            assert!(e.to_string().starts_with(&format!("invalid {var}=")), "{e}");
        }
        let e = cfg(&[("KMS_MOCK_TOKEN_SECRET", "c2hvcnQ=")]).unwrap_err();
        assert!(!e.to_string().contains("c2hvcnQ"), "secrets are not echoed");
    }

    #[test]
    fn overrides() {
        let secret = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let c = cfg(&[
            ("KMS_MOCK_LISTEN", "0.0.0.0:9"),
            ("KMS_MOCK_REGION", "cn-north-1"),
            ("KMS_MOCK_POOL_RSA_2048", "2"),
            ("KMS_MOCK_POOL_REUSE", "true"),
            ("KMS_MOCK_POOL_FILE", "off"),
            ("KMS_MOCK_STORE", "memory"),
            ("KMS_MOCK_TOKEN_SECRET", &secret),
        ])
        .unwrap();
        assert!(matches!(c.front, Front::Http { listen, .. } if listen.port() == 9));
        assert_eq!(c.scope.region, "cn-north-1");
        assert_eq!(c.pool.targets[PooledSpec::Rsa2048], 2);
        assert!(c.pool.reuse);
        assert_eq!(c.pool_file, None);
        assert_eq!(c.store, StoreConfig::Memory);
        assert_eq!(c.secret, SecretSource::Inline(SecretBytes([7u8; 32])));
        assert!(!format!("{c:?}").contains("7, 7"));
        assert!(format!("{c:?}").contains("Inline(<redacted>)"));
    }

    #[test]
    fn durability_and_shutdown_settings() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.limits.shutdown_grace, std::time::Duration::from_secs(10));
        let c = cfg(&[
            ("KMS_MOCK_SQLITE_SYNCHRONOUS", "FULL"),
            ("KMS_MOCK_SHUTDOWN_GRACE_SECONDS", "0"),
        ])
        .unwrap();
        assert_eq!(
            c.store,
            StoreConfig::Sqlite {
                file: PathBuf::from(".kms-mock/store.sqlite3"),
                synchronous: Synchronous::Full,
            }
        );
        assert_eq!(c.limits.shutdown_grace, std::time::Duration::ZERO);
        assert_eq!(Synchronous::Full.pragma(), "FULL");
        assert_eq!(Synchronous::Normal.pragma(), "NORMAL");
    }

    #[test]
    fn deployed_stack_settings() {
        let c = cfg(&[("KMS_MOCK_STORE", "dynamodb")]).unwrap();
        assert_eq!(
            (c.store, c.shared_pool.targets),
            (
                StoreConfig::DynamoDb {
                    table: "kms-import-mock".into()
                },
                PerSpec::new(16, 8, 16)
            )
        );
        assert!(!c.shared_pool.top_up);
        let c = cfg(&[
            ("KMS_MOCK_STORE", "dynamodb"),
            ("KMS_MOCK_DYNAMODB_TABLE", "t1"),
            ("KMS_MOCK_SHARED_POOL_RSA_4096", "3"),
            ("KMS_MOCK_SHARED_POOL_TOP_UP", "true"),
            (
                "KMS_MOCK_TOKEN_SECRET_ID",
                "arn:aws:secretsmanager:us-east-1:1:secret:s",
            ),
        ])
        .unwrap();
        assert_eq!(c.store, StoreConfig::DynamoDb { table: "t1".into() });
        assert_eq!(c.shared_pool.targets, PerSpec::new(16, 8, 3));
        assert!(c.shared_pool.top_up);
        assert_eq!(
            c.secret,
            SecretSource::SecretsManager("arn:aws:secretsmanager:us-east-1:1:secret:s".into())
        );
        // Behind the sidecar: its socket, or its extension's Runtime API proxy.
        let c = cfg(&[("KMS_MOCK_ENDPOINT_SOCKET", "/run/x/endpoint.sock")]).unwrap();
        assert_eq!(c.front.door(), Door::Sidecar);
        let c = cfg(&[
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("KMS_POLICY_PROXY", "127.0.0.1:9009"),
        ])
        .unwrap();
        assert_eq!(
            c.front,
            Front::Lambda {
                runtime_api: "127.0.0.1:9001".into(),
                via_proxy: Some("127.0.0.1:9009".into())
            }
        );
        assert_eq!(c.front.door(), Door::Sidecar);
        let e = cfg(&[("KMS_MOCK_SHARED_POOL_RSA_2048", "-1")]).unwrap_err();
        assert_eq!(e.variable, "KMS_MOCK_SHARED_POOL_RSA_2048");
        let e = cfg(&[("KMS_MOCK_STORE", "redis")]).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("expected sqlite, memory or dynamodb"),
            "{e}"
        );
    }
}
