//! Why a key refuses an operation, in AWS's words: its state, its origin, its spec.

use super::spec::{KeySpec, KeyState, Origin};
use crate::error::{ErrorCode, KmsError};

/// "<ARN> is pending deletion." and friends: why a key's state refuses an operation, in AWS's
/// words (the key-state table's footnotes).
pub fn state_error(arn: &str, state: KeyState) -> KmsError {
    match state {
        KeyState::PendingDeletion => KmsError::invalid_state(format!("{arn} is pending deletion.")),
        KeyState::PendingImport => KmsError::invalid_state(format!("{arn} is pending import.")),
        KeyState::Disabled => KmsError::new(ErrorCode::Disabled, format!("{arn} is disabled.")),
        // "is Creating." and the like: AWS's texts for the other states were not captured.
        other => KmsError::invalid_state(format!("{arn} is {other}.")),
    }
}

/// "<ARN> origin is AWS_KMS which is not valid for this operation.": the import operations on
/// a key whose material KMS made, and rotation settings on an imported key.
pub fn origin_error(arn: &str, origin: Origin) -> KmsError {
    KmsError::unsupported(format!(
        "{arn} origin is {origin} which is not valid for this operation."
    ))
}

/// "<ARN> key spec is HMAC_256 which is not valid for this operation.": operations for other
/// kinds of key. AWS's text was not captured; this follows the form of its origin refusal.
pub fn spec_error(arn: &str, spec: KeySpec) -> KmsError {
    KmsError::unsupported(format!(
        "{arn} key spec is {spec} which is not valid for this operation."
    ))
}
