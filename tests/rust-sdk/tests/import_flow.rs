//! The import flow through the AWS SDK for Rust against the real `kms-api` binary (built by
//! `cargo build --workspace --bins`, which `tests/run.sh` runs first): the SDK must parse every
//! response and map every error as it does for AWS KMS.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded};
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use aws_sdk_kms::Client;
use aws_sdk_kms::config::{Credentials, Region};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, DataKeySpec, ExpirationModelType, ImportState, IncludeKeyMaterial, KeySpec,
    KeyState, KeyUsageType, OriginType, SigningAlgorithmSpec, WrappingKeySpec,
};

/// The folder cargo put this test's profile in (`<target>/debug`), wherever the target directory
/// is (`CARGO_TARGET_DIR`, a workspace setting): the test runs from `<target>/debug/deps/`, and
/// the workspace's binaries sit beside `deps`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("<target>/<profile>/deps/<test>")
        .to_path_buf()
}

/// A `kms-api` process on a free port with its own data folder; killed on drop.
struct Endpoint {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Endpoint {
    fn start() -> Self {
        let bin = std::env::var_os("KMS_MOCK_BIN_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(profile_dir)
            .join("kms-api");
        assert!(
            bin.exists(),
            "{} missing: cargo build --workspace --bins",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("kms-sdk-{}-{port}", std::process::id()));
        let child = Command::new(bin)
            .env("KMS_MOCK_LISTEN", format!("127.0.0.1:{port}"))
            .env("KMS_MOCK_DATA", &dir)
            .env("KMS_MOCK_POOL_REUSE", "true")
            .env("KMS_MOCK_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "kms-api did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Endpoint {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    fn client(&self) -> Client {
        let config = aws_sdk_kms::Config::builder()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(&self.url)
            .build();
        Client::from_conf(config)
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn describe(kms: &Client, key_id: &str) -> aws_sdk_kms::types::KeyMetadata {
    kms.describe_key()
        .key_id(key_id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
}

fn oaep_wrap(public_spki: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let key =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_spki).unwrap()).unwrap();
    let mut out = vec![0u8; key.ciphertext_size()];
    key.encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, None)
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn symmetric_import_and_use_through_the_rust_sdk() {
    let ep = Endpoint::start();
    let kms = ep.client();

    let md = kms
        .create_key()
        .origin(OriginType::External)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::PendingImport));
    assert!(!md.enabled());
    let created = md.creation_date().unwrap().secs();
    let key_id = md.key_id().to_string();

    let params = kms
        .get_parameters_for_import()
        .key_id(&key_id)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa3072)
        .send()
        .await
        .unwrap();
    assert_eq!(params.key_id(), md.arn());
    let public = params.public_key().unwrap().as_ref().to_vec();
    assert_eq!(public.len(), 422, "RSA_3072 SubjectPublicKeyInfo");
    let valid_to = params.parameters_valid_to().unwrap().secs();
    assert!((created + 86_400 - 2..=created + 86_400 + 60).contains(&valid_to));

    let mut material = [0u8; 32];
    aws_lc_rs::rand::fill(&mut material).unwrap();
    let token = params.import_token().unwrap().clone();
    let imported = kms
        .import_key_material()
        .key_id(&key_id)
        .import_token(token.clone())
        .encrypted_key_material(Blob::new(oaep_wrap(&public, &material)))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .unwrap();
    let material_id = imported.key_material_id().unwrap().to_string();
    assert_eq!(material_id.len(), 64);

    let md = describe(&kms, &key_id).await;
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    assert_eq!(
        md.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialDoesNotExpire)
    );
    assert_eq!(md.current_key_material_id(), Some(material_id.as_str()));

    let ct = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("through the Rust SDK"))
        .encryption_context("purpose", "sdk")
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let back = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .encryption_context("purpose", "sdk")
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext().unwrap().as_ref(), b"through the Rust SDK");
    assert_eq!(back.key_material_id(), Some(material_id.as_str()));

    let dk = kms
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    let plain = kms
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext(), dk.plaintext());

    let rotations = kms
        .list_key_rotations()
        .key_id(&key_id)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await
        .unwrap();
    let entry = &rotations.rotations()[0];
    assert_eq!(entry.key_material_id(), Some(material_id.as_str()));
    assert_eq!(entry.import_state(), Some(&ImportState::Imported));

    // Errors reach the SDK as AWS's: typed where the model has them, without a message where
    // AWS sends none.
    let mut damaged = oaep_wrap(&public, &material);
    damaged[7] ^= 1;
    let err = kms
        .import_key_material()
        .key_id(&key_id)
        .import_token(token)
        .encrypted_key_material(Blob::new(damaged))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_ciphertext_exception(), "{err:?}");
    assert_eq!(err.message(), None);

    let missing = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let err = kms
        .describe_key()
        .key_id(missing)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found_exception());
    assert_eq!(
        err.message(),
        Some(
            format!("Key 'arn:aws:kms:us-east-1:111122223333:key/{missing}' does not exist")
                .as_str()
        )
    );
    let err = kms
        .get_parameters_for_import()
        .key_id(&key_id)
        .wrapping_algorithm(AlgorithmSpec::RsaAesKeyWrapSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(
        err.message(),
        Some(
            "Wrapping algorithm RSA_AES_KEY_WRAP_SHA_256 and wrapping key spec RSA_2048 cannot be used to import a SYMMETRIC_DEFAULT key."
        )
    );

    let deleted = kms
        .delete_imported_key_material()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.key_material_id(), Some(material_id.as_str()));
    let md = describe(&kms, &key_id).await;
    assert_eq!(md.key_state(), Some(&KeyState::PendingImport));
}

#[tokio::test]
async fn ecc_private_key_with_rsa_aes_key_wrap_through_the_rust_sdk() {
    let ep = Endpoint::start();
    let kms = ep.client();
    let md = kms
        .create_key()
        .origin(OriginType::External)
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let params = kms
        .get_parameters_for_import()
        .key_id(md.key_id())
        .wrapping_algorithm(AlgorithmSpec::RsaAesKeyWrapSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa4096)
        .send()
        .await
        .unwrap();

    // The client's own key pair, and the RSA_AES_KEY_WRAP envelope: RSA-OAEP of a fresh
    // AES-256 key, then AES-KWP of the PKCS#8 private key.
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let pkcs8 = pair.to_pkcs8v1().unwrap();
    let mut aes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut aes).unwrap();
    let mut envelope = oaep_wrap(params.public_key().unwrap().as_ref(), &aes);
    let mut wrapped = vec![0u8; pkcs8.as_ref().len() + 16];
    let n = AesKek::new(&AES_256, &aes)
        .unwrap()
        .wrap_with_padding(pkcs8.as_ref(), &mut wrapped)
        .unwrap()
        .len();
    envelope.extend_from_slice(&wrapped[..n]);
    let imported = kms
        .import_key_material()
        .key_id(md.key_id())
        .import_token(params.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(envelope))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .unwrap();
    assert_eq!(
        imported.key_material_id(),
        None,
        "no material id for asymmetric keys"
    );

    let spki: PublicKeyX509Der = pair.public_key().as_der().unwrap();
    let public = kms
        .get_public_key()
        .key_id(md.key_id())
        .send()
        .await
        .unwrap();
    assert_eq!(public.public_key().unwrap().as_ref(), spki.as_ref());
    let sig = kms
        .sign()
        .key_id(md.key_id())
        .message(Blob::new("signed through the Rust SDK"))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, pair.public_key().as_ref())
        .verify(
            b"signed through the Rust SDK",
            sig.signature().unwrap().as_ref(),
        )
        .expect("the signature verifies with the client's own public key");
}
