//! GenerateRandom: random bytes, from no key (IAM policy only). Texts AWS-validated
//! (`kms-api-facts.md` §2.4).

use serde::{Deserialize, Serialize};

use super::custom_key_stores::no_such_store;
use super::usage::recipient_unsupported;
use super::{Kms, RequestContext};
use crate::crypto::fill_random;
use crate::error::{KmsError, KmsResult};
use crate::protocol::blob::Blob;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GenerateRandomRequest {
    /// 1..1024, checked with the body (the model's range); optional in the model, required by
    /// the service.
    number_of_bytes: Option<u32>,
    custom_key_store_id: Option<String>,
    recipient: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GenerateRandomResponse {
    plaintext: Blob,
}

impl Kms {
    pub(super) async fn generate_random(
        &self,
        _ctx: &RequestContext,
        r: GenerateRandomRequest,
    ) -> KmsResult<GenerateRandomResponse> {
        if let Some(id) = &r.custom_key_store_id {
            return Err(no_such_store(id));
        }
        let n = r
            .number_of_bytes
            .ok_or_else(|| KmsError::validation("NumberOfBytes is required."))?;
        recipient_unsupported(&r.recipient)?;
        let mut bytes = vec![0u8; n as usize];
        fill_random(&mut bytes);
        Ok(GenerateRandomResponse {
            plaintext: Blob(bytes),
        })
    }
}
