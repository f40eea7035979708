//! Seed files (`KMS_MOCK_SEED`): keys with fixed ids, material, policies, tags and aliases,
//! created at start so that an application's configuration can name them in advance.
//!
//! This module reads and checks a file into a [`Seed`]: every rule that can be checked without
//! the store is checked here, so a bad file stops start-up before anything is served, with the
//! file, the key and the field in the message. Applying it to a store is
//! `service::seed` (`Kms::apply_seed`), and so is the reverse, `Kms::export_seed`. The file's
//! shape is also published as a JSON Schema, `shared/seed.schema.json`.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::crypto::material::canonical_import;
use crate::domain::arn::{Scope, is_key_id, is_valid_account, is_valid_region};
use crate::domain::key::Tag;
use crate::domain::material::Expiry;
use crate::domain::spec::{KeyFamily, KeySpec, KeyUsage, Origin, SymmetricCipher};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The file, as written (and as `export-seed` writes it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SeedFile {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub keys: Vec<SeedKeyFile>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SeedKeyFile {
    pub key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_spec: Option<KeySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<KeyUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "epoch_seconds"
    )]
    pub creation_date: Option<Timestamp>,
    /// Material versions, oldest first; the last is current.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_material: Vec<SeedMaterialFile>,
}

/// One material version as written: exactly one of `Material` (base64), `MaterialFile` (a
/// path, relative to the seed file) or `Generate`, checked into a [`MaterialSource`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SeedMaterialFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "epoch_seconds"
    )]
    pub valid_to: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Times in epoch seconds as people write them: whole (`4102444800`, not `4.1024448E9`), with
/// milliseconds only when there are some (a CreationDate exported as KMS shows it).
fn epoch_seconds<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) if t.millis() % 1000 == 0 => s.serialize_i64(t.whole_seconds()),
        Some(t) => s.serialize_f64(t.epoch_seconds_f64()),
        None => s.serialize_none(),
    }
}

/// A checked seed: what start-up applies.
#[derive(Debug, Clone)]
pub struct Seed {
    pub file: PathBuf,
    pub keys: Vec<SeedKey>,
}

#[derive(Debug, Clone)]
pub struct SeedKey {
    pub key_id: String,
    pub scope: Scope,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsage,
    pub origin: Origin,
    pub description: String,
    pub enabled: bool,
    pub policy: Option<String>,
    pub tags: Vec<Tag>,
    pub aliases: Vec<String>,
    pub creation_date: Option<Timestamp>,
    pub versions: Vec<SeedVersion>,
}

impl SeedKey {
    pub fn multi_region(&self) -> bool {
        self.key_id.starts_with("mrk-")
    }
}

#[derive(Debug, Clone)]
pub struct SeedVersion {
    pub source: MaterialSource,
    pub expiry: Expiry,
    pub description: Option<String>,
}

/// Where a version's material comes from.
#[derive(Clone)]
pub enum MaterialSource {
    /// Given, in the canonical form the key stores (checked as ImportKeyMaterial checks it).
    Given(Vec<u8>),
    /// Made at start, as CreateKey makes it (AWS_KMS keys only).
    Generate,
}

impl fmt::Debug for MaterialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaterialSource::Given(_) => f.write_str("Given(<redacted>)"),
            MaterialSource::Generate => f.write_str("Generate"),
        }
    }
}

/// What is wrong with a seed: the file, the key (its id, or its place when it has none), the
/// field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedError {
    pub file: PathBuf,
    pub key: Option<String>,
    pub field: String,
    pub reason: String,
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed file {}", self.file.display())?;
        if let Some(key) = &self.key {
            write!(f, ": key {key}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for SeedError {}

/// AWS's limits, from the service model (CreateKey, TagResource, CreateAlias).
const MAX_DESCRIPTION: usize = 8192;
const MAX_POLICY: usize = 32768;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;
const MAX_ALIAS: usize = 256;

impl Seed {
    /// Reads and checks a seed file; `default_scope` gives keys without account or Region.
    pub fn read(path: &Path, default_scope: &Scope) -> Result<Seed, SeedError> {
        let fail = |key: Option<String>, field: &str, reason: String| SeedError {
            file: path.to_path_buf(),
            key,
            field: field.to_string(),
            reason,
        };
        let text = std::fs::read(path).map_err(|e| fail(None, "", format!("cannot read: {e}")))?;
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| fail(None, "", format!("not JSON: {e}")))?;
        let file: SeedFile = serde_path_to_error::deserialize(&value).map_err(|e| {
            // Name the key by its id when the file gives one.
            let path = e.path().to_string();
            let key = key_of_path(&value, &path);
            fail(key, &path, e.into_inner().to_string())
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::check(path, base, file, default_scope)
    }

    /// Checks a parsed file; material files are read relative to `base`.
    pub fn check(
        path: &Path,
        base: &Path,
        file: SeedFile,
        default_scope: &Scope,
    ) -> Result<Seed, SeedError> {
        let mut keys: Vec<SeedKey> = Vec::with_capacity(file.keys.len());
        for (i, k) in file.keys.into_iter().enumerate() {
            let name = if k.key_id.is_empty() {
                format!("#{i}")
            } else {
                k.key_id.clone()
            };
            let fail = |field: &str, reason: String| SeedError {
                file: path.to_path_buf(),
                key: Some(name.clone()),
                field: format!("Keys[{i}].{field}"),
                reason,
            };
            let key = check_key(k, base, &fail, default_scope)?;
            if keys
                .iter()
                .any(|o| o.key_id == key.key_id && o.scope == key.scope)
            {
                return Err(fail(
                    "KeyId",
                    "another key of the seed has this id in the same account and Region".into(),
                ));
            }
            for alias in &key.aliases {
                if keys
                    .iter()
                    .any(|o| o.scope == key.scope && o.aliases.contains(alias))
                {
                    return Err(fail(
                        "Aliases",
                        format!("{alias} names another key of the seed too"),
                    ));
                }
            }
            keys.push(key);
        }
        Ok(Seed {
            file: path.to_path_buf(),
            keys,
        })
    }
}

/// `Keys[3].KeySpec` → the id of key 3, if the file gives one.
fn key_of_path(value: &serde_json::Value, path: &str) -> Option<String> {
    let rest = path.strip_prefix("Keys[")?;
    let index: usize = rest.split(']').next()?.parse().ok()?;
    let key = value.get("Keys")?.get(index)?;
    Some(
        key.get("KeyId")
            .and_then(|v| v.as_str())
            .map_or_else(|| format!("#{index}"), str::to_string),
    )
}

fn check_key(
    k: SeedKeyFile,
    base: &Path,
    fail: &dyn Fn(&str, String) -> SeedError,
    default_scope: &Scope,
) -> Result<SeedKey, SeedError> {
    if !is_key_id(&k.key_id) || k.key_id != k.key_id.to_ascii_lowercase() {
        return Err(fail(
            "KeyId",
            format!(
                "{:?} is not a key id: a lowercase UUID (1234abcd-12ab-34cd-56ef-1234567890ab), or mrk- and 32 lowercase hex digits for a multi-Region key",
                k.key_id
            ),
        ));
    }
    let account = k.account.unwrap_or_else(|| default_scope.account.clone());
    if !is_valid_account(&account) {
        return Err(fail(
            "Account",
            format!("{account:?} is not a 12-digit account id"),
        ));
    }
    let region = k.region.unwrap_or_else(|| default_scope.region.clone());
    if !is_valid_region(&region) {
        return Err(fail("Region", format!("{region:?} is not a Region name")));
    }
    let scope = Scope::new(account, region);
    let key_spec = k.key_spec.unwrap_or(KeySpec::SymmetricDefault);
    if key_spec.is_china_only() && !scope.is_china() {
        return Err(fail(
            "KeySpec",
            format!("{key_spec} keys exist in the China Regions only"),
        ));
    }
    let key_usage = k.key_usage.unwrap_or(KeyUsage::EncryptDecrypt);
    if !key_spec.allowed_usages().contains(&key_usage) {
        return Err(fail(
            "KeyUsage",
            format!("{key_usage} is not a usage of {key_spec} keys"),
        ));
    }
    let origin = k.origin.unwrap_or(Origin::AwsKms);
    if !matches!(origin, Origin::AwsKms | Origin::External) {
        return Err(fail(
            "Origin",
            format!("{origin} needs a custom key store, which kms-import-mock does not have"),
        ));
    }
    if origin == Origin::External && key_spec.family() == KeyFamily::MlDsa {
        return Err(fail(
            "Origin",
            format!("{key_spec} keys cannot have imported material"),
        ));
    }
    let description = k.description.unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(fail(
            "Description",
            format!("longer than {MAX_DESCRIPTION} characters"),
        ));
    }
    if let Some(policy) = &k.policy {
        if policy.len() > MAX_POLICY {
            return Err(fail("Policy", format!("longer than {MAX_POLICY} bytes")));
        }
        crate::policy::Policy::parse(policy, crate::policy::PolicyKind::Key)
            .map_err(|e| fail("Policy", e.message.unwrap_or_default().into_owned()))?;
    }
    check_tags(&k.tags).map_err(|reason| fail("Tags", reason))?;
    for alias in &k.aliases {
        crate::domain::key::check_alias_name(alias)
            .map_err(|e| fail("Aliases", e.message.unwrap_or_default().into_owned()))?;
        if alias.len() > MAX_ALIAS
            || !alias
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
        {
            return Err(fail(
                "Aliases",
                format!("{alias:?}: at most {MAX_ALIAS} of a-z, A-Z, 0-9, /, _ and -"),
            ));
        }
    }

    let symmetric = key_spec.family() == KeyFamily::Symmetric;
    if !symmetric && k.key_material.len() > 1 {
        return Err(fail(
            "KeyMaterial",
            format!("{key_spec} keys have one material version; only symmetric keys rotate"),
        ));
    }
    let mut versions = Vec::with_capacity(k.key_material.len());
    for (j, m) in k.key_material.into_iter().enumerate() {
        let field = |name: &str| format!("KeyMaterial[{j}]{name}");
        let source = match (m.material, m.material_file, m.generate) {
            (Some(b64), None, None) => {
                let raw = B64
                    .decode(b64.trim())
                    .map_err(|e| fail(&field(".Material"), format!("not base64: {e}")))?;
                given(key_spec, scope.symmetric_cipher(), &raw)
                    .map_err(|r| fail(&field(".Material"), r))?
            }
            (None, Some(file), None) => {
                let full = base.join(&file);
                let raw = std::fs::read(&full).map_err(|e| {
                    fail(
                        &field(".MaterialFile"),
                        format!("cannot read {}: {e}", full.display()),
                    )
                })?;
                let raw = from_pem(&raw).map_err(|r| fail(&field(".MaterialFile"), r))?;
                given(key_spec, scope.symmetric_cipher(), &raw)
                    .map_err(|r| fail(&field(".MaterialFile"), r))?
            }
            (None, None, Some(true)) => {
                if origin == Origin::External {
                    return Err(fail(
                        &field(".Generate"),
                        "the material of an EXTERNAL key is imported, never generated: give it with Material or MaterialFile".into(),
                    ));
                }
                MaterialSource::Generate
            }
            _ => {
                return Err(fail(
                    &field(""),
                    "give exactly one of Material (base64), MaterialFile (a path) or Generate: true".into(),
                ));
            }
        };
        if m.valid_to.is_some() && origin != Origin::External {
            return Err(fail(
                &field(".ValidTo"),
                "only imported material (Origin EXTERNAL) expires".into(),
            ));
        }
        if m.description.is_some() && !(symmetric && origin == Origin::External) {
            return Err(fail(
                &field(".Description"),
                "only imported symmetric material has a description".into(),
            ));
        }
        let expiry = m.valid_to.map_or(Expiry::Never, |t| {
            Expiry::Until(Timestamp::from_secs(t.whole_seconds()))
        });
        versions.push(SeedVersion {
            source,
            expiry,
            description: m.description,
        });
    }
    // An AWS_KMS key always has material: made at start unless given.
    if versions.is_empty() && origin == Origin::AwsKms {
        versions.push(SeedVersion {
            source: MaterialSource::Generate,
            expiry: Expiry::Never,
            description: None,
        });
    }
    Ok(SeedKey {
        key_id: k.key_id,
        scope,
        key_spec,
        key_usage,
        origin,
        description,
        enabled: k.enabled.unwrap_or(true),
        policy: k.policy,
        tags: k.tags,
        aliases: k.aliases,
        creation_date: k.creation_date,
        versions,
    })
}

/// Material checked as ImportKeyMaterial checks unwrapped material.
fn given(spec: KeySpec, cipher: SymmetricCipher, raw: &[u8]) -> Result<MaterialSource, String> {
    canonical_import(spec, cipher, raw)
        .map(MaterialSource::Given)
        .ok_or_else(|| match spec.family() {
            KeyFamily::Symmetric => format!(
                "{spec} material is {} bytes, not {}",
                cipher.key_len(),
                raw.len()
            ),
            KeyFamily::Hmac => format!(
                "{} bytes is not a length AWS accepts for {spec} material",
                raw.len()
            ),
            _ => format!("not a {spec} private key in PKCS#8 (DER, or PEM in a file)"),
        })
}

/// A PEM file's DER (`-----BEGIN PRIVATE KEY-----`); other bytes as they are.
fn from_pem(raw: &[u8]) -> Result<Vec<u8>, String> {
    if !raw.trim_ascii_start().starts_with(b"-----BEGIN ") {
        return Ok(raw.to_vec());
    }
    let pem = pem::parse(raw).map_err(|e| format!("not PEM: {e}"))?;
    if pem.tag() != "PRIVATE KEY" {
        return Err(format!(
            "a PEM {:?} block; a PKCS#8 \"PRIVATE KEY\" is needed (openssl pkcs8 -topk8 -nocrypt)",
            pem.tag()
        ));
    }
    Ok(pem.into_contents())
}

/// The model's lengths (which the wire checks for API calls), then the rules TagResource
/// applies.
fn check_tags(tags: &[Tag]) -> Result<(), String> {
    for t in tags {
        if t.tag_key.is_empty() || t.tag_key.chars().count() > MAX_TAG_KEY {
            return Err(format!(
                "tag key {:?}: 1 to {MAX_TAG_KEY} characters",
                t.tag_key
            ));
        }
        if t.tag_value.chars().count() > MAX_TAG_VALUE {
            return Err(format!(
                "tag {:?}: the value is longer than {MAX_TAG_VALUE} characters",
                t.tag_key
            ));
        }
    }
    crate::domain::key::check_tags(tags).map_err(|e| e.message.unwrap_or_default().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope::new("111122223333", "us-east-1")
    }

    fn check(json: serde_json::Value) -> Result<Seed, SeedError> {
        let dir = std::env::temp_dir().join(format!("kms-seed-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("seed.json");
        std::fs::write(&path, json.to_string()).unwrap();
        let out = Seed::read(&path, &scope());
        std::fs::remove_dir_all(&dir).unwrap();
        out
    }

    fn reason(json: serde_json::Value) -> (Option<String>, String, String) {
        let e = check(json).unwrap_err();
        (e.key, e.field, e.reason)
    }

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn defaults_and_a_full_key() {
        let seed = check(serde_json::json!({"Keys": [
            {"KeyId": ID},
            {"KeyId": "mrk-1234abcd12ab34cd56ef1234567890ab", "Region": "eu-west-1",
             "Origin": "EXTERNAL", "KeyMaterial": [{"Material": B64.encode([7u8; 32]), "ValidTo": 4102444800.0},
                                                   {"Material": B64.encode([8u8; 32])}],
             "Aliases": ["alias/app"], "Tags": [{"TagKey": "team", "TagValue": "a"}], "Enabled": false}
        ]}))
        .unwrap();
        let a = &seed.keys[0];
        assert_eq!(
            (
                a.key_spec,
                a.key_usage,
                a.origin,
                a.enabled,
                a.multi_region()
            ),
            (
                KeySpec::SymmetricDefault,
                KeyUsage::EncryptDecrypt,
                Origin::AwsKms,
                true,
                false
            )
        );
        assert!(matches!(
            a.versions[..],
            [SeedVersion {
                source: MaterialSource::Generate,
                expiry: Expiry::Never,
                ..
            }]
        ));
        let b = &seed.keys[1];
        assert_eq!(b.scope, Scope::new("111122223333", "eu-west-1"));
        assert!(b.multi_region());
        assert_eq!(b.versions.len(), 2);
        assert_eq!(
            b.versions[0].expiry,
            Expiry::Until(Timestamp::from_secs(4_102_444_800))
        );
        assert!(matches!(&b.versions[1].source, MaterialSource::Given(m) if m == &[8u8; 32]));
        assert!(
            !format!("{:?}", b.versions).contains("8, 8"),
            "material is never in Debug"
        );
    }

    #[test]
    fn each_kind_of_error_names_key_and_field() {
        let k = |extra: serde_json::Value| {
            let mut key = serde_json::json!({"KeyId": ID});
            key.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            serde_json::json!({"Keys": [key]})
        };
        let id = Some(ID.to_string());
        let cases: Vec<(serde_json::Value, Option<String>, &str, &str)> = vec![
            (
                serde_json::json!({"Keys": [{"KeyId": "nope"}]}),
                Some("nope".into()),
                "Keys[0].KeyId",
                "is not a key id",
            ),
            (
                serde_json::json!({"Keys": [{"KeyId": ID, "KeySpec": "RSA_1024"}]}),
                id.clone(),
                "Keys[0].KeySpec",
                "unknown KeySpec RSA_1024",
            ),
            (
                serde_json::json!({"Keys": [{"KeyId": ID, "Colour": "red"}]}),
                id.clone(),
                "Keys[0].Colour",
                "unknown field",
            ),
            (
                serde_json::json!({"Keys": [{}]}),
                Some("#0".into()),
                "Keys[0]",
                "missing field `KeyId`",
            ),
            (
                k(serde_json::json!({"Account": "12"})),
                id.clone(),
                "Keys[0].Account",
                "is not a 12-digit account id",
            ),
            (
                k(serde_json::json!({"KeySpec": "SM2"})),
                id.clone(),
                "Keys[0].KeySpec",
                "China Regions only",
            ),
            (
                k(serde_json::json!({"KeySpec": "HMAC_256"})),
                id.clone(),
                "Keys[0].KeyUsage",
                "ENCRYPT_DECRYPT is not a usage of HMAC_256 keys",
            ),
            (
                k(serde_json::json!({"Origin": "AWS_CLOUDHSM"})),
                id.clone(),
                "Keys[0].Origin",
                "custom key store",
            ),
            (
                k(serde_json::json!({"Policy": "{}"})),
                id.clone(),
                "Keys[0].Policy",
                "",
            ),
            (
                k(serde_json::json!({"Tags": [{"TagKey": "aws:x", "TagValue": ""}]})),
                id.clone(),
                "Keys[0].Tags",
                "reserved",
            ),
            (
                k(serde_json::json!({"Aliases": ["app"]})),
                id.clone(),
                "Keys[0].Aliases",
                "Alias must start with the prefix",
            ),
            (
                k(serde_json::json!({"KeyMaterial": [{"Material": "!!"}]})),
                id.clone(),
                "Keys[0].KeyMaterial[0].Material",
                "not base64",
            ),
            (
                k(serde_json::json!({"KeyMaterial": [{"Material": B64.encode([1u8; 16])}]})),
                id.clone(),
                "Keys[0].KeyMaterial[0].Material",
                "SYMMETRIC_DEFAULT material is 32 bytes, not 16",
            ),
            (
                k(serde_json::json!({"KeyMaterial": [{"MaterialFile": "missing.bin"}]})),
                id.clone(),
                "Keys[0].KeyMaterial[0].MaterialFile",
                "cannot read",
            ),
            (
                k(serde_json::json!({"KeyMaterial": [{}]})),
                id.clone(),
                "Keys[0].KeyMaterial[0]",
                "give exactly one of",
            ),
            (
                k(serde_json::json!({"Origin": "EXTERNAL", "KeyMaterial": [{"Generate": true}]})),
                id.clone(),
                "Keys[0].KeyMaterial[0].Generate",
                "never generated",
            ),
            (
                k(
                    serde_json::json!({"KeyMaterial": [{"Generate": true, "ValidTo": 4102444800u64}]}),
                ),
                id.clone(),
                "Keys[0].KeyMaterial[0].ValidTo",
                "only imported material",
            ),
            (
                k(
                    serde_json::json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC", "KeyMaterial": [{"Generate": true}, {"Generate": true}]}),
                ),
                id.clone(),
                "Keys[0].KeyMaterial",
                "only symmetric keys rotate",
            ),
            (
                serde_json::json!({"Keys": [{"KeyId": ID}, {"KeyId": ID}]}),
                id.clone(),
                "Keys[1].KeyId",
                "same account and Region",
            ),
            (
                serde_json::json!({"Keys": [{"KeyId": ID, "Aliases": ["alias/a"]}, {"KeyId": "mrk-1234abcd12ab34cd56ef1234567890ab", "Aliases": ["alias/a"]}]}),
                Some("mrk-1234abcd12ab34cd56ef1234567890ab".into()),
                "Keys[1].Aliases",
                "names another key",
            ),
        ];
        for (json, key, field, text) in cases {
            let (k, f, r) = reason(json.clone());
            assert_eq!((&k, f.as_str()), (&key, field), "{json}: {r}");
            assert!(r.contains(text), "{json}: {r}");
        }
        let e = check(serde_json::json!({"Keys": [{"KeyId": "nope"}]})).unwrap_err();
        assert!(e.to_string().starts_with("seed file "), "{e}");
        assert!(e.to_string().ends_with(": key nope: Keys[0].KeyId: \"nope\" is not a key id: a lowercase UUID (1234abcd-12ab-34cd-56ef-1234567890ab), or mrk- and 32 lowercase hex digits for a multi-Region key"), "{e}");
    }

    #[test]
    fn not_json_and_unreadable() {
        let dir = std::env::temp_dir();
        let e = Seed::read(&dir.join("no-such-seed.json"), &scope()).unwrap_err();
        assert!(e.reason.starts_with("cannot read: "), "{e}");
        let path = dir.join(format!("bad-seed-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&path, "{\"Keys\": [").unwrap();
        let e = Seed::read(&path, &scope()).unwrap_err();
        assert!(
            e.reason
                .starts_with("not JSON: EOF while parsing a list at line 1 column 10"),
            "{e}"
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn pem_material_files() {
        let dir = std::env::temp_dir().join(format!("kms-seed-pem-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let der = crate::crypto::material::generate(KeySpec::EccNistP256, SymmetricCipher::Aes256)
            .unwrap();
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.clone()));
        std::fs::write(dir.join("p256.pem"), pem).unwrap();
        std::fs::write(dir.join("p256.der"), &der).unwrap();
        std::fs::write(
            dir.join("cert.pem"),
            pem::encode(&pem::Pem::new("CERTIFICATE", vec![1, 2])),
        )
        .unwrap();
        let key = |file: &str| {
            serde_json::json!({"KeyId": ID, "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY",
                                                  "Origin": "EXTERNAL", "KeyMaterial": [{"MaterialFile": file}]})
        };
        for file in ["p256.pem", "p256.der"] {
            let file_json = serde_json::json!({"Keys": [key(file)]});
            let seed = Seed::check(
                Path::new("s.json"),
                &dir,
                serde_json::from_value(file_json).unwrap(),
                &scope(),
            )
            .unwrap();
            assert!(
                matches!(&seed.keys[0].versions[0].source, MaterialSource::Given(m) if m == &der),
                "{file}"
            );
        }
        let e = Seed::check(
            Path::new("s.json"),
            &dir,
            serde_json::from_value(serde_json::json!({"Keys": [key("cert.pem")]})).unwrap(),
            &scope(),
        )
        .unwrap_err();
        assert!(e.reason.contains("a PEM \"CERTIFICATE\" block"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
