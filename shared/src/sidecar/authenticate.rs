//! The first stage of a decision: who signed a request, and for which Region.

use bytes::Bytes;
use http::{HeaderValue, Request};

use super::Sidecar;
use crate::domain::arn::is_valid_region;
use crate::error::KmsResult;
use crate::policy::Caller;
use crate::sigv4::{self, Secret, SignedRequest};

/// Who made a request, once authenticated (borrowed from the configuration).
pub(super) struct Identity<'c> {
    pub caller: &'c Caller,
    pub caller_header: &'c HeaderValue,
    pub access_key_id: Option<String>,
    pub region: String,
}

impl Sidecar {
    /// Who signed the request, and for which Region, read by the one SigV4 parser. With
    /// checking off the credential is taken as claimed, but a malformed one is still refused:
    /// the endpoint would refuse it too.
    pub(super) fn authenticate(&self, req: &Request<Bytes>, now: i64) -> KmsResult<Identity<'_>> {
        let headers = req.headers();
        let region = |r: String| {
            if is_valid_region(&r) {
                r
            } else {
                self.config.default_region.clone()
            }
        };
        if !self.config.verify_signatures {
            let claimed = sigv4::parse(headers, req.uri().query())?;
            let (access_key_id, claimed_region) = claimed
                .map(|a| (a.scope.access_key_id, a.scope.region))
                .unzip();
            let (caller, caller_header) = access_key_id
                .as_deref()
                .and_then(|k| self.config.credentials.get(k))
                .map_or(
                    (
                        &self.config.default_caller,
                        &self.config.default_caller_header,
                    ),
                    |c| (&c.caller, &c.caller_header),
                );
            return Ok(Identity {
                caller,
                caller_header,
                access_key_id,
                region: claimed_region.map_or_else(|| self.config.default_region.clone(), region),
            });
        }
        let signed = SignedRequest {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query(),
            headers,
            body: req.body(),
        };
        let verified = sigv4::authenticate(&signed, now, |key| {
            self.config.credentials.get(key).map(|c| Secret {
                secret_access_key: &c.secret_access_key,
                session_token: c.session_token.as_deref(),
            })
        })?;
        let credential = &self.config.credentials[&verified.access_key_id];
        Ok(Identity {
            caller: &credential.caller,
            caller_header: &credential.caller_header,
            access_key_id: Some(verified.access_key_id),
            region: region(verified.region),
        })
    }
}
