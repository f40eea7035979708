//! Verification of a parsed signature against the request it came with.

use aws_lc_rs::constant_time;

use super::canonical::{canonical_request, sha256_hex};
use super::date::MAX_SKEW_SECONDS;
use super::error::SigV4Error;
use super::key::signature;
use super::parse::{Authorization, Form, parse};
use super::request::{Secret, SignedRequest, UNSIGNED_PAYLOAD, Verified, header, header_str};

/// Parses and verifies a request's signature at `now` (epoch seconds).
pub fn authenticate<'s>(
    req: &SignedRequest,
    now: i64,
    lookup: impl Fn(&str) -> Option<Secret<'s>>,
) -> Result<Verified, SigV4Error> {
    let auth = parse(req.headers, req.query)?.ok_or(SigV4Error::MissingToken)?;
    verify(req, &auth, now, lookup)
}

/// Verifies `auth`, parsed from `req`, at `now` (epoch seconds), for service `kms`.
/// `lookup` finds the secret of an access key id.
pub fn verify<'s>(
    req: &SignedRequest,
    auth: &Authorization,
    now: i64,
    lookup: impl Fn(&str) -> Option<Secret<'s>>,
) -> Result<Verified, SigV4Error> {
    let scope = &auth.scope;
    let secret = lookup(&scope.access_key_id).ok_or(SigV4Error::UnknownAccessKey)?;
    if secret.session_token != auth.security_token.as_deref() {
        return Err(SigV4Error::SessionTokenMismatch);
    }
    if !scope.is_for_service() {
        return Err(SigV4Error::WrongService);
    }
    let amz_date = auth.amz_date.as_str();
    let signed_at = auth.amz_date.epoch().ok_or(SigV4Error::UnreadableDate)?;
    if !amz_date.starts_with(&scope.date) {
        return Err(SigV4Error::DateMismatch {
            scope_date: scope.date.clone(),
            amz_date: amz_date.to_string(),
        });
    }
    match auth.form {
        Form::Presigned { expires } => {
            if now > signed_at + i64::from(expires) || signed_at > now + MAX_SKEW_SECONDS {
                return Err(SigV4Error::PresignExpired);
            }
        }
        Form::Header => {
            if signed_at < now - MAX_SKEW_SECONDS {
                let amz_date = amz_date.to_string();
                return Err(SigV4Error::Expired { amz_date, now });
            }
            if signed_at > now + MAX_SKEW_SECONDS {
                let amz_date = amz_date.to_string();
                return Err(SigV4Error::NotYetCurrent { amz_date, now });
            }
        }
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(SigV4Error::HostNotSigned);
    }

    // The hash of the body as received, never a hash the request claims: an unsigned
    // `x-amz-content-sha256` naming the signed body's hash would otherwise let another body
    // through under the same signature. A signer may leave the payload out on purpose.
    let unsigned = matches!(auth.form, Form::Presigned { .. })
        || header_str(req.headers, header::X_AMZ_CONTENT_SHA256) == Some(UNSIGNED_PAYLOAD);
    let payload_hashes = [
        Some(sha256_hex(req.body)),
        unsigned.then(|| UNSIGNED_PAYLOAD.to_string()),
    ];
    let given = auth.signature.to_ascii_lowercase();
    for payload_hash in payload_hashes.into_iter().flatten() {
        let canonical = canonical_request(req, &auth.signed_headers, auth.form, &payload_hash);
        let expected = signature(secret.secret_access_key, scope, amz_date, &canonical);
        if constant_time::verify_slices_are_equal(expected.as_bytes(), given.as_bytes()).is_ok() {
            return Ok(Verified {
                access_key_id: scope.access_key_id.clone(),
                region: scope.region.clone(),
            });
        }
    }
    Err(SigV4Error::SignatureMismatch)
}
