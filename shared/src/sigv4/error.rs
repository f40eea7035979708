//! Every way a request fails SigV4, as a type, and the one place that words each as AWS does.

use super::date::{MAX_SKEW_SECONDS, format_amz_date};
use super::request::{MAX_PRESIGN_EXPIRES, SERVICE, TERMINATOR};
use crate::error::{ErrorCode, KmsError};

/// A parameter the Authorization header form must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderPart {
    Credential,
    Signature,
    SignedHeaders,
    /// The `X-Amz-Date` header.
    Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigV4Error {
    /// Neither an Authorization header nor a presigned query.
    MissingToken,
    /// Authorization header form without some of its parameters; `authorization` as sent.
    MissingHeaderParts {
        missing: Vec<HeaderPart>,
        authorization: String,
    },
    /// A parameter of the Authorization header given twice: which one counts is exactly what
    /// two readers could disagree on, so the request is malformed.
    DuplicateHeaderPart {
        part: HeaderPart,
        authorization: String,
    },
    /// Presigned form without this query parameter.
    MissingQueryParam(&'static str),
    /// A presigned query parameter given twice.
    DuplicateQueryParam(&'static str),
    /// Both the Authorization header and a presigned query.
    BothForms,
    UnsupportedAlgorithm,
    ExpiresNotANumber,
    ExpiresTooLong,
    /// Not `<key>/<yyyymmdd>/<region>/<service>/<terminator>`.
    MalformedCredential(String),
    BadTerminator(String),
    UnknownAccessKey,
    SessionTokenMismatch,
    WrongService,
    /// `X-Amz-Date` is not `yyyymmddThhmmssZ`.
    UnreadableDate,
    DateMismatch {
        scope_date: String,
        amz_date: String,
    },
    /// Header form: signed more than five minutes ago.
    Expired {
        amz_date: String,
        now: i64,
    },
    /// Header form: signed more than five minutes ahead.
    NotYetCurrent {
        amz_date: String,
        now: i64,
    },
    /// Presigned form: past `X-Amz-Expires`, or signed in the future.
    PresignExpired,
    /// `host` is not among the signed headers.
    HostNotSigned,
    SignatureMismatch,
}

const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

impl From<SigV4Error> for KmsError {
    fn from(e: SigV4Error) -> KmsError {
        use SigV4Error::*;
        let skew = MAX_SKEW_SECONDS;
        let (code, message) = match e {
            MissingToken => (
                ErrorCode::MissingAuthenticationToken,
                "Missing Authentication Token".to_string(),
            ),
            MissingHeaderParts {
                missing,
                authorization,
            } => {
                let parts: Vec<&str> = missing
                    .iter()
                    .map(|p| match p {
                        HeaderPart::Date => "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
                        HeaderPart::Credential => "Authorization header requires 'Credential' parameter.",
                        HeaderPart::Signature => "Authorization header requires 'Signature' parameter.",
                        HeaderPart::SignedHeaders => "Authorization header requires 'SignedHeaders' parameter.",
                    })
                    .collect();
                (
                    ErrorCode::IncompleteSignature,
                    format!("{} Authorization={authorization}", parts.join(" ")),
                )
            }
            // Not captured from AWS: worded after its missing-parameter texts.
            DuplicateHeaderPart {
                part,
                authorization,
            } => (
                ErrorCode::IncompleteSignature,
                format!(
                    "Authorization header has more than one '{}' parameter. Authorization={authorization}",
                    match part {
                        HeaderPart::Credential => "Credential",
                        HeaderPart::Signature => "Signature",
                        HeaderPart::SignedHeaders => "SignedHeaders",
                        HeaderPart::Date => "X-Amz-Date",
                    }
                ),
            ),
            MissingQueryParam(name) => (
                ErrorCode::IncompleteSignature,
                format!(
                    "AWS query-string parameters must include '{name}'. Re-examine the query-string parameters."
                ),
            ),
            // Not captured from AWS.
            DuplicateQueryParam(name) => (
                ErrorCode::IncompleteSignature,
                format!(
                    "AWS query-string parameter '{name}' is given more than once. Re-examine the query-string parameters."
                ),
            ),
            // AWS's wording of this refusal in its other JSON services; not captured from KMS.
            BothForms => (
                ErrorCode::IncompleteSignature,
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified".to_string(),
            ),
            UnsupportedAlgorithm => (
                ErrorCode::IncompleteSignature,
                "X-Amz-Algorithm only supports 'AWS4-HMAC-SHA256'".to_string(),
            ),
            ExpiresNotANumber => (
                ErrorCode::IncompleteSignature,
                "X-Amz-Expires must be a whole number of seconds.".to_string(),
            ),
            // S3's text for the same limit; not captured from KMS.
            ExpiresTooLong => (
                ErrorCode::IncompleteSignature,
                format!(
                    "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_EXPIRES}"
                ),
            ),
            MalformedCredential(credential) => (
                ErrorCode::IncompleteSignature,
                format!(
                    "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
                ),
            ),
            // Recalled from AWS's SigV4 front end; not captured here.
            BadTerminator(terminator) => (
                ErrorCode::IncompleteSignature,
                format!(
                    "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'."
                ),
            ),
            UnknownAccessKey | SessionTokenMismatch => (
                ErrorCode::UnrecognizedClient,
                "The security token included in the request is invalid.".to_string(),
            ),
            WrongService => (
                ErrorCode::InvalidSignature,
                format!("Credential should be scoped to correct service: '{SERVICE}'. "),
            ),
            DateMismatch {
                scope_date,
                amz_date,
            } => (
                ErrorCode::InvalidSignature,
                format!(
                    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{}', from '{amz_date}'.",
                    &amz_date[..8.min(amz_date.len())],
                ),
            ),
            Expired { amz_date, now } => (
                ErrorCode::InvalidSignature,
                format!(
                    "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
                    format_amz_date(now - skew),
                    format_amz_date(now)
                ),
            ),
            NotYetCurrent { amz_date, now } => (
                ErrorCode::InvalidSignature,
                format!(
                    "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
                    format_amz_date(now + skew),
                    format_amz_date(now)
                ),
            ),
            PresignExpired => (ErrorCode::AccessDenied, "Request has expired".to_string()),
            UnreadableDate | HostNotSigned | SignatureMismatch => {
                (ErrorCode::InvalidSignature, MISMATCH.to_string())
            }
        };
        KmsError::new(code, message)
    }
}
