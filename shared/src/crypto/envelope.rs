//! The `CiphertextBlob` of symmetric Encrypt / GenerateDataKey: self-describing, so that
//! Decrypt finds the key and the material version without a `KeyId`, as KMS's does.
//!
//! Layout (the first 37 bytes as in the blobs AWS returned for imported keys: a 5-byte header
//! and the KeyMaterialId):
//!
//! ```text
//! 0..5    01 02 02 00 78
//! 5..37   KeyMaterialId of the material version that encrypted
//! 37      key id form: 0 = UUID, 1 = mrk- (multi-Region)
//! 38..54  key id, 16 bytes
//! 54..59  account, 40-bit big-endian
//! 59..71  GCM nonce
//! 71..    AES-256-GCM (32-byte material) or SM4-GCM (16-byte material, the China Regions')
//!         ciphertext and tag
//! ```
//!
//! Bytes 0..59 and the encryption context (sorted by key) are authenticated as AAD, so a blob
//! moved to another key, or decrypted with another context, fails.

use std::collections::BTreeMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use super::material::MaterialId;

const HEADER: [u8; 5] = [0x01, 0x02, 0x02, 0x00, 0x78];
const PREFIX_LEN: usize = 59;
const TAG_LEN: usize = 16;

/// What a blob says about where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHeader {
    pub material_id: MaterialId,
    pub key_id: String,
    pub account: String,
}

fn key_id_bytes(key_id: &str) -> Option<(u8, [u8; 16])> {
    let (form, hex) = match key_id.strip_prefix("mrk-") {
        Some(hex) => (1, hex.to_string()),
        None => (0, key_id.replace('-', "")),
    };
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some((form, out))
}

fn key_id_string(form: u8, bytes: &[u8]) -> Option<String> {
    let hex = hex::encode(bytes);
    match form {
        0 => Some(uuid::Uuid::try_parse(&hex).ok()?.hyphenated().to_string()),
        1 => Some(format!("mrk-{hex}")),
        _ => None,
    }
}

fn prefix(h: &BlobHeader) -> Option<[u8; PREFIX_LEN]> {
    let mut p = [0u8; PREFIX_LEN];
    p[..5].copy_from_slice(&HEADER);
    p[5..37].copy_from_slice(&h.material_id.0);
    let (form, id) = key_id_bytes(&h.key_id)?;
    p[37] = form;
    p[38..54].copy_from_slice(&id);
    let account: u64 = h.account.parse().ok()?;
    p[54..59].copy_from_slice(&account.to_be_bytes()[3..]);
    Some(p)
}

/// Reads the header of a blob; `None` if it is not one of ours.
pub fn read_header(blob: &[u8]) -> Option<BlobHeader> {
    if blob.len() < PREFIX_LEN + NONCE_LEN + TAG_LEN || blob[..5] != HEADER {
        return None;
    }
    let mut account = [0u8; 8];
    account[3..].copy_from_slice(&blob[54..59]);
    Some(BlobHeader {
        material_id: MaterialId(blob[5..37].try_into().ok()?),
        key_id: key_id_string(blob[37], &blob[38..54])?,
        account: format!("{:012}", u64::from_be_bytes(account)),
    })
}

/// The encryption context as AAD: each pair as length-prefixed key and value, sorted by key
/// (KMS treats the context as an unordered map).
fn context_aad(prefix: &[u8], context: &BTreeMap<String, String>) -> Vec<u8> {
    let mut aad = prefix.to_vec();
    for (k, v) in context {
        for part in [k, v] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
    }
    aad
}

/// GCM over SM4 (RFC 8998's SM4-GCM), from RustCrypto: aws-lc has no SM4.
type Sm4Gcm = aes_gcm::AesGcm<sm4::Sm4, aes_gcm::aead::consts::U12>;

/// The AEAD of a key's material: AES-256-GCM, or SM4-GCM for the China Regions' 16-byte keys.
enum Cipher {
    Aes(LessSafeKey),
    Sm4(Box<Sm4Gcm>),
}

impl Cipher {
    fn of(material: &[u8]) -> Option<Cipher> {
        use aes_gcm::aead::KeyInit;
        match material.len() {
            16 => Some(Cipher::Sm4(Box::new(
                Sm4Gcm::new_from_slice(material).ok()?,
            ))),
            _ => Some(Cipher::Aes(LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, material).ok()?,
            ))),
        }
    }

    fn seal(&self, nonce: [u8; NONCE_LEN], aad: &[u8], body: &mut Vec<u8>) -> Option<()> {
        match self {
            Cipher::Aes(k) => k
                .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), body)
                .ok(),
            Cipher::Sm4(k) => {
                use aes_gcm::aead::{Aead, Payload};
                let out = k.encrypt(&nonce.into(), Payload { msg: body, aad }).ok()?;
                *body = out;
                Some(())
            }
        }
    }

    fn open(&self, nonce: &[u8], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        match self {
            Cipher::Aes(k) => {
                let mut buf = sealed.to_vec();
                let plain = k
                    .open_in_place(
                        Nonce::try_assume_unique_for_key(nonce).ok()?,
                        Aad::from(aad),
                        &mut buf,
                    )
                    .ok()?;
                Some(plain.to_vec())
            }
            Cipher::Sm4(k) => {
                use aes_gcm::aead::{Aead, Payload};
                let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
                k.decrypt(&nonce.into(), Payload { msg: sealed, aad }).ok()
            }
        }
    }
}

/// Encrypts under symmetric material (32 bytes, or 16 in the China Regions); `None` only if the header cannot be encoded
/// (a key id or account the mock never creates).
pub fn seal(
    header: &BlobHeader,
    material: &[u8],
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> Option<Vec<u8>> {
    let prefix = prefix(header)?;
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).ok()?;
    let mut body = plaintext.to_vec();
    Cipher::of(material)?.seal(nonce, &context_aad(&prefix, context), &mut body)?;
    let mut out = Vec::with_capacity(PREFIX_LEN + NONCE_LEN + body.len());
    out.extend_from_slice(&prefix);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    Some(out)
}

/// Decrypts a blob with the material its header names; `None` for any mismatch (AWS's
/// `InvalidCiphertextException`).
pub fn open(blob: &[u8], material: &[u8], context: &BTreeMap<String, String>) -> Option<Vec<u8>> {
    read_header(blob)?;
    let (prefix, rest) = blob.split_at(PREFIX_LEN);
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    Cipher::of(material)?.open(nonce, &context_aad(prefix, context), sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8998, appendix A.1: the SM4-GCM test vector.
    #[test]
    fn sm4_gcm_is_rfc_8998() {
        let h = |s: &str| hex::decode(s).unwrap();
        let key = h("0123456789ABCDEFFEDCBA9876543210");
        let nonce: [u8; NONCE_LEN] = h("00001234567800000000ABCD").try_into().unwrap();
        let aad = h("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
        let mut body = h(
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
        );
        let plain = body.clone();
        let cipher = Cipher::of(&key).unwrap();
        assert!(matches!(cipher, Cipher::Sm4(_)));
        cipher.seal(nonce, &aad, &mut body).unwrap();
        assert_eq!(
            hex::encode_upper(&body),
            "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D83DE3541E4C2B58177E065A9BF7B62EC"
        );
        assert_eq!(cipher.open(&nonce, &aad, &body), Some(plain));
        assert_eq!(cipher.open(&nonce, b"other", &body), None);
    }

    fn header(key_id: &str) -> BlobHeader {
        BlobHeader {
            material_id: MaterialId([7; 32]),
            key_id: key_id.into(),
            account: "111122223333".into(),
        }
    }

    #[test]
    fn round_trip_with_context_and_header() {
        let k = [9u8; 32];
        let mut ctx = BTreeMap::new();
        ctx.insert("purpose".to_string(), "test".to_string());
        for id in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
        ] {
            let blob = seal(&header(id), &k, &ctx, b"import lifecycle").unwrap();
            assert_eq!(&blob[..5], &[1, 2, 2, 0, 0x78]);
            assert_eq!(&blob[5..37], &[7u8; 32]);
            assert_eq!(blob.len(), 59 + 12 + 16 + 16);
            assert_eq!(read_header(&blob), Some(header(id)));
            assert_eq!(open(&blob, &k, &ctx).unwrap(), b"import lifecycle");
            assert!(
                open(&blob, &k, &BTreeMap::new()).is_none(),
                "context is bound"
            );
            assert!(open(&blob, &[8u8; 32], &ctx).is_none(), "material is bound");
            for i in 0..blob.len() {
                let mut bad = blob.clone();
                bad[i] ^= 0x10;
                assert!(open(&bad, &k, &ctx).is_none(), "byte {i}");
            }
        }
        assert!(read_header(b"short").is_none());
        assert!(seal(&header("not-a-key-id"), &k, &ctx, b"x").is_none());
    }
}
