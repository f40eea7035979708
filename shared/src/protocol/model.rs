//! The KMS service model's input shapes, trimmed from botocore (`shared/model/trim.py`) and
//! embedded, so that request validation follows AWS's own constraints: required members, enum
//! sets, lengths, ranges and patterns.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

const MODEL_JSON: &str = include_str!("../../model/kms-input-shapes.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeType {
    Structure,
    String,
    Blob,
    Integer,
    Long,
    Boolean,
    Timestamp,
    List,
    Map,
}

/// One shape with its constraints.
#[derive(Debug, Deserialize)]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: ShapeType,
    #[serde(default)]
    pub required: Vec<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    pub pattern: Option<String>,
    #[serde(default)]
    pub sensitive: bool,
    /// Structure members as (name, shape), in model order.
    #[serde(default)]
    pub members: Vec<(String, String)>,
    /// List member shape.
    pub member: Option<String>,
    /// Map key and value shapes.
    pub key: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Model {
    /// Operation name → input shape name.
    pub operations: HashMap<String, Option<String>>,
    pub shapes: HashMap<String, Shape>,
}

impl Model {
    pub fn get() -> &'static Model {
        static MODEL: LazyLock<Model> = LazyLock::new(|| {
            serde_json::from_str(MODEL_JSON).expect("embedded KMS model is valid JSON")
        });
        &MODEL
    }

    pub fn shape(&self, name: &str) -> &Shape {
        self.shapes
            .get(name)
            .unwrap_or_else(|| panic!("shape {name} missing from the embedded model"))
    }

    /// Whether AWS KMS has an operation of this name at all.
    pub fn has_operation(&self, name: &str) -> bool {
        self.operations.contains_key(name)
    }

    pub fn input_shape(&self, operation: &str) -> Option<&str> {
        self.operations.get(operation)?.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_model_is_complete() {
        let m = Model::get();
        // Every referenced shape resolves.
        for s in m.shapes.values() {
            for (_, t) in &s.members {
                m.shape(t);
            }
            for t in [&s.member, &s.key, &s.value].into_iter().flatten() {
                m.shape(t);
            }
        }
        let gpfi = m.shape(m.input_shape("GetParametersForImport").unwrap());
        assert_eq!(
            gpfi.required,
            ["KeyId", "WrappingAlgorithm", "WrappingKeySpec"]
        );
        assert_eq!(m.shape("KeyIdType").max, Some(2048));
        assert!(m.has_operation("ImportKeyMaterial"));
        assert!(!m.has_operation("ImportKeyMaterials"));
    }
}
