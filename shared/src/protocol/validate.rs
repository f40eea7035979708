//! The one validation path for request bodies, driven by the embedded service model.
//!
//! Two kinds of failure, as AWS's JSON 1.1 front end reports them:
//! * a member of the wrong JSON type (or a blob that is not base64) cannot be read at all:
//!   `SerializationException`, and nothing else is checked;
//! * constraint violations are collected over the whole request, in model order, and reported
//!   together: `ValidationException` "N validation error(s) detected: Value ... at '...' failed
//!   to satisfy constraint: Member must ...", joined by "; ".

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use base64::Engine;
use regex::Regex;
use serde_json::Value;

use super::model::{Model, Shape, ShapeType};
use crate::error::{ErrorCode, KmsError, KmsResult};

/// Validates `body` against the input shape `shape_name`.
pub fn validate(shape_name: &str, body: &Value) -> KmsResult<()> {
    let model = Model::get();
    let mut v = Validator {
        model,
        violations: Vec::new(),
    };
    v.check(model.shape(shape_name), body, "")?;
    match v.violations.len() {
        0 => Ok(()),
        n => Err(KmsError::validation(format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            v.violations.join("; ")
        ))),
    }
}

/// What a client sees when a value cannot be read as its shape's type.
fn serialization_error(expected: &str, path: &str) -> KmsError {
    // AWS's text for this case was not captured; this wording names the member and the type.
    KmsError::new(
        ErrorCode::Serialization,
        format!("Unexpected value type at '{path}': expected {expected}"),
    )
}

struct Validator<'m> {
    model: &'m Model,
    violations: Vec<String>,
}

impl Validator<'_> {
    fn violation(&mut self, shape: &Shape, value: Option<&Value>, path: &str, constraint: String) {
        let shown = match value {
            None | Some(Value::Null) => "null".to_string(),
            Some(_) if shape.sensitive => "'*** Sensitive Data Redacted ***'".to_string(),
            Some(v) => format!("'{}'", render(shape, v)),
        };
        self.violations.push(format!(
            "Value {shown} at '{path}' failed to satisfy constraint: {constraint}"
        ));
    }

    fn check(&mut self, shape: &Shape, value: &Value, path: &str) -> KmsResult<()> {
        match shape.kind {
            ShapeType::Structure => self.check_structure(shape, value, path),
            ShapeType::String => {
                let s = value
                    .as_str()
                    .ok_or_else(|| serialization_error("a string", path))?;
                if let Some(values) = &shape.enum_values
                    && !values.iter().any(|e| e == s)
                {
                    self.violation(
                        shape,
                        Some(value),
                        path,
                        format!(
                            "Member must satisfy enum value set: [{}]",
                            values.join(", ")
                        ),
                    );
                }
                // Java counts UTF-16 code units.
                self.check_length(shape, value, path, s.encode_utf16().count());
                if let Some(p) = &shape.pattern
                    && !pattern(p).is_match(s)
                {
                    self.violation(
                        shape,
                        Some(value),
                        path,
                        format!("Member must satisfy regular expression pattern: {p}"),
                    );
                }
                Ok(())
            }
            ShapeType::Blob => {
                let s = value
                    .as_str()
                    .ok_or_else(|| serialization_error("a base64 string", path))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|_| serialization_error("a base64 string", path))?;
                self.check_length(shape, value, path, bytes.len());
                Ok(())
            }
            ShapeType::Integer | ShapeType::Long => {
                let n = value
                    .as_i64()
                    .filter(|n| shape.kind == ShapeType::Long || i32::try_from(*n).is_ok())
                    .ok_or_else(|| serialization_error("an integer", path))?;
                if let Some(min) = shape.min.filter(|m| n < *m) {
                    let c = format!("Member must have value greater than or equal to {min}");
                    self.violation(shape, Some(value), path, c);
                }
                if let Some(max) = shape.max.filter(|m| n > *m) {
                    let c = format!("Member must have value less than or equal to {max}");
                    self.violation(shape, Some(value), path, c);
                }
                Ok(())
            }
            ShapeType::Boolean => match value {
                Value::Bool(_) => Ok(()),
                _ => Err(serialization_error("a boolean", path)),
            },
            ShapeType::Timestamp => match value {
                Value::Number(_) => Ok(()),
                _ => Err(serialization_error("a timestamp in epoch seconds", path)),
            },
            ShapeType::List => {
                let items = value
                    .as_array()
                    .ok_or_else(|| serialization_error("a list", path))?;
                self.check_length(shape, value, path, items.len());
                let member = self
                    .model
                    .shape(shape.member.as_deref().expect("list member"));
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}.{}.member", i + 1);
                    if item.is_null() {
                        self.violation(member, None, &p, "Member must not be null".into());
                    } else {
                        self.check(member, item, &p)?;
                    }
                }
                Ok(())
            }
            ShapeType::Map => {
                let entries = value
                    .as_object()
                    .ok_or_else(|| serialization_error("a map", path))?;
                self.check_length(shape, value, path, entries.len());
                let key = self.model.shape(shape.key.as_deref().expect("map key"));
                let val = self.model.shape(shape.value.as_deref().expect("map value"));
                for (k, v) in entries {
                    self.check(key, &Value::String(k.clone()), &format!("{path}.key"))?;
                    if v.is_null() {
                        self.violation(
                            val,
                            None,
                            &format!("{path}.value"),
                            "Member must not be null".into(),
                        );
                    } else {
                        self.check(val, v, &format!("{path}.value"))?;
                    }
                }
                Ok(())
            }
        }
    }

    fn check_structure(&mut self, shape: &Shape, value: &Value, path: &str) -> KmsResult<()> {
        let obj = value
            .as_object()
            .ok_or_else(|| serialization_error("a structure", path))?;
        for (name, member_shape) in &shape.members {
            let member_path = if path.is_empty() {
                lower_first(name)
            } else {
                format!("{path}.{}", lower_first(name))
            };
            let shape_def = self.model.shape(member_shape);
            match obj.get(name) {
                Some(v) if !v.is_null() => self.check(shape_def, v, &member_path)?,
                _ if shape.required.iter().any(|r| r == name) => self.violation(
                    shape_def,
                    None,
                    &member_path,
                    "Member must not be null".into(),
                ),
                _ => {}
            }
        }
        Ok(())
    }

    fn check_length(&mut self, shape: &Shape, value: &Value, path: &str, len: usize) {
        let len = len as i64;
        if let Some(min) = shape.min.filter(|m| len < *m) {
            let c = format!("Member must have length greater than or equal to {min}");
            self.violation(shape, Some(value), path, c);
        }
        if let Some(max) = shape.max.filter(|m| len > *m) {
            let c = format!("Member must have length less than or equal to {max}");
            self.violation(shape, Some(value), path, c);
        }
    }
}

/// How a value is shown inside `Value '...'`.
fn render(shape: &Shape, v: &Value) -> String {
    match (shape.kind, v) {
        (_, Value::String(s)) if shape.kind != ShapeType::Blob => s.clone(),
        (ShapeType::Blob, Value::String(s)) => {
            // The server holds blobs in a java.nio.ByteBuffer and prints that.
            let n = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_or(0, |b| b.len());
            format!("java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]")
        }
        (_, Value::Array(items)) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            format!("[{}]", parts.join(", "))
        }
        (_, other) => other.to_string(),
    }
}

fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Compiled, whole-string-anchored model patterns (Java's `matches()`), cached.
fn pattern(p: &str) -> Regex {
    static CACHE: LazyLock<Mutex<HashMap<String, Regex>>> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(p.to_string())
        .or_insert_with(|| {
            let anchored = format!("^(?:{})$", p.trim_start_matches('^').trim_end_matches('$'));
            Regex::new(&anchored).unwrap_or_else(|e| panic!("model pattern {p}: {e}"))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(shape: &str, v: Value) -> String {
        let e = validate(shape, &v).unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation, "{e}");
        e.message().unwrap().to_string()
    }

    #[test]
    fn valid_request_passes() {
        validate(
            "GetParametersForImportRequest",
            &json!({"KeyId": "k", "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_4096"}),
        )
        .unwrap();
    }

    #[test]
    fn missing_required_members_are_counted() {
        assert_eq!(
            msg("GetParametersForImportRequest", json!({"KeyId": "k"})),
            "2 validation errors detected: \
             Value null at 'wrappingAlgorithm' failed to satisfy constraint: Member must not be null; \
             Value null at 'wrappingKeySpec' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn enum_and_length() {
        assert_eq!(
            msg(
                "GetParametersForImportRequest",
                json!({"KeyId": "", "WrappingAlgorithm": "RSA", "WrappingKeySpec": "RSA_2048"})
            ),
            "2 validation errors detected: \
             Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1; \
             Value 'RSA' at 'wrappingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: \
             [RSAES_PKCS1_V1_5, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1, RSA_AES_KEY_WRAP_SHA_256, SM2PKE]"
        );
        let long = "a".repeat(2049);
        assert!(
            msg("DescribeKeyRequest", json!({"KeyId": long}))
                .ends_with("Member must have length less than or equal to 2048")
        );
    }

    #[test]
    fn integer_range_and_pattern() {
        assert_eq!(
            msg("ListKeysRequest", json!({"Limit": 0})),
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: \
             Member must have value greater than or equal to 1"
        );
        assert_eq!(
            msg(
                "CreateAliasRequest",
                json!({"AliasName": "alias/a b", "TargetKeyId": "k"})
            ),
            "1 validation error detected: Value 'alias/a b' at 'aliasName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
        );
    }

    #[test]
    fn nested_list_members() {
        let m = msg(
            "CreateKeyRequest",
            json!({"Tags": [{"TagKey": "a", "TagValue": "b"}, {"TagKey": ""}]}),
        );
        assert_eq!(
            m,
            "2 validation errors detected: \
             Value '' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must have length greater than or equal to 1; \
             Value null at 'tags.2.member.tagValue' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn wrong_types_are_serialization_errors() {
        for body in [
            json!({"KeyId": 5}),
            json!({"KeyId": ["k"]}),
            json!([1]),
            json!("x"),
        ] {
            let e = validate("DescribeKeyRequest", &body).unwrap_err();
            assert_eq!(e.code, ErrorCode::Serialization, "{body}");
        }
        let e = validate("ListKeysRequest", &json!({"Limit": "10"})).unwrap_err();
        assert_eq!(e.code, ErrorCode::Serialization);
        let e = validate("ListKeysRequest", &json!({"Limit": 1.5})).unwrap_err();
        assert_eq!(e.code, ErrorCode::Serialization);
        let e = validate(
            "ImportKeyMaterialRequest",
            &json!({"KeyId": "k", "ImportToken": "not base64!", "EncryptedKeyMaterial": "AA=="}),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::Serialization);
    }

    #[test]
    fn sensitive_and_blob_values() {
        let m = msg("EncryptRequest", json!({"KeyId": "k", "Plaintext": ""}));
        assert_eq!(
            m,
            "1 validation error detected: Value '*** Sensitive Data Redacted ***' at 'plaintext' \
             failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
        let m = msg(
            "ImportKeyMaterialRequest",
            json!({"KeyId": "k", "ImportToken": "", "EncryptedKeyMaterial": "AA=="}),
        );
        assert_eq!(
            m,
            "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at 'importToken' \
             failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
    }

    #[test]
    fn unknown_members_are_ignored() {
        validate("DescribeKeyRequest", &json!({"KeyId": "k", "Whatever": 1})).unwrap();
    }
}
