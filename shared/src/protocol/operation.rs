//! The operations this mock serves.

use crate::wire_enum;

wire_enum! {
    /// A KMS operation the endpoint answers (the `<Op>` of `X-Amz-Target: TrentService.<Op>`).
    pub enum Operation {
        CancelKeyDeletion = "CancelKeyDeletion",
        ConnectCustomKeyStore = "ConnectCustomKeyStore",
        CreateAlias = "CreateAlias",
        CreateCustomKeyStore = "CreateCustomKeyStore",
        CreateGrant = "CreateGrant",
        CreateKey = "CreateKey",
        Decrypt = "Decrypt",
        DeleteAlias = "DeleteAlias",
        DeleteCustomKeyStore = "DeleteCustomKeyStore",
        DeleteImportedKeyMaterial = "DeleteImportedKeyMaterial",
        DeriveSharedSecret = "DeriveSharedSecret",
        DescribeCustomKeyStores = "DescribeCustomKeyStores",
        DescribeKey = "DescribeKey",
        DisableKey = "DisableKey",
        DisableKeyRotation = "DisableKeyRotation",
        DisconnectCustomKeyStore = "DisconnectCustomKeyStore",
        EnableKey = "EnableKey",
        EnableKeyRotation = "EnableKeyRotation",
        Encrypt = "Encrypt",
        GenerateDataKey = "GenerateDataKey",
        GenerateDataKeyPair = "GenerateDataKeyPair",
        GenerateDataKeyPairWithoutPlaintext = "GenerateDataKeyPairWithoutPlaintext",
        GenerateDataKeyWithoutPlaintext = "GenerateDataKeyWithoutPlaintext",
        GenerateMac = "GenerateMac",
        GenerateRandom = "GenerateRandom",
        GetKeyLastUsage = "GetKeyLastUsage",
        GetKeyRotationStatus = "GetKeyRotationStatus",
        GetKeyPolicy = "GetKeyPolicy",
        GetParametersForImport = "GetParametersForImport",
        GetPublicKey = "GetPublicKey",
        ImportKeyMaterial = "ImportKeyMaterial",
        ListAliases = "ListAliases",
        ListGrants = "ListGrants",
        ListKeyPolicies = "ListKeyPolicies",
        ListKeyRotations = "ListKeyRotations",
        ListKeys = "ListKeys",
        ListResourceTags = "ListResourceTags",
        ListRetirableGrants = "ListRetirableGrants",
        PutKeyPolicy = "PutKeyPolicy",
        ReEncrypt = "ReEncrypt",
        ReplicateKey = "ReplicateKey",
        RetireGrant = "RetireGrant",
        RevokeGrant = "RevokeGrant",
        RotateKeyOnDemand = "RotateKeyOnDemand",
        ScheduleKeyDeletion = "ScheduleKeyDeletion",
        Sign = "Sign",
        TagResource = "TagResource",
        UntagResource = "UntagResource",
        UpdateAlias = "UpdateAlias",
        UpdateCustomKeyStore = "UpdateCustomKeyStore",
        UpdateKeyDescription = "UpdateKeyDescription",
        UpdatePrimaryRegion = "UpdatePrimaryRegion",
        Verify = "Verify",
        VerifyMac = "VerifyMac",
    }
}

impl Operation {
    /// The service model's input shape of this operation.
    pub fn input_shape(self) -> &'static str {
        super::model::Model::get()
            .input_shape(self.as_str())
            .expect("every served operation is in the model")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_in_the_model() {
        for op in Operation::ALL {
            assert_eq!(op.input_shape(), format!("{op}Request"));
        }
    }
}
