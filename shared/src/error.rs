//! The one error type of the mock, and its single mapping to the KMS wire form.
//!
//! Every failure a client can see is a [`KmsError`]: an [`ErrorCode`] (which fixes the
//! `__type` and the HTTP status) plus an optional message. AWS sends some errors with no
//! text at all (`InvalidCiphertextException`, `InvalidImportTokenException`), so the message
//! is an `Option` and the body then carries `__type` only.

use std::borrow::Cow;
use std::fmt;

/// Error codes as AWS KMS names them in `__type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    AccessDenied,
    AlreadyExists,
    CloudHsmClusterNotFound,
    Conflict,
    CustomKeyStoreNotFound,
    Disabled,
    DryRunOperation,
    DependencyTimeout,
    ExpiredImportToken,
    IncorrectKey,
    IncorrectKeyMaterial,
    IncorrectSignature,
    IncompleteSignature,
    InvalidAliasName,
    InvalidArn,
    InvalidCiphertext,
    InvalidGrantId,
    InvalidGrantToken,
    InvalidImportToken,
    InvalidKeyUsage,
    InvalidMarker,
    InvalidSignature,
    KmsInternal,
    KmsInvalidMac,
    KmsInvalidSignature,
    KmsInvalidState,
    LimitExceeded,
    MalformedPolicyDocument,
    MissingAuthenticationToken,
    NotFound,
    Serialization,
    Tag,
    Throttling,
    UnknownOperation,
    UnrecognizedClient,
    UnsupportedOperation,
    Validation,
    XksProxyUriUnreachable,
    XksProxyVpcEndpointServiceNotFound,
}

impl ErrorCode {
    /// The `__type` value on the wire.
    pub fn wire_name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            AccessDenied => "AccessDeniedException",
            AlreadyExists => "AlreadyExistsException",
            CloudHsmClusterNotFound => "CloudHsmClusterNotFoundException",
            Conflict => "ConflictException",
            CustomKeyStoreNotFound => "CustomKeyStoreNotFoundException",
            Disabled => "DisabledException",
            DryRunOperation => "DryRunOperationException",
            DependencyTimeout => "DependencyTimeoutException",
            ExpiredImportToken => "ExpiredImportTokenException",
            IncorrectKey => "IncorrectKeyException",
            IncorrectKeyMaterial => "IncorrectKeyMaterialException",
            IncorrectSignature => "IncorrectSignatureException",
            IncompleteSignature => "IncompleteSignatureException",
            InvalidAliasName => "InvalidAliasNameException",
            InvalidArn => "InvalidArnException",
            InvalidCiphertext => "InvalidCiphertextException",
            InvalidGrantId => "InvalidGrantIdException",
            InvalidGrantToken => "InvalidGrantTokenException",
            InvalidImportToken => "InvalidImportTokenException",
            InvalidKeyUsage => "InvalidKeyUsageException",
            InvalidMarker => "InvalidMarkerException",
            InvalidSignature => "InvalidSignatureException",
            KmsInternal => "KMSInternalException",
            KmsInvalidMac => "KMSInvalidMacException",
            KmsInvalidSignature => "KMSInvalidSignatureException",
            KmsInvalidState => "KMSInvalidStateException",
            LimitExceeded => "LimitExceededException",
            MalformedPolicyDocument => "MalformedPolicyDocumentException",
            MissingAuthenticationToken => "MissingAuthenticationTokenException",
            NotFound => "NotFoundException",
            Serialization => "SerializationException",
            Tag => "TagException",
            Throttling => "ThrottlingException",
            UnknownOperation => "UnknownOperationException",
            UnrecognizedClient => "UnrecognizedClientException",
            UnsupportedOperation => "UnsupportedOperationException",
            Validation => "ValidationException",
            XksProxyUriUnreachable => "XksProxyUriUnreachableException",
            XksProxyVpcEndpointServiceNotFound => "XksProxyVpcEndpointServiceNotFoundException",
        }
    }

    /// HTTP status: KMS answers every client error with 400, its own faults with 500.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::KmsInternal => 500,
            ErrorCode::DependencyTimeout => 503,
            _ => 400,
        }
    }
}

/// A failure as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsError {
    pub code: ErrorCode,
    pub message: Option<Cow<'static, str>>,
}

impl KmsError {
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: Some(message.into()),
        }
    }

    /// An error that AWS sends with `__type` only.
    pub fn bare(code: ErrorCode) -> Self {
        Self {
            code,
            message: None,
        }
    }

    pub fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Validation, message)
    }

    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn invalid_state(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::KmsInvalidState, message)
    }

    pub fn unsupported(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnsupportedOperation, message)
    }

    /// A fault of the mock itself; the detail goes to the log, not to the client.
    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::bare(ErrorCode::KmsInternal)
    }

    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The JSON body: `{"__type": ..., "message": ...}`, message omitted when AWS sends none.
    pub fn to_body(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            #[serde(rename = "__type")]
            kind: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            message: Option<&'a str>,
        }
        serde_json::to_vec(&Body {
            kind: self.code.wire_name(),
            message: self.message(),
        })
        .expect("error body serializes")
    }
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            Some(m) => write!(f, "{}: {m}", self.code.wire_name()),
            None => f.write_str(self.code.wire_name()),
        }
    }
}

impl std::error::Error for KmsError {}

pub type KmsResult<T> = Result<T, KmsError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_with_and_without_message() {
        let e = KmsError::not_found("Key 'x' does not exist");
        assert_eq!(
            String::from_utf8(e.to_body()).unwrap(),
            r#"{"__type":"NotFoundException","message":"Key 'x' does not exist"}"#
        );
        let e = KmsError::bare(ErrorCode::InvalidImportToken);
        assert_eq!(
            String::from_utf8(e.to_body()).unwrap(),
            r#"{"__type":"InvalidImportTokenException"}"#
        );
        assert_eq!(e.code.http_status(), 400);
        assert_eq!(ErrorCode::KmsInternal.http_status(), 500);
    }
}
