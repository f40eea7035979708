//! Grants: permission on one key for one grantee, for some operations, within optional
//! encryption-context constraints (`kms-api-facts.md` §2.2).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::spec::{KeyFamily, KeySpec, KeyUsage};
use crate::clock::Timestamp;
use crate::error::{ErrorCode, KmsError};
use crate::wire_enum;

wire_enum! {
    /// An operation a grant can allow (the model's `GrantOperation`: no import operation is
    /// one, so grants never authorize them).
    pub enum GrantOperation {
        Decrypt = "Decrypt",
        Encrypt = "Encrypt",
        GenerateDataKey = "GenerateDataKey",
        GenerateDataKeyWithoutPlaintext = "GenerateDataKeyWithoutPlaintext",
        ReEncryptFrom = "ReEncryptFrom",
        ReEncryptTo = "ReEncryptTo",
        Sign = "Sign",
        Verify = "Verify",
        GetPublicKey = "GetPublicKey",
        CreateGrant = "CreateGrant",
        RetireGrant = "RetireGrant",
        DescribeKey = "DescribeKey",
        GenerateDataKeyPair = "GenerateDataKeyPair",
        GenerateDataKeyPairWithoutPlaintext = "GenerateDataKeyPairWithoutPlaintext",
        GenerateMac = "GenerateMac",
        VerifyMac = "VerifyMac",
        DeriveSharedSecret = "DeriveSharedSecret",
    }
}

/// The operations a grant on a key of this spec and usage may list (the developer guide's
/// "Grant operations" table).
pub fn valid_operations(spec: KeySpec, usage: KeyUsage) -> &'static [GrantOperation] {
    use GrantOperation::*;
    match (spec.family(), usage) {
        (KeyFamily::Symmetric, _) => &[
            CreateGrant,
            Decrypt,
            DescribeKey,
            Encrypt,
            GenerateDataKey,
            GenerateDataKeyPair,
            GenerateDataKeyPairWithoutPlaintext,
            GenerateDataKeyWithoutPlaintext,
            ReEncryptFrom,
            ReEncryptTo,
            RetireGrant,
        ],
        (KeyFamily::Hmac, _) => &[
            CreateGrant,
            DescribeKey,
            GenerateMac,
            RetireGrant,
            VerifyMac,
        ],
        (_, KeyUsage::EncryptDecrypt) => &[
            CreateGrant,
            Decrypt,
            DescribeKey,
            Encrypt,
            GetPublicKey,
            ReEncryptFrom,
            ReEncryptTo,
            RetireGrant,
        ],
        (_, KeyUsage::SignVerify) => &[
            CreateGrant,
            DescribeKey,
            GetPublicKey,
            RetireGrant,
            Sign,
            Verify,
        ],
        (_, _) => &[
            CreateGrant,
            DescribeKey,
            DeriveSharedSecret,
            GetPublicKey,
            RetireGrant,
        ],
    }
}

/// `Constraints`: the encryption context a granted request must carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantConstraints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
}

impl GrantConstraints {
    /// Whether a request with this encryption context is within the constraints.
    pub fn admit(&self, context: &BTreeMap<String, String>) -> bool {
        let subset = self
            .encryption_context_subset
            .as_ref()
            .is_none_or(|want| want.iter().all(|(k, v)| context.get(k) == Some(v)));
        let equals = self
            .encryption_context_equals
            .as_ref()
            .is_none_or(|want| want == context);
        subset && equals
    }

    /// `kms:GrantConstraintType`.
    pub fn types(&self) -> Vec<String> {
        let mut t = Vec::new();
        if self.encryption_context_subset.is_some() {
            t.push("EncryptionContextSubset".to_string());
        }
        if self.encryption_context_equals.is_some() {
            t.push("EncryptionContextEquals".to_string());
        }
        t
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// 64 hex digits, as AWS's.
    pub grant_id: String,
    pub name: Option<String>,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    /// `arn:aws:iam::<account>:root` of the account the grant was created in.
    pub issuing_account: String,
    pub operations: Vec<GrantOperation>,
    pub constraints: Option<GrantConstraints>,
    pub creation_date: Timestamp,
}

impl Grant {
    /// Whether this grant lets `principals` (the caller's ARN and, for a session, its role's)
    /// do `operation` with this encryption context.
    pub fn allows(
        &self,
        principals: &[&str],
        operation: GrantOperation,
        context: &BTreeMap<String, String>,
    ) -> bool {
        principals.contains(&self.grantee_principal.as_str())
            && self.operations.contains(&operation)
            && match (&self.constraints, operation) {
                // DescribeKey and RetireGrant take no encryption context: exempt.
                (_, GrantOperation::DescribeKey | GrantOperation::RetireGrant) => true,
                (None, _) => true,
                (Some(c), _) => c.admit(context),
            }
    }
}

impl Grant {
    /// Who may retire it (DG): its retiring principal, its grantee when it lists RetireGrant,
    /// or a principal of the account it was created in (`account_root`: the caller's
    /// `arn:<partition>:iam::<account>:root`). `kms:RetireGrant` in a policy alone does not.
    pub fn may_retire(&self, principals: &[&str], account_root: &str) -> bool {
        self.retiring_principal
            .as_deref()
            .is_some_and(|p| principals.contains(&p))
            || (principals.contains(&self.grantee_principal.as_str())
                && self.operations.contains(&GrantOperation::RetireGrant))
            || self.issuing_account == account_root
    }
}

/// RetireGrant by someone the grant does not name (AWS's text was not captured).
pub fn retire_refusal(caller_arn: &str) -> KmsError {
    KmsError::new(
        ErrorCode::AccessDenied,
        format!(
            "User: {caller_arn} is not authorized to perform: kms:RetireGrant on this resource because it is neither the grant's retiring principal nor its grantee with RetireGrant"
        ),
    )
}

/// An unknown grant id (AWS's text was not captured).
pub fn grant_not_found(grant_id: &str) -> KmsError {
    KmsError::new(
        ErrorCode::InvalidGrantId,
        format!("Grant ID {grant_id} not found"),
    )
}
