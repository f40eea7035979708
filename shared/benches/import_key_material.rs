//! ImportKeyMaterial handler latency per wrapping algorithm and wrapping key spec, next to its
//! floor measured in the same run: aws-lc-rs's raw RSA-OAEP decrypt of the same ciphertext
//! with an already parsed key. The handler does everything else too (JSON and base64, the key
//! lookup, opening the sealed token, parsing the wrapping key it carries, AES-KWP for the
//! RSA_AES algorithms, the material id, sealing the material, the store update).
//!
//! The `sm2pke` group does the same for the China Regions' SM2PKE: the handler importing an
//! ECC_NIST_P256 private key wrapped under an SM2 wrapping key, next to RustCrypto's raw
//! `DecryptingKey::decrypt_der` of the same ciphertext with the key already parsed.
//!
//! `cargo bench -p shared --bench import_key_material`

use std::hint::black_box;

use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use shared::Clock;
use shared::Operation;
use shared::Scope;
use shared::WrappingKeyPair;
use shared::{Kms, RequestContext};
use shared::{WrappingAlgorithm, WrappingKeySpec};

const ALGORITHMS: [WrappingAlgorithm; 4] = [
    WrappingAlgorithm::RsaesOaepSha1,
    WrappingAlgorithm::RsaesOaepSha256,
    WrappingAlgorithm::RsaAesKeyWrapSha1,
    WrappingAlgorithm::RsaAesKeyWrapSha256,
];

/// What a client sends: the material wrapped under `public` (RSA-OAEP, or RSA-OAEP of an AES
/// key followed by AES-KWP of the material).
fn wrap(alg: WrappingAlgorithm, public: &[u8], material: &[u8]) -> (Vec<u8>, usize) {
    let oaep = match alg {
        WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaAesKeyWrapSha1 => {
            &OAEP_SHA1_MGF1SHA1
        }
        _ => &OAEP_SHA256_MGF1SHA256,
    };
    let key = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public).unwrap()).unwrap();
    let hybrid = matches!(
        alg,
        WrappingAlgorithm::RsaAesKeyWrapSha1 | WrappingAlgorithm::RsaAesKeyWrapSha256
    );
    let rsa_plain: Vec<u8> = if hybrid {
        vec![7u8; 32]
    } else {
        material.to_vec()
    };
    let mut out = vec![0u8; key.ciphertext_size()];
    let mut ct = key
        .encrypt(oaep, &rsa_plain, &mut out, None)
        .unwrap()
        .to_vec();
    let rsa_len = ct.len();
    if hybrid {
        use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded};
        let kek = AesKek::new(&AES_256, &rsa_plain).unwrap();
        let mut wrapped = vec![0u8; material.len() + 16];
        let n = kek.wrap_with_padding(material, &mut wrapped).unwrap().len();
        ct.extend_from_slice(&wrapped[..n]);
    }
    (ct, rsa_len)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let kms = Kms::in_memory(Clock::system(), true);
    let pairs = WrappingKeySpec::RSA.map(WrappingKeyPair::generate);
    kms.pool.add_ready(pairs.clone());
    let ctx = RequestContext::new(Scope::new("111122223333", "us-east-1"));
    let call = |op: Operation, body: String| {
        let out = rt.block_on(kms.call(&ctx, op, body.as_bytes())).unwrap();
        serde_json::from_slice::<serde_json::Value>(&out).unwrap()
    };
    let material = [b'A'; 32];

    let mut group = c.benchmark_group("import_key_material");
    group.sample_size(30);
    for (pair, spec) in pairs.iter().zip(WrappingKeySpec::RSA) {
        for alg in ALGORITHMS {
            // HMAC_256 keys take every wrapping algorithm; the material is the same 32 bytes.
            let created = call(
                Operation::CreateKey,
                r#"{"Origin":"EXTERNAL","KeySpec":"HMAC_256","KeyUsage":"GENERATE_VERIFY_MAC"}"#
                    .into(),
            );
            let key_id = created["KeyMetadata"]["KeyId"]
                .as_str()
                .unwrap()
                .to_string();
            let params = call(
                Operation::GetParametersForImport,
                format!(
                    r#"{{"KeyId":"{key_id}","WrappingAlgorithm":"{alg}","WrappingKeySpec":"{spec}"}}"#
                ),
            );
            let public = B64.decode(params["PublicKey"].as_str().unwrap()).unwrap();
            assert_eq!(public, pair.public_key_der());
            let (encrypted, rsa_len) = wrap(alg, &public, &material);
            let body = format!(
                r#"{{"KeyId":"{key_id}","ImportToken":"{}","EncryptedKeyMaterial":"{}","ExpirationModel":"KEY_MATERIAL_DOES_NOT_EXPIRE"}}"#,
                params["ImportToken"].as_str().unwrap(),
                B64.encode(&encrypted)
            )
            .into_bytes();
            // Every call reimports the same material: the full path, every time.
            group.bench_function(BenchmarkId::new(alg.as_str(), spec), |b| {
                b.iter(|| {
                    black_box(
                        rt.block_on(kms.call(&ctx, Operation::ImportKeyMaterial, &body))
                            .unwrap(),
                    )
                })
            });

            let oaep = match alg {
                WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaAesKeyWrapSha1 => {
                    &OAEP_SHA1_MGF1SHA1
                }
                _ => &OAEP_SHA256_MGF1SHA256,
            };
            let parsed = OaepPrivateDecryptingKey::new(
                PrivateDecryptingKey::from_pkcs8(pair.private_key_pkcs8()).unwrap(),
            )
            .unwrap();
            let rsa_part = encrypted[..rsa_len].to_vec();
            group.bench_function(
                BenchmarkId::new(format!("floor_rsa_oaep_decrypt_{alg}"), spec),
                |b| {
                    let mut out = vec![0u8; parsed.min_output_size()];
                    b.iter(|| {
                        black_box(
                            parsed
                                .decrypt(oaep, &rsa_part, &mut out, None)
                                .unwrap()
                                .len(),
                        )
                    })
                },
            );
            // What parsing the token's key on every import would add to the floor.
            let pkcs8 = pair.private_key_pkcs8().to_vec();
            group.bench_function(
                BenchmarkId::new(format!("parse_then_decrypt_{alg}"), spec),
                |b| {
                    b.iter(|| {
                        let k = OaepPrivateDecryptingKey::new(
                            PrivateDecryptingKey::from_pkcs8(&pkcs8).unwrap(),
                        )
                        .unwrap();
                        let mut out = vec![0u8; k.min_output_size()];
                        black_box(k.decrypt(oaep, &rsa_part, &mut out, None).unwrap().len())
                    })
                },
            );
        }
    }
    group.finish();
}

fn bench_sm2(c: &mut Criterion) {
    use sm2::pkcs8::DecodePrivateKey;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let kms = Kms::in_memory(Clock::system(), true);
    let ctx = RequestContext::new(Scope::new("111122223333", "cn-north-1"));
    let call = |op: Operation, body: String| {
        let out = rt.block_on(kms.call(&ctx, op, body.as_bytes())).unwrap();
        serde_json::from_slice::<serde_json::Value>(&out).unwrap()
    };
    let created = call(
        Operation::CreateKey,
        r#"{"Origin":"EXTERNAL","KeySpec":"ECC_NIST_P256","KeyUsage":"SIGN_VERIFY"}"#.into(),
    );
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let params = call(
        Operation::GetParametersForImport,
        format!(r#"{{"KeyId":"{key_id}","WrappingAlgorithm":"SM2PKE","WrappingKeySpec":"SM2"}}"#),
    );
    let public = B64.decode(params["PublicKey"].as_str().unwrap()).unwrap();
    // The material: a P-256 private key as PKCS#8, made by aws-lc.
    let material = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
    )
    .unwrap()
    .to_pkcs8v1()
    .unwrap()
    .as_ref()
    .to_vec();
    use sm2::pkcs8::DecodePublicKey;
    let encrypting =
        sm2::pke::EncryptingKey::new(sm2::PublicKey::from_public_key_der(&public).unwrap());
    let encrypted = encrypting
        .encrypt_der(
            &mut sm2::elliptic_curve::common::getrandom::SysRng,
            &material,
        )
        .unwrap();
    let body = format!(
        r#"{{"KeyId":"{key_id}","ImportToken":"{}","EncryptedKeyMaterial":"{}","ExpirationModel":"KEY_MATERIAL_DOES_NOT_EXPIRE"}}"#,
        params["ImportToken"].as_str().unwrap(),
        B64.encode(&encrypted)
    )
    .into_bytes();
    let mut group = c.benchmark_group("sm2pke");
    group.sample_size(50);
    group.bench_function("import_key_material_handler", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(kms.call(&ctx, Operation::ImportKeyMaterial, &body))
                    .unwrap(),
            )
        })
    });
    // The floor: the same material under another SM2 wrapping key, parsed beforehand.
    let pair = WrappingKeyPair::generate(WrappingKeySpec::Sm2);
    let floor_ct = sm2::pke::EncryptingKey::new(
        sm2::PublicKey::from_public_key_der(pair.public_key_der()).unwrap(),
    )
    .encrypt_der(
        &mut sm2::elliptic_curve::common::getrandom::SysRng,
        &material,
    )
    .unwrap();
    let parsed = sm2::pke::DecryptingKey::new(
        sm2::SecretKey::from_pkcs8_der(pair.private_key_pkcs8()).unwrap(),
    );
    group.bench_function("floor_sm2_decrypt_der", |b| {
        b.iter(|| black_box(parsed.decrypt_der(&floor_ct).unwrap().len()))
    });
    group.finish();
}

criterion_group!(benches, bench, bench_sm2);
criterion_main!(benches);
