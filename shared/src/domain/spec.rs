//! Key specs, usages, origins, states and the algorithm names KMS attaches to them.

use crate::wire_enum;

wire_enum! {
    /// `KeySpec`: the kind of key material a KMS key holds.
    pub enum KeySpec {
        Rsa2048 = "RSA_2048",
        Rsa3072 = "RSA_3072",
        Rsa4096 = "RSA_4096",
        EccNistP256 = "ECC_NIST_P256",
        EccNistP384 = "ECC_NIST_P384",
        EccNistP521 = "ECC_NIST_P521",
        EccSecgP256k1 = "ECC_SECG_P256K1",
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        Hmac224 = "HMAC_224",
        Hmac256 = "HMAC_256",
        Hmac384 = "HMAC_384",
        Hmac512 = "HMAC_512",
        Sm2 = "SM2",
        MlDsa44 = "ML_DSA_44",
        MlDsa65 = "ML_DSA_65",
        MlDsa87 = "ML_DSA_87",
        EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
    }
}

wire_enum! {
    /// `KeyUsageType`.
    pub enum KeyUsage {
        SignVerify = "SIGN_VERIFY",
        EncryptDecrypt = "ENCRYPT_DECRYPT",
        GenerateVerifyMac = "GENERATE_VERIFY_MAC",
        KeyAgreement = "KEY_AGREEMENT",
    }
}

wire_enum! {
    /// `OriginType`: where the key material comes from.
    pub enum Origin {
        AwsKms = "AWS_KMS",
        External = "EXTERNAL",
        AwsCloudHsm = "AWS_CLOUDHSM",
        ExternalKeyStore = "EXTERNAL_KEY_STORE",
    }
}

wire_enum! {
    /// `KeyState` as DescribeKey reports it.
    pub enum KeyState {
        Creating = "Creating",
        Enabled = "Enabled",
        Disabled = "Disabled",
        PendingDeletion = "PendingDeletion",
        PendingImport = "PendingImport",
        PendingReplicaDeletion = "PendingReplicaDeletion",
        Unavailable = "Unavailable",
        Updating = "Updating",
    }
}

wire_enum! {
    /// `AlgorithmSpec`: how key material is wrapped for import.
    pub enum WrappingAlgorithm {
        RsaesPkcs1V15 = "RSAES_PKCS1_V1_5",
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
        RsaAesKeyWrapSha1 = "RSA_AES_KEY_WRAP_SHA_1",
        RsaAesKeyWrapSha256 = "RSA_AES_KEY_WRAP_SHA_256",
        Sm2Pke = "SM2PKE",
    }
}

wire_enum! {
    /// `WrappingKeySpec`: the kind of public key GetParametersForImport returns.
    pub enum WrappingKeySpec {
        Rsa2048 = "RSA_2048",
        Rsa3072 = "RSA_3072",
        Rsa4096 = "RSA_4096",
        Sm2 = "SM2",
    }
}

wire_enum! {
    /// `ExpirationModelType`.
    pub enum ExpirationModel {
        KeyMaterialExpires = "KEY_MATERIAL_EXPIRES",
        KeyMaterialDoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
}

wire_enum! {
    /// `KeyManagerType`.
    pub enum KeyManager {
        Aws = "AWS",
        Customer = "CUSTOMER",
    }
}

wire_enum! {
    /// `EncryptionAlgorithmSpec`.
    pub enum EncryptionAlgorithm {
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
        Sm2Pke = "SM2PKE",
    }
}

wire_enum! {
    /// `SigningAlgorithmSpec`.
    pub enum SigningAlgorithm {
        RsassaPssSha256 = "RSASSA_PSS_SHA_256",
        RsassaPssSha384 = "RSASSA_PSS_SHA_384",
        RsassaPssSha512 = "RSASSA_PSS_SHA_512",
        RsassaPkcs1V15Sha256 = "RSASSA_PKCS1_V1_5_SHA_256",
        RsassaPkcs1V15Sha384 = "RSASSA_PKCS1_V1_5_SHA_384",
        RsassaPkcs1V15Sha512 = "RSASSA_PKCS1_V1_5_SHA_512",
        EcdsaSha256 = "ECDSA_SHA_256",
        EcdsaSha384 = "ECDSA_SHA_384",
        EcdsaSha512 = "ECDSA_SHA_512",
        Sm2Dsa = "SM2DSA",
        MlDsaShake256 = "ML_DSA_SHAKE_256",
        Ed25519Sha512 = "ED25519_SHA_512",
        Ed25519PhSha512 = "ED25519_PH_SHA_512",
    }
}

wire_enum! {
    /// `MacAlgorithmSpec`.
    pub enum MacAlgorithm {
        HmacSha224 = "HMAC_SHA_224",
        HmacSha256 = "HMAC_SHA_256",
        HmacSha384 = "HMAC_SHA_384",
        HmacSha512 = "HMAC_SHA_512",
    }
}

wire_enum! {
    /// `KeyAgreementAlgorithmSpec`.
    pub enum KeyAgreementAlgorithm {
        Ecdh = "ECDH",
    }
}

wire_enum! {
    /// `ImportType` of ImportKeyMaterial (symmetric keys only).
    pub enum ImportType {
        NewKeyMaterial = "NEW_KEY_MATERIAL",
        ExistingKeyMaterial = "EXISTING_KEY_MATERIAL",
    }
}

wire_enum! {
    /// `ImportState` of a key material version: whether its material is in KMS now.
    pub enum ImportState {
        Imported = "IMPORTED",
        PendingImport = "PENDING_IMPORT",
    }
}

wire_enum! {
    /// `KeyMaterialState`: a version's place in the key's rotation history.
    pub enum KeyMaterialState {
        NonCurrent = "NON_CURRENT",
        Current = "CURRENT",
        PendingRotation = "PENDING_ROTATION",
        PendingMultiRegionImportAndRotation = "PENDING_MULTI_REGION_IMPORT_AND_ROTATION",
    }
}

wire_enum! {
    /// `IncludeKeyMaterial` of ListKeyRotations.
    pub enum IncludeKeyMaterial {
        AllKeyMaterial = "ALL_KEY_MATERIAL",
        RotationsOnly = "ROTATIONS_ONLY",
    }
}

wire_enum! {
    /// `RotationType`: how a version became current.
    pub enum RotationType {
        Automatic = "AUTOMATIC",
        OnDemand = "ON_DEMAND",
    }
}

wire_enum! {
    /// `MessageType` of Sign and Verify.
    pub enum MessageType {
        Raw = "RAW",
        Digest = "DIGEST",
        ExternalMu = "EXTERNAL_MU",
    }
}

wire_enum! {
    /// `DataKeySpec` of GenerateDataKey.
    pub enum DataKeySpec {
        Aes256 = "AES_256",
        Aes128 = "AES_128",
    }
}

wire_enum! {
    /// `KeyPairSpec` of GenerateDataKeyPair: the asymmetric key specs a data key pair can have.
    pub enum DataKeyPairSpec {
        Rsa2048 = "RSA_2048",
        Rsa3072 = "RSA_3072",
        Rsa4096 = "RSA_4096",
        EccNistP256 = "ECC_NIST_P256",
        EccNistP384 = "ECC_NIST_P384",
        EccNistP521 = "ECC_NIST_P521",
        EccSecgP256k1 = "ECC_SECG_P256K1",
        Sm2 = "SM2",
        EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
    }
}

impl DataKeyPairSpec {
    /// The key spec of the same name, whose material the pair is.
    pub fn key_spec(self) -> KeySpec {
        self.as_str()
            .parse()
            .expect("every KeyPairSpec is a KeySpec")
    }
}

/// What a Region's symmetric (SYMMETRIC_DEFAULT) keys are: AES-256 everywhere but the China
/// Regions, where they are 128-bit SM4 keys (DG, "importing-keys-encrypt-key-material": 16
/// bytes of material there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymmetricCipher {
    Aes256,
    Sm4,
}

impl SymmetricCipher {
    pub fn for_china(china: bool) -> Self {
        if china {
            SymmetricCipher::Sm4
        } else {
            SymmetricCipher::Aes256
        }
    }

    /// Length of the material, in bytes.
    pub fn key_len(self) -> usize {
        match self {
            SymmetricCipher::Aes256 => 32,
            SymmetricCipher::Sm4 => 16,
        }
    }
}

/// The broad kind of material a key spec stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Symmetric,
    Hmac,
    Rsa,
    Ecc,
    Sm2,
    MlDsa,
}

impl KeySpec {
    pub fn family(self) -> KeyFamily {
        use KeySpec::*;
        match self {
            SymmetricDefault => KeyFamily::Symmetric,
            Hmac224 | Hmac256 | Hmac384 | Hmac512 => KeyFamily::Hmac,
            Rsa2048 | Rsa3072 | Rsa4096 => KeyFamily::Rsa,
            EccNistP256 | EccNistP384 | EccNistP521 | EccSecgP256k1 | EccNistEdwards25519 => {
                KeyFamily::Ecc
            }
            Sm2 => KeyFamily::Sm2,
            MlDsa44 | MlDsa65 | MlDsa87 => KeyFamily::MlDsa,
        }
    }

    /// The usages CreateKey accepts for this spec.
    pub fn allowed_usages(self) -> &'static [KeyUsage] {
        use KeySpec::*;
        use KeyUsage::*;
        match self {
            SymmetricDefault => &[EncryptDecrypt],
            Hmac224 | Hmac256 | Hmac384 | Hmac512 => &[GenerateVerifyMac],
            Rsa2048 | Rsa3072 | Rsa4096 => &[EncryptDecrypt, SignVerify],
            EccNistP256 | EccNistP384 | EccNistP521 => &[SignVerify, KeyAgreement],
            EccSecgP256k1 | EccNistEdwards25519 => &[SignVerify],
            Sm2 => &[EncryptDecrypt, SignVerify, KeyAgreement],
            MlDsa44 | MlDsa65 | MlDsa87 => &[SignVerify],
        }
    }

    /// The deprecated `CustomerMasterKeySpec` twin, for the specs that enum has.
    pub fn customer_master_key_spec(self) -> Option<&'static str> {
        match self.family() {
            KeyFamily::MlDsa => None,
            _ if self == KeySpec::EccNistEdwards25519 => None,
            _ => Some(self.as_str()),
        }
    }

    /// Regions of the China partition are the only ones that offer SM2.
    pub fn is_china_only(self) -> bool {
        self == KeySpec::Sm2
    }
}

/// The algorithm lists DescribeKey shows for a spec and usage, in AWS's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Algorithms {
    pub encryption: Vec<EncryptionAlgorithm>,
    pub signing: Vec<SigningAlgorithm>,
    pub mac: Vec<MacAlgorithm>,
    pub key_agreement: Vec<KeyAgreementAlgorithm>,
}

impl Algorithms {
    pub fn for_key(spec: KeySpec, usage: KeyUsage) -> Self {
        use EncryptionAlgorithm as E;
        use KeySpec::*;
        use SigningAlgorithm as S;
        let mut a = Algorithms::default();
        match (spec.family(), usage) {
            (_, KeyUsage::KeyAgreement) => a.key_agreement = vec![KeyAgreementAlgorithm::Ecdh],
            (KeyFamily::Symmetric, _) => a.encryption = vec![E::SymmetricDefault],
            (KeyFamily::Hmac, _) => {
                a.mac = vec![match spec {
                    Hmac224 => MacAlgorithm::HmacSha224,
                    Hmac256 => MacAlgorithm::HmacSha256,
                    Hmac384 => MacAlgorithm::HmacSha384,
                    _ => MacAlgorithm::HmacSha512,
                }]
            }
            (KeyFamily::Rsa, KeyUsage::EncryptDecrypt) => {
                a.encryption = vec![E::RsaesOaepSha1, E::RsaesOaepSha256]
            }
            (KeyFamily::Rsa, _) => {
                a.signing = vec![
                    S::RsassaPkcs1V15Sha256,
                    S::RsassaPkcs1V15Sha384,
                    S::RsassaPkcs1V15Sha512,
                    S::RsassaPssSha256,
                    S::RsassaPssSha384,
                    S::RsassaPssSha512,
                ]
            }
            (KeyFamily::Ecc, _) => {
                a.signing = match spec {
                    EccNistP384 => vec![S::EcdsaSha384],
                    EccNistP521 => vec![S::EcdsaSha512],
                    EccNistEdwards25519 => vec![S::Ed25519PhSha512, S::Ed25519Sha512],
                    _ => vec![S::EcdsaSha256],
                }
            }
            (KeyFamily::Sm2, KeyUsage::EncryptDecrypt) => a.encryption = vec![E::Sm2Pke],
            (KeyFamily::Sm2, _) => a.signing = vec![S::Sm2Dsa],
            (KeyFamily::MlDsa, _) => a.signing = vec![S::MlDsaShake256],
        }
        a
    }
}

impl WrappingKeySpec {
    /// Modulus size in bits of an RSA wrapping key spec; `None` for SM2.
    pub fn rsa_bits(self) -> Option<usize> {
        match self {
            WrappingKeySpec::Rsa2048 => Some(2048),
            WrappingKeySpec::Rsa3072 => Some(3072),
            WrappingKeySpec::Rsa4096 => Some(4096),
            WrappingKeySpec::Sm2 => None,
        }
    }

    /// The RSA wrapping key specs, the ones the pool holds.
    pub const RSA: [WrappingKeySpec; 3] = [
        WrappingKeySpec::Rsa2048,
        WrappingKeySpec::Rsa3072,
        WrappingKeySpec::Rsa4096,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for s in KeySpec::ALL {
            assert_eq!(s.as_str().parse::<KeySpec>(), Ok(*s));
        }
        assert_eq!(
            serde_json::to_string(&WrappingAlgorithm::RsaAesKeyWrapSha256).unwrap(),
            "\"RSA_AES_KEY_WRAP_SHA_256\""
        );
        assert!("rsa_2048".parse::<KeySpec>().is_err());
    }

    #[test]
    fn algorithm_lists_match_aws() {
        let a = Algorithms::for_key(KeySpec::EccNistEdwards25519, KeyUsage::SignVerify);
        assert_eq!(
            a.signing,
            vec![
                SigningAlgorithm::Ed25519PhSha512,
                SigningAlgorithm::Ed25519Sha512
            ]
        );
        let a = Algorithms::for_key(KeySpec::Rsa2048, KeyUsage::EncryptDecrypt);
        assert_eq!(
            a.encryption,
            vec![
                EncryptionAlgorithm::RsaesOaepSha1,
                EncryptionAlgorithm::RsaesOaepSha256
            ]
        );
        let a = Algorithms::for_key(KeySpec::EccNistP256, KeyUsage::KeyAgreement);
        assert_eq!(a.key_agreement, vec![KeyAgreementAlgorithm::Ecdh]);
        assert!(a.signing.is_empty());
    }
}
