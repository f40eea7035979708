//! Blobs travel as base64 strings in KMS JSON.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes that are base64 on the wire. `Debug` shows only the length, so key material and
/// tokens cannot reach a log through it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Blob(pub Vec<u8>);

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        B64.decode(s.as_bytes())
            .map(Blob)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_both_ways_and_quiet_debug() {
        let b = Blob(b"secret".to_vec());
        let s = serde_json::to_string(&b).unwrap();
        assert_eq!(s, "\"c2VjcmV0\"");
        assert_eq!(serde_json::from_str::<Blob>(&s).unwrap(), b);
        assert_eq!(format!("{b:?}"), "Blob(6 bytes)");
        assert!(serde_json::from_str::<Blob>("\"***\"").is_err());
    }
}
