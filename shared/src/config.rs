//! Configuration from `KMS_MOCK_*` environment variables. A bad value stops start-up with a
//! message naming the variable.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine;

use crate::crypto::seal::SECRET_LEN;
use crate::domain::arn::{is_valid_account, is_valid_region};
use crate::wrapping::{PerSpec, PoolConfig, PooledSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// SQLite file in the data folder, shared by every process using that folder.
    Sqlite,
    /// Per-process memory; gone at exit.
    Memory,
    /// A DynamoDB table ([`Config::dynamodb_table`]), shared by every instance of a deployed
    /// stack (needs the `aws` feature).
    DynamoDb,
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
    /// Open connections at most (`KMS_MOCK_MAX_CONNECTIONS`); past it new ones are closed at
    /// once, and counted again as old ones end.
    pub max_connections: usize,
    /// A connection must deliver a request's whole head within this time of becoming ready
    /// for it, and its body within the same time after (`KMS_MOCK_HEADER_TIMEOUT_SECONDS`).
    /// hyper starts the clock when the connection waits for a request, new or kept alive, so
    /// this is also the idle timeout: idle and slow connections are both closed after it.
    pub header_read_timeout: std::time::Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: std::time::Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub store: StoreKind,
    pub account: String,
    pub region: String,
    pub pool: PoolConfig,
    /// Sealed pool file loaded at start-up and written at shut-down; `None` when off.
    pub pool_file: Option<PathBuf>,
    /// Token-sealing secret given in the environment; else kept in the data folder.
    pub token_secret: Option<[u8; SECRET_LEN]>,
    /// A Secrets Manager secret (ARN or name) whose string is hashed into the token-sealing
    /// secret: how deployed stacks get it without a plain-text value anywhere.
    pub token_secret_id: Option<String>,
    /// The table of the DynamoDB store.
    pub dynamodb_table: String,
    /// How many sealed pairs of RSA_2048, RSA_3072, RSA_4096 the `pool-refill` function keeps
    /// in the store's shared pool.
    pub shared_pool_targets: PerSpec<usize>,
    /// Whether a process that finds the shared pool low (a claim leaves it under half its
    /// target) tops it up itself, between scheduled `pool-refill` runs.
    pub shared_pool_top_up: bool,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// Enables `/_kms_mock/clock`, which moves the mock's clock (for expiry tests).
    pub debug_api: bool,
    /// How long an accepted RotateKeyOnDemand takes to complete.
    pub rotation_delay: std::time::Duration,
    pub door: Door,
    pub limits: ConnectionLimits,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("store", &self.store)
            .field("account", &self.account)
            .field("region", &self.region)
            .field("pool", &self.pool)
            .field("pool_file", &self.pool_file)
            .field("token_secret", &self.token_secret.map(|_| "<set>"))
            .field("log_filter", &self.log_filter)
            .field("log_format", &self.log_format)
            .field("debug_api", &self.debug_api)
            .field("rotation_delay", &self.rotation_delay)
            .field("door", &self.door)
            .field("limits", &self.limits)
            .finish()
    }
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
            None | Some("sqlite") => StoreKind::Sqlite,
            Some("memory") => StoreKind::Memory,
            Some("dynamodb") => StoreKind::DynamoDb,
            Some(v) => {
                return Err(bad(
                    "KMS_MOCK_STORE",
                    v,
                    "expected sqlite, memory or dynamodb",
                ));
            }
        };
        let dynamodb_table = or_default("KMS_MOCK_DYNAMODB_TABLE", "kms-import-mock");

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
        let pool_file = match var("KMS_MOCK_POOL_FILE") {
            Some(v) if v.trim() == "off" => None,
            Some(v) => Some(PathBuf::from(v)),
            None => Some(data_dir.join("wrapping-key-pool.sealed")),
        };

        let token_secret = match var("KMS_MOCK_TOKEN_SECRET") {
            None => None,
            Some(v) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .ok()
                    .and_then(|b| <[u8; SECRET_LEN]>::try_from(b).ok())
                    .ok_or_else(|| ConfigError {
                        variable: "KMS_MOCK_TOKEN_SECRET",
                        value: "<redacted>".into(),
                        reason: format!("expected base64 of exactly {SECRET_LEN} bytes"),
                    })?,
            ),
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

        // The sidecar starts its endpoint on a private socket, and a function behind the
        // sidecar's extension is pointed at it: both are behind the sidecar.
        let door = if var("KMS_MOCK_ENDPOINT_SOCKET").is_some()
            || (var("KMS_POLICY_PROXY").is_some() && var("AWS_LAMBDA_RUNTIME_API").is_some())
        {
            Door::Sidecar
        } else {
            Door::Open
        };
        let limit_defaults = ConnectionLimits::default();
        let limits = ConnectionLimits {
            max_connections: match count(
                "KMS_MOCK_MAX_CONNECTIONS",
                limit_defaults.max_connections,
            )? {
                0 => return Err(bad("KMS_MOCK_MAX_CONNECTIONS", "0", "expected at least 1")),
                n => n,
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
        };

        Ok(Config {
            door,
            limits,
            listen,
            data_dir,
            store,
            account,
            region,
            pool,
            pool_file,
            token_secret,
            token_secret_id: var("KMS_MOCK_TOKEN_SECRET_ID").filter(|v| !v.trim().is_empty()),
            dynamodb_table,
            shared_pool_targets: PerSpec::new(
                count("KMS_MOCK_SHARED_POOL_RSA_2048", 16)?,
                count("KMS_MOCK_SHARED_POOL_RSA_3072", 8)?,
                count("KMS_MOCK_SHARED_POOL_RSA_4096", 16)?,
            ),
            shared_pool_top_up: flag("KMS_MOCK_SHARED_POOL_TOP_UP")?,
            log_filter,
            log_format,
            debug_api: flag("KMS_MOCK_DEBUG_API")?,
            rotation_delay: std::time::Duration::from_secs(count(
                "KMS_MOCK_ROTATION_DELAY_SECONDS",
                0,
            )? as u64),
        })
    }

    /// Installs the global tracing subscriber (text or JSON lines on stderr).
    pub fn init_logging(&self) {
        let filter = tracing_subscriber::EnvFilter::new(&self.log_filter);
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        let _ = match self.log_format {
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
        assert_eq!(c.listen.to_string(), "127.0.0.1:4599");
        assert_eq!(c.account, "111122223333");
        assert_eq!(c.region, "us-east-1");
        assert_eq!(c.store, StoreKind::Sqlite);
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
        assert_eq!(c.listen.port(), 9);
        assert_eq!(c.region, "cn-north-1");
        assert_eq!(c.pool.targets[PooledSpec::Rsa2048], 2);
        assert!(c.pool.reuse);
        assert_eq!(c.pool_file, None);
        assert_eq!(c.store, StoreKind::Memory);
        assert_eq!(c.token_secret, Some([7u8; 32]));
        assert!(!format!("{c:?}").contains("7, 7"));
    }

    #[test]
    fn deployed_stack_settings() {
        let c = cfg(&[]).unwrap();
        assert_eq!(
            (
                c.dynamodb_table.as_str(),
                c.shared_pool_targets,
                c.token_secret_id
            ),
            ("kms-import-mock", PerSpec::new(16, 8, 16), None)
        );
        assert!(!c.shared_pool_top_up);
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
        assert_eq!(c.store, StoreKind::DynamoDb);
        assert_eq!(c.dynamodb_table, "t1");
        assert_eq!(c.shared_pool_targets, PerSpec::new(16, 8, 3));
        assert!(c.shared_pool_top_up);
        assert_eq!(
            c.token_secret_id.as_deref(),
            Some("arn:aws:secretsmanager:us-east-1:1:secret:s")
        );
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
