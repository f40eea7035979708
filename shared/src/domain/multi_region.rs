//! Multi-Region keys: the role a key plays among its related keys, the Regions a replica may
//! live in, and the transient states of ReplicateKey and UpdatePrimaryRegion.
//!
//! Related keys share their key id and account and live one per Region. Each record holds its
//! own role; a replica also names its primary's Region, so the shared properties (material
//! versions, rotation) are read from the primary (`service::replicas`) and never drift.

use serde::{Deserialize, Serialize};

use super::spec::ExpirationModel;
use crate::clock::Timestamp;

/// A key's place among related multi-Region keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiRegion {
    /// A single-Region key.
    Single,
    Primary,
    Replica {
        primary_region: String,
    },
}

impl MultiRegion {
    pub fn is_multi_region(&self) -> bool {
        !matches!(self, MultiRegion::Single)
    }

    pub fn is_replica(&self) -> bool {
        matches!(self, MultiRegion::Replica { .. })
    }

    /// `MultiRegionKeyType` (and the `kms:MultiRegionKeyType` condition key).
    pub fn key_type(&self) -> Option<&'static str> {
        match self {
            MultiRegion::Single => None,
            MultiRegion::Primary => Some("PRIMARY"),
            MultiRegion::Replica { .. } => Some("REPLICA"),
        }
    }
}

/// Stored as `false`, `true` (a primary: how records written before replicas existed say
/// `MultiRegion`) or `{"replica_of": "<primary Region>"}`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Stored {
    Flag(bool),
    Replica { replica_of: String },
}

impl Serialize for MultiRegion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MultiRegion::Single => Stored::Flag(false),
            MultiRegion::Primary => Stored::Flag(true),
            MultiRegion::Replica { primary_region } => Stored::Replica {
                replica_of: primary_region.clone(),
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for MultiRegion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Stored::deserialize(d)? {
            Stored::Flag(false) => MultiRegion::Single,
            Stored::Flag(true) => MultiRegion::Primary,
            Stored::Replica { replica_of } => MultiRegion::Replica {
                primary_region: replica_of,
            },
        })
    }
}

/// A change a key is going through, which shows as its state until it completes. Like an
/// on-demand rotation it completes by the clock alone, so every reader agrees on when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transition {
    /// A replica ReplicateKey made, `Creating` until then. Meanwhile DescribeKey shows the
    /// primary's `ExpirationModel` (captured) and no `CurrentKeyMaterialId`.
    Creating {
        until: Timestamp,
        expiration_model: Option<ExpirationModel>,
    },
    /// Both keys of an UpdatePrimaryRegion, `Updating` (and not `Enabled`) until then.
    Updating { until: Timestamp },
}

impl Transition {
    pub fn until(self) -> Timestamp {
        match self {
            Transition::Creating { until, .. } | Transition::Updating { until } => until,
        }
    }

    pub fn is_active(self, now: Timestamp) -> bool {
        now < self.until()
    }
}

/// The Regions of each partition that hold multi-Region keys (the KMS endpoints page, as of
/// 2026-12); ReplicateKey and UpdatePrimaryRegion accept these and find related keys in them.
const REGIONS: &[(&str, &[&str])] = &[
    (
        "aws",
        &[
            "af-south-1",
            "ap-east-1",
            "ap-east-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-6",
            "ap-southeast-7",
            "ca-central-1",
            "ca-west-1",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "il-central-1",
            "me-central-1",
            "me-south-1",
            "mx-central-1",
            "sa-east-1",
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
        ],
    ),
    ("aws-cn", &["cn-north-1", "cn-northwest-1"]),
    ("aws-us-gov", &["us-gov-east-1", "us-gov-west-1"]),
];

/// The Regions of `partition` that may hold related multi-Region keys.
pub fn regions_of(partition: &str) -> &'static [&'static str] {
    REGIONS
        .iter()
        .find(|(p, _)| *p == partition)
        .map_or(&[], |(_, r)| r)
}

/// Whether `region` is a Region that holds multi-Region keys, in any partition.
pub fn is_known_region(region: &str) -> bool {
    REGIONS.iter().any(|(_, rs)| rs.contains(&region))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_forms() {
        for (role, json) in [
            (MultiRegion::Single, "false"),
            (MultiRegion::Primary, "true"),
            (
                MultiRegion::Replica {
                    primary_region: "us-east-1".into(),
                },
                r#"{"replica_of":"us-east-1"}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&role).unwrap(), json);
            assert_eq!(serde_json::from_str::<MultiRegion>(json).unwrap(), role);
        }
    }

    #[test]
    fn regions() {
        assert!(regions_of("aws").contains(&"us-west-2"));
        assert_eq!(regions_of("aws-cn"), ["cn-north-1", "cn-northwest-1"]);
        assert!(regions_of("aws-iso").is_empty());
        assert!(is_known_region("eu-west-1"));
        assert!(!is_known_region("us-invalid-1"));
        for (p, rs) in REGIONS {
            for r in *rs {
                assert_eq!(super::super::arn::partition_of(r), *p, "{r}");
            }
        }
    }
}
