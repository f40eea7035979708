//! What the benches share: an external key to import into, the GetParametersForImport body
//! for it, and one call of the endpoint's handler with a ready key in the pool.

use std::hint::black_box;

use criterion::{BatchSize, Bencher};
use shared::Operation;
use shared::WrappingKeyPair;
use shared::WrappingKeySpec;
use shared::{Kms, RequestContext};
use tokio::runtime::Runtime;

/// Creates a key with `Origin=EXTERNAL` and returns its id.
pub fn create_external_key(rt: &Runtime, kms: &Kms, ctx: &RequestContext) -> String {
    let created = rt
        .block_on(kms.call(ctx, Operation::CreateKey, br#"{"Origin":"EXTERNAL"}"#))
        .unwrap();
    let created: serde_json::Value = serde_json::from_slice(&created).unwrap();
    created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A GetParametersForImport body (RSAES_OAEP_SHA_256) for `key_id` and `spec`.
pub fn gpfi_body(key_id: &str, spec: WrappingKeySpec) -> Vec<u8> {
    format!(
        r#"{{"KeyId":"{key_id}","WrappingAlgorithm":"RSAES_OAEP_SHA_256","WrappingKeySpec":"{spec}"}}"#
    )
    .into_bytes()
}

/// Times the whole handler with a warm pool: a ready key is added before each call, outside
/// the timing.
pub fn warm_pool_handler(
    b: &mut Bencher,
    rt: &Runtime,
    kms: &Kms,
    ctx: &RequestContext,
    body: &[u8],
    ready: &WrappingKeyPair,
) {
    b.iter_batched(
        || kms.pool.add_ready([ready.clone()]),
        |()| {
            black_box(
                rt.block_on(kms.call(ctx, Operation::GetParametersForImport, body))
                    .unwrap(),
            )
        },
        BatchSize::SmallInput,
    )
}
