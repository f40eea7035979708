//! The two forms a signature comes in, read with AWS's rules: the Authorization header, or a
//! presigned query string. Anything ambiguous (a parameter twice, both forms at once) is an
//! error here, never a choice, so no two readers of a request can see different credentials.

use http::HeaderMap;

use super::date::AmzDate;
use super::error::{HeaderPart, SigV4Error};
use super::request::{
    ALGORITHM, MAX_PRESIGN_EXPIRES, SERVICE, TERMINATOR, header, param, query_pairs,
};

/// Where the signature is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
    Header,
    /// `X-Amz-Signature` and its companions in the query, valid for `expires` seconds.
    Presigned { expires: u32 },
}

/// The parts of a SigV4 credential, `<key>/<yyyymmdd>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

impl CredentialScope {
    pub fn parse(credential: &str) -> Result<Self, SigV4Error> {
        let malformed = || SigV4Error::MalformedCredential(credential.to_string());
        let parts: Vec<&str> = credential.split('/').collect();
        let [key, date, region, service, terminator] = parts[..] else {
            return Err(malformed());
        };
        if key.is_empty() || region.is_empty() {
            return Err(malformed());
        }
        if terminator != TERMINATOR {
            return Err(SigV4Error::BadTerminator(terminator.to_string()));
        }
        Ok(Self {
            access_key_id: key.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
        })
    }

    pub fn is_for_service(&self) -> bool {
        self.service == SERVICE
    }
}

/// A request's signature fields, parsed but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub form: Form,
    pub scope: CredentialScope,
    /// Lower-case header names, in the order signed.
    pub signed_headers: Vec<String>,
    pub signature: String,
    pub amz_date: AmzDate,
    pub security_token: Option<String>,
}

/// The query parameters that make a request presigned; any one of them present means the
/// client meant that form.
const PRESIGN_PARAMS: [&str; 6] = [
    param::ALGORITHM,
    param::CREDENTIAL,
    param::DATE,
    param::EXPIRES,
    param::SIGNED_HEADERS,
    param::SIGNATURE,
];

/// The signature of a request: `Ok(None)` when it carries none at all.
pub fn parse(
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Option<Authorization>, SigV4Error> {
    let pairs = query_pairs(query);
    let presigned = pairs
        .iter()
        .any(|(k, _)| PRESIGN_PARAMS.contains(&k.as_str()));
    let mut auth = headers.get_all(header::AUTHORIZATION).iter();
    match (auth.next(), presigned) {
        (Some(_), true) => Err(SigV4Error::BothForms),
        (Some(value), false) => {
            let text = String::from_utf8_lossy(value.as_bytes());
            if auth.next().is_some() {
                return Err(SigV4Error::DuplicateHeaderPart {
                    part: HeaderPart::Credential,
                    authorization: text.into_owned(),
                });
            }
            from_header(&text, headers).map(Some)
        }
        (None, true) => from_query(&pairs).map(Some),
        (None, false) => Ok(None),
    }
}

fn from_header(auth: &str, headers: &HeaderMap) -> Result<Authorization, SigV4Error> {
    // Another scheme has none of the parameters, and is refused for missing them.
    let params = auth
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
        .unwrap_or("");
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for item in params.split(',').map(str::trim) {
        let (slot, part, value) = if let Some(v) = item.strip_prefix("Credential=") {
            (&mut credential, HeaderPart::Credential, v)
        } else if let Some(v) = item.strip_prefix("SignedHeaders=") {
            (&mut signed, HeaderPart::SignedHeaders, v)
        } else if let Some(v) = item.strip_prefix("Signature=") {
            (&mut signature, HeaderPart::Signature, v)
        } else {
            continue;
        };
        if slot.replace(value).is_some() {
            return Err(SigV4Error::DuplicateHeaderPart {
                part,
                authorization: auth.to_string(),
            });
        }
    }
    let mut dates = headers.get_all(header::X_AMZ_DATE).iter();
    let amz_date = dates.next().map(|v| String::from_utf8_lossy(v.as_bytes()));
    if dates.next().is_some() {
        return Err(SigV4Error::DuplicateHeaderPart {
            part: HeaderPart::Date,
            authorization: auth.to_string(),
        });
    }
    let missing: Vec<HeaderPart> = [
        (HeaderPart::Credential, credential.is_none()),
        (HeaderPart::Signature, signature.is_none()),
        (HeaderPart::SignedHeaders, signed.is_none()),
        (HeaderPart::Date, amz_date.is_none()),
    ]
    .into_iter()
    .filter_map(|(p, absent)| absent.then_some(p))
    .collect();
    let (Some(credential), Some(signed), Some(signature), Some(amz_date)) =
        (credential, signed, signature, amz_date)
    else {
        return Err(SigV4Error::MissingHeaderParts {
            missing,
            authorization: auth.to_string(),
        });
    };
    let mut tokens = headers.get_all(header::X_AMZ_SECURITY_TOKEN).iter();
    let security_token = tokens
        .next()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if tokens.next().is_some() {
        // Two tokens cannot both match the credential's.
        return Err(SigV4Error::SessionTokenMismatch);
    }
    Ok(Authorization {
        form: Form::Header,
        scope: CredentialScope::parse(credential)?,
        signed_headers: signed.split(';').map(str::to_string).collect(),
        signature: signature.to_string(),
        amz_date: AmzDate(amz_date.into_owned()),
        security_token,
    })
}

fn from_query(pairs: &[(String, String)]) -> Result<Authorization, SigV4Error> {
    let one = |name: &'static str| -> Result<Option<&str>, SigV4Error> {
        let mut values = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        let first = values.next();
        if values.next().is_some() {
            return Err(SigV4Error::DuplicateQueryParam(name));
        }
        Ok(first.map(String::as_str))
    };
    let required = |name: &'static str| one(name)?.ok_or(SigV4Error::MissingQueryParam(name));
    if required(param::ALGORITHM)? != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm);
    }
    let amz_date = required(param::DATE)?;
    let expires = required(param::EXPIRES)?
        .parse::<u32>()
        .map_err(|_| SigV4Error::ExpiresNotANumber)?;
    if expires > MAX_PRESIGN_EXPIRES {
        return Err(SigV4Error::ExpiresTooLong);
    }
    let credential = required(param::CREDENTIAL)?;
    let signed = required(param::SIGNED_HEADERS)?;
    let signature = required(param::SIGNATURE)?;
    Ok(Authorization {
        form: Form::Presigned { expires },
        scope: CredentialScope::parse(credential)?,
        signed_headers: signed.split(';').map(str::to_string).collect(),
        signature: signature.to_string(),
        amz_date: AmzDate(amz_date.to_string()),
        security_token: one(param::SECURITY_TOKEN)?.map(str::to_string),
    })
}
