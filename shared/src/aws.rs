//! The AWS SDK's configuration (region, credentials, `AWS_ENDPOINT_URL_*`), loaded once per
//! process for every client a deployed stack uses: the DynamoDB store and Secrets Manager.

use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

use crate::crypto::seal::SECRET_LEN;

static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();

/// The standard configuration chain (environment, profile, Lambda's role credentials).
pub async fn sdk_config() -> &'static SdkConfig {
    CONFIG
        .get_or_init(|| aws_config::load_defaults(BehaviorVersion::latest()))
        .await
}

/// The token-sealing secret from a Secrets Manager secret: its string, hashed, so whatever
/// Secrets Manager generated becomes 32 key bytes.
pub async fn secret_from_secrets_manager(id: &str) -> Result<[u8; SECRET_LEN], String> {
    let out = aws_sdk_secretsmanager::Client::new(sdk_config().await)
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| {
            format!(
                "KMS_MOCK_TOKEN_SECRET_ID={id}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        })?;
    let text = out
        .secret_string()
        .ok_or_else(|| format!("KMS_MOCK_TOKEN_SECRET_ID={id}: the secret has no string"))?;
    Ok(crate::crypto::seal::secret_from_text(text))
}
