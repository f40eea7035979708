//! Reading a KMS JSON 1.1 request: the target header names the operation, the body is a JSON
//! object checked against the operation's input shape, then read into a typed request.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::model::Model;
use super::operation::Operation;
use super::validate::validate;
use crate::error::{ErrorCode, KmsError, KmsResult};

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
pub const TARGET_HEADER: &str = "x-amz-target";
pub const TARGET_PREFIX: &str = "TrentService.";

/// The operation named by `X-Amz-Target`.
///
/// A missing header, another service's prefix or a name KMS does not have is
/// `UnknownOperationException` (sent without a message). An operation KMS has but this mock
/// does not serve is `UnsupportedOperationException`, saying so.
pub fn operation(target: Option<&str>) -> KmsResult<Operation> {
    let unknown = || KmsError::bare(ErrorCode::UnknownOperation);
    let name = target
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .ok_or_else(unknown)?;
    if let Ok(op) = name.parse::<Operation>() {
        return Ok(op);
    }
    if Model::get().has_operation(name) {
        return Err(KmsError::unsupported(format!(
            "{name} is not implemented by kms-import-mock."
        )));
    }
    Err(unknown())
}

/// The request body as JSON, checked against the operation's input shape. An empty body reads
/// as `{}`.
pub fn body(op: Operation, raw: &[u8]) -> KmsResult<Value> {
    let value: Value = if raw.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(raw).map_err(|e| {
            KmsError::new(
                ErrorCode::Serialization,
                format!("Request body is not valid JSON: {e}"),
            )
        })?
    };
    validate(op.input_shape(), &value)?;
    Ok(value)
}

/// Reads a validated body into its typed request.
pub fn decode<T: DeserializeOwned>(value: Value) -> KmsResult<T> {
    serde_json::from_value(value).map_err(|e| {
        // Validation has already checked every member's type; reaching this is a mock bug.
        KmsError::new(ErrorCode::Serialization, e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_header() {
        assert_eq!(
            operation(Some("TrentService.GetParametersForImport")),
            Ok(Operation::GetParametersForImport)
        );
        for bad in [
            None,
            Some("GetParametersForImport"),
            Some("DynamoDB_20120810.GetItem"),
            Some("TrentService.Nope"),
            Some("TrentService."),
            Some("trentservice.CreateKey"),
        ] {
            assert_eq!(
                operation(bad),
                Err(KmsError::bare(ErrorCode::UnknownOperation)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(
            body(Operation::ListKeys, b"").unwrap(),
            serde_json::json!({})
        );
        assert_eq!(
            body(Operation::ListKeys, b" {} ").unwrap(),
            serde_json::json!({})
        );
        assert_eq!(
            body(Operation::ListKeys, b"{not json").unwrap_err().code,
            ErrorCode::Serialization
        );
        assert_eq!(
            body(Operation::ListKeys, b"[]").unwrap_err().code,
            ErrorCode::Serialization
        );
        assert_eq!(
            body(Operation::DescribeKey, b"{}").unwrap_err().code,
            ErrorCode::Validation
        );
    }
}
