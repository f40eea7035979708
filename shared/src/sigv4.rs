//! AWS Signature Version 4, as far as the endpoint needs it: the credential scope of a request
//! names the region the client talks to (`Credential=<key>/<date>/<region>/kms/aws4_request`).

/// The parts of a SigV4 credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

impl<'a> CredentialScope<'a> {
    /// Parses `<key>/<yyyymmdd>/<region>/<service>/aws4_request`.
    pub fn parse(credential: &'a str) -> Option<Self> {
        let mut it = credential.rsplitn(5, '/');
        let (terminator, service, region, date, key) =
            (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
        (terminator == "aws4_request" && !key.is_empty() && !region.is_empty()).then_some(Self {
            access_key_id: key,
            date,
            region,
            service,
        })
    }

    /// The credential of an `Authorization: AWS4-HMAC-SHA256 Credential=..., ...` header.
    pub fn from_authorization(header: &'a str) -> Option<Self> {
        let params = header.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
        params
            .split(',')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("Credential="))
            .and_then(Self::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_from_header() {
        let h = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/cn-north-1/kms/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abc";
        let c = CredentialScope::from_authorization(h).unwrap();
        assert_eq!(
            c,
            CredentialScope {
                access_key_id: "AKIDEXAMPLE",
                date: "20261123",
                region: "cn-north-1",
                service: "kms"
            }
        );
        assert!(CredentialScope::from_authorization("Bearer x").is_none());
        assert!(CredentialScope::from_authorization("AWS4-HMAC-SHA256 Credential=a/b/c").is_none());
    }
}
