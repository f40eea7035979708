//! Condition operators and their evaluation against the request context, following IAM's
//! rules: `...IfExists`, `ForAnyValue:`/`ForAllValues:`, negated operators that hold when the
//! key is absent, and `Null`.

use std::net::IpAddr;

use super::pattern::{Pattern, Variables};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// What an operator compares, without its negation or qualifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Compare),
    Date(Compare),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// Single-valued use: any context value against any policy value.
    None,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    pub test: Test,
    pub negated: bool,
    pub if_exists: bool,
    pub set: SetQualifier,
}

impl Operator {
    /// `[ForAnyValue:|ForAllValues:]<Name>[IfExists]`; `None` for names IAM does not know.
    pub fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, r)
        } else {
            (SetQualifier::None, name)
        };
        let (if_exists, base) = match rest.strip_suffix("IfExists") {
            Some(b) if b != "Null" => (true, b),
            _ => (false, rest),
        };
        use Compare::*;
        let (test, negated) = match base {
            "StringEquals" => (Test::StringEquals, false),
            "StringNotEquals" => (Test::StringEquals, true),
            "StringEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase, true),
            "StringLike" => (Test::StringLike, false),
            "StringNotLike" => (Test::StringLike, true),
            "NumericEquals" => (Test::Numeric(Eq), false),
            "NumericNotEquals" => (Test::Numeric(Eq), true),
            "NumericLessThan" => (Test::Numeric(Lt), false),
            "NumericLessThanEquals" => (Test::Numeric(Le), false),
            "NumericGreaterThan" => (Test::Numeric(Gt), false),
            "NumericGreaterThanEquals" => (Test::Numeric(Ge), false),
            "DateEquals" => (Test::Date(Eq), false),
            "DateNotEquals" => (Test::Date(Eq), true),
            "DateLessThan" => (Test::Date(Lt), false),
            "DateLessThanEquals" => (Test::Date(Le), false),
            "DateGreaterThan" => (Test::Date(Gt), false),
            "DateGreaterThanEquals" => (Test::Date(Ge), false),
            "Bool" => (Test::Bool, false),
            "BinaryEquals" => (Test::Binary, false),
            "IpAddress" => (Test::Ip, false),
            "NotIpAddress" => (Test::Ip, true),
            "ArnEquals" | "ArnLike" => (Test::Arn, false),
            "ArnNotEquals" | "ArnNotLike" => (Test::Arn, true),
            "Null" if set == SetQualifier::None => (Test::Null, false),
            _ => return None,
        };
        Some(Operator {
            test,
            negated,
            if_exists,
            set,
        })
    }
}

/// The request context as conditions see it: condition keys (lower-case names) and values.
pub trait Context: Variables {
    /// The values of a key; `None` when the request context does not have it.
    fn values(&self, key: &str) -> Option<&[String]>;
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub operator: Operator,
    /// As written in the policy.
    pub key: String,
    /// Lower case: condition key names are case-insensitive.
    key_lower: String,
    pub values: Vec<String>,
}

impl Condition {
    pub fn new(operator: Operator, key: &str, values: Vec<String>) -> Self {
        Self {
            operator,
            key: key.to_string(),
            key_lower: key.to_ascii_lowercase(),
            values,
        }
    }

    /// Whether the condition holds for the request; `variables` when the policy's version
    /// enables policy variables.
    pub fn holds(&self, ctx: &dyn Context, variables: bool) -> bool {
        let op = self.operator;
        let present = ctx.values(&self.key_lower).filter(|v| !v.is_empty());
        if op.test == Test::Null {
            let want_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return present.is_none() == want_absent;
        }
        let Some(actual) = present else {
            return op.if_exists
                || match op.set {
                    SetQualifier::ForAllValues => true,
                    SetQualifier::ForAnyValue => false,
                    SetQualifier::None => op.negated,
                };
        };
        let expected: Vec<Expected> = self
            .values
            .iter()
            .filter_map(|v| Expected::new(op.test, v, variables, ctx))
            .collect();
        let matches_any = |a: &String| expected.iter().any(|e| e.matches(op.test, a));
        match (op.set, op.negated) {
            (SetQualifier::None, false) | (SetQualifier::ForAnyValue, false) => {
                actual.iter().any(matches_any)
            }
            (SetQualifier::None, true) => !actual.iter().any(matches_any),
            (SetQualifier::ForAnyValue, true) => actual.iter().any(|a| !matches_any(a)),
            (SetQualifier::ForAllValues, false) => actual.iter().all(matches_any),
            (SetQualifier::ForAllValues, true) => actual.iter().all(|a| !matches_any(a)),
        }
    }
}

/// A policy value prepared for its test.
enum Expected {
    Pattern(Pattern),
    Text(String),
    Number(f64),
    Cidr(IpAddr, u8),
    Never,
}

impl Expected {
    fn new(test: Test, value: &str, variables: bool, vars: &dyn Variables) -> Option<Expected> {
        Some(match test {
            Test::StringEquals | Test::StringEqualsIgnoreCase | Test::StringLike | Test::Arn => {
                Expected::Pattern(Pattern::compile(value, variables, vars)?)
            }
            Test::Numeric(_) => value
                .trim()
                .parse()
                .map_or(Expected::Never, Expected::Number),
            Test::Date(_) => parse_date(value).map_or(Expected::Never, Expected::Number),
            Test::Ip => parse_cidr(value).map_or(Expected::Never, |(a, n)| Expected::Cidr(a, n)),
            Test::Bool | Test::Binary | Test::Null => Expected::Text(value.to_string()),
        })
    }

    fn matches(&self, test: Test, actual: &str) -> bool {
        match (self, test) {
            (Expected::Pattern(p), Test::StringEquals) => p.literal() == actual,
            (Expected::Pattern(p), Test::StringEqualsIgnoreCase) => {
                p.literal().to_lowercase() == actual.to_lowercase()
            }
            (Expected::Pattern(p), Test::StringLike | Test::Arn) => p.matches(actual, false),
            (Expected::Number(want), Test::Numeric(c)) => actual
                .trim()
                .parse::<f64>()
                .is_ok_and(|a| compare(c, a, *want)),
            (Expected::Number(want), Test::Date(c)) => {
                parse_date(actual).is_some_and(|a| compare(c, a, *want))
            }
            (Expected::Cidr(net, bits), Test::Ip) => actual
                .parse::<IpAddr>()
                .is_ok_and(|ip| in_network(ip, *net, *bits)),
            (Expected::Text(t), Test::Bool) => t.eq_ignore_ascii_case(actual),
            (Expected::Text(t), Test::Binary) => t == actual,
            _ => false,
        }
    }
}

fn compare(c: Compare, actual: f64, want: f64) -> bool {
    match c {
        Compare::Eq => actual == want,
        Compare::Lt => actual < want,
        Compare::Le => actual <= want,
        Compare::Gt => actual > want,
        Compare::Ge => actual >= want,
    }
}

/// A date as IAM accepts it: epoch seconds, or ISO 8601 (`2026-11-24`, `2026-11-24T10:00:00Z`).
pub fn parse_date(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        return Some(n);
    }
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp_nanos() as f64 / 1e9);
    }
    let date = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &date)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp() as f64)
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match s.trim().split_once('/') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, b.parse::<u8>().ok()?),
        None => {
            let a = s.trim().parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((addr, bits))
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - bits as u32).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - bits as u32).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Ctx(HashMap<String, Vec<String>>);
    impl Variables for Ctx {
        fn variable(&self, key: &str) -> Option<String> {
            self.0
                .get(&key.to_ascii_lowercase())
                .and_then(|v| v.first().cloned())
        }
    }
    impl Context for Ctx {
        fn values(&self, key: &str) -> Option<&[String]> {
            self.0.get(key).map(Vec::as_slice)
        }
    }

    fn ctx(pairs: &[(&str, &[&str])]) -> Ctx {
        Ctx(pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    v.iter().map(|s| s.to_string()).collect(),
                )
            })
            .collect())
    }

    fn holds(op: &str, key: &str, values: &[&str], c: &Ctx) -> bool {
        Condition::new(
            Operator::parse(op).unwrap_or_else(|| panic!("{op}")),
            key,
            values.iter().map(|s| s.to_string()).collect(),
        )
        .holds(c, true)
    }

    #[test]
    fn operator_names() {
        assert!(Operator::parse("StringEqualsIfExists").unwrap().if_exists);
        let o = Operator::parse("ForAllValues:StringNotLikeIfExists").unwrap();
        assert_eq!(
            (o.test, o.negated, o.set),
            (Test::StringLike, true, SetQualifier::ForAllValues)
        );
        assert_eq!(Operator::parse("NullIfExists"), None);
        assert_eq!(Operator::parse("ForAnyValue:Null"), None);
        assert_eq!(Operator::parse("StringEqual"), None);
    }

    #[test]
    fn string_and_absence() {
        let c = ctx(&[("kms:WrappingKeySpec", &["RSA_4096"])]);
        assert!(holds(
            "StringEquals",
            "kms:WrappingKeySpec",
            &["RSA_4096"],
            &c
        ));
        assert!(holds(
            "StringEquals",
            "KMS:wrappingkeyspec",
            &["RSA_3072", "RSA_4096"],
            &c
        ));
        assert!(!holds(
            "StringEquals",
            "kms:WrappingKeySpec",
            &["rsa_4096"],
            &c
        ));
        assert!(holds(
            "StringEqualsIgnoreCase",
            "kms:WrappingKeySpec",
            &["rsa_4096"],
            &c
        ));
        assert!(holds("StringLike", "kms:WrappingKeySpec", &["RSA_*"], &c));
        assert!(holds(
            "StringNotEquals",
            "kms:WrappingKeySpec",
            &["RSA_2048"],
            &c
        ));
        assert!(!holds(
            "StringNotEquals",
            "kms:WrappingKeySpec",
            &["RSA_4096"],
            &c
        ));
        // Absent key: positive operators fail, negated ones and IfExists hold.
        assert!(!holds(
            "StringEquals",
            "kms:ExpirationModel",
            &["KEY_MATERIAL_EXPIRES"],
            &c
        ));
        assert!(holds(
            "StringNotEquals",
            "kms:ExpirationModel",
            &["KEY_MATERIAL_EXPIRES"],
            &c
        ));
        assert!(holds(
            "StringEqualsIfExists",
            "kms:ExpirationModel",
            &["X"],
            &c
        ));
        assert!(holds("Null", "kms:ExpirationModel", &["true"], &c));
        assert!(!holds("Null", "kms:WrappingKeySpec", &["true"], &c));
        assert!(holds("Null", "kms:WrappingKeySpec", &["false"], &c));
    }

    #[test]
    fn numbers_dates_bools_ips_arns() {
        let c = ctx(&[
            ("kms:ValidTo", &["1546257599"]),
            ("aws:CurrentTime", &["2026-11-24T10:00:00Z"]),
            ("aws:SecureTransport", &["false"]),
            ("aws:SourceIp", &["10.1.2.3"]),
            (
                "aws:PrincipalArn",
                &["arn:aws:iam::111122223333:role/Importer"],
            ),
        ]);
        assert!(holds(
            "NumericLessThanEquals",
            "kms:ValidTo",
            &["1546257599.0"],
            &c
        ));
        assert!(!holds(
            "NumericLessThan",
            "kms:ValidTo",
            &["1546257599.0"],
            &c
        ));
        assert!(holds("NumericGreaterThan", "kms:ValidTo", &["1000"], &c));
        assert!(!holds(
            "NumericEquals",
            "kms:ValidTo",
            &["not a number"],
            &c
        ));
        assert!(holds(
            "DateLessThan",
            "aws:CurrentTime",
            &["2027-01-01"],
            &c
        ));
        assert!(holds(
            "DateGreaterThanEquals",
            "aws:CurrentTime",
            &["1795000000"],
            &c
        ));
        assert!(!holds(
            "DateGreaterThan",
            "aws:CurrentTime",
            &["2026-11-24T11:00:00+00:00"],
            &c
        ));
        assert!(holds("Bool", "aws:SecureTransport", &["false"], &c));
        assert!(holds("IpAddress", "aws:SourceIp", &["10.0.0.0/8"], &c));
        assert!(!holds(
            "IpAddress",
            "aws:SourceIp",
            &["192.168.0.0/16", "10.1.2.4"],
            &c
        ));
        assert!(holds(
            "NotIpAddress",
            "aws:SourceIp",
            &["192.168.0.0/16"],
            &c
        ));
        assert!(holds(
            "ArnLike",
            "aws:PrincipalArn",
            &["arn:aws:iam::*:role/Imp*"],
            &c
        ));
        assert!(!holds(
            "ArnNotEquals",
            "aws:PrincipalArn",
            &["arn:aws:iam::111122223333:role/*"],
            &c
        ));
    }

    #[test]
    fn multi_valued_keys() {
        let c = ctx(&[("aws:TagKeys", &["Project", "Owner"])]);
        assert!(holds(
            "ForAnyValue:StringEquals",
            "aws:TagKeys",
            &["Owner"],
            &c
        ));
        assert!(!holds(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            &["Owner"],
            &c
        ));
        assert!(holds(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            &["Owner", "Project", "X"],
            &c
        ));
        assert!(holds(
            "ForAnyValue:StringNotEquals",
            "aws:TagKeys",
            &["Owner"],
            &c
        ));
        assert!(!holds(
            "ForAllValues:StringNotEquals",
            "aws:TagKeys",
            &["Owner"],
            &c
        ));
        // Absent: ForAllValues holds, ForAnyValue does not.
        assert!(holds(
            "ForAllValues:StringEquals",
            "aws:RequestTag/x",
            &["y"],
            &c
        ));
        assert!(!holds(
            "ForAnyValue:StringEquals",
            "aws:RequestTag/x",
            &["y"],
            &c
        ));
    }

    #[test]
    fn variables_in_values() {
        let c = ctx(&[
            ("aws:username", &["alice"]),
            ("aws:ResourceTag/Owner", &["alice"]),
        ]);
        assert!(holds(
            "StringEquals",
            "aws:ResourceTag/Owner",
            &["${aws:username}"],
            &c
        ));
        assert!(!holds(
            "StringEquals",
            "aws:ResourceTag/Owner",
            &["${aws:userid}"],
            &c
        ));
    }
}
