//! Regions, partitions, the account/region scope keys live in, and the one ARN parser.

use std::fmt;

/// The AWS partition of a region, as it appears in ARNs (`arn:<partition>:kms:...`).
pub fn partition_of(region: &str) -> &'static str {
    const PREFIXES: &[(&str, &str)] = &[
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-iso-", "aws-iso"),
        ("eusc-", "aws-eusc"),
    ];
    PREFIXES
        .iter()
        .find(|(p, _)| region.starts_with(p))
        .map_or("aws", |(_, part)| part)
}

/// `^([a-z]+-){2,3}\d+$`, the service model's `RegionType` pattern.
pub fn is_valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let (last, words) = match parts.split_last() {
        Some(x) => x,
        None => return false,
    };
    (2..=3).contains(&words.len())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

/// A 12-digit AWS account id.
pub fn is_valid_account(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
}

/// Where a key lives: every key belongs to one account in one region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
        }
    }

    pub fn partition(&self) -> &'static str {
        partition_of(&self.region)
    }

    pub fn key_arn(&self, key_id: &str) -> String {
        format!(
            "arn:{}:kms:{}:{}:key/{key_id}",
            self.partition(),
            self.region,
            self.account
        )
    }

    pub fn alias_arn(&self, alias_name: &str) -> String {
        format!(
            "arn:{}:kms:{}:{}:{alias_name}",
            self.partition(),
            self.region,
            self.account
        )
    }

    /// What this scope's symmetric keys are (SM4 in the China Regions).
    pub fn symmetric_cipher(&self) -> super::spec::SymmetricCipher {
        super::spec::SymmetricCipher::for_china(self.is_china())
    }

    /// The China regions are the only ones with SM2.
    pub fn is_china(&self) -> bool {
        self.partition() == "aws-cn"
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// A parsed `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits an ARN into its six parts; `None` unless it has them all.
    pub fn parse(s: &'a str) -> Option<Self> {
        let mut it = s.splitn(6, ':');
        let (arn, partition, service, region, account, resource) = (
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
        );
        if arn != "arn" || partition.is_empty() || service.is_empty() {
            return None;
        }
        Some(Arn {
            partition,
            service,
            region,
            account,
            resource,
        })
    }

    pub fn scope(&self) -> Scope {
        Scope::new(self.account, self.region)
    }
}

/// A key id is a UUID, or `mrk-` and 32 lowercase hex digits for multi-Region keys.
pub fn is_key_id(s: &str) -> bool {
    if let Some(hex) = s.strip_prefix("mrk-") {
        return hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    }
    uuid::Uuid::try_parse(s).is_ok_and(|u| u.hyphenated().to_string() == s.to_ascii_lowercase())
        && s.len() == 36
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions() {
        assert_eq!(partition_of("us-east-1"), "aws");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("cn-northwest-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of("us-isob-east-1"), "aws-iso-b");
        assert_eq!(partition_of("us-iso-east-1"), "aws-iso");
        assert_eq!(
            Scope::new("111122223333", "cn-north-1").key_arn("k"),
            "arn:aws-cn:kms:cn-north-1:111122223333:key/k"
        );
    }

    #[test]
    fn regions_and_accounts() {
        assert!(is_valid_region("us-east-1"));
        assert!(is_valid_region("us-gov-west-1"));
        assert!(!is_valid_region("us-east"));
        assert!(!is_valid_region("US-east-1"));
        assert!(!is_valid_region("a-b-c-d-1"));
        assert!(is_valid_account("111122223333"));
        assert!(!is_valid_account("11112222333"));
        assert!(!is_valid_account("11112222333x"));
    }

    #[test]
    fn arn_parts() {
        let a = Arn::parse("arn:aws:kms:us-east-1:111122223333:key/abc").unwrap();
        assert_eq!(
            (a.partition, a.service, a.region, a.account, a.resource),
            ("aws", "kms", "us-east-1", "111122223333", "key/abc")
        );
        let a = Arn::parse("arn:aws:kms:us-east-1:111122223333:alias/a:b").unwrap();
        assert_eq!(a.resource, "alias/a:b");
        assert!(Arn::parse("arn:aws:kms:us-east-1:111122223333").is_none());
        assert!(Arn::parse("nra:aws:kms:us-east-1:1:key/x").is_none());
    }
}
