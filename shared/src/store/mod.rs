//! Where keys and aliases live. Functions are stateless; everything they remember goes through
//! [`KeyStore`], implemented in memory (tests, throwaway runs) and in an embedded SQLite file
//! that several processes share (the local default).
//!
//! Every change is a compare-and-swap on a record version ([`update_key`]), so two requests
//! that race (two imports into one key, a disable during a describe) never lose an update or
//! leave a half-written record.

#[cfg(feature = "aws")]
pub mod dynamodb;
pub mod memory;
pub mod sqlite;

use std::fmt;

use async_trait::async_trait;

use crate::domain::arn::Scope;
use crate::domain::key::{AliasRecord, KeyRecord};
use crate::domain::spec::WrappingKeySpec;
use crate::error::{KmsError, KmsResult};

/// A record with the version the store holds it at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub version: u64,
    pub record: T,
}

/// A failure of the storage backend itself (I/O, corruption); clients see
/// `KMSInternalException`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<StoreError> for KmsError {
    fn from(e: StoreError) -> Self {
        KmsError::internal(e)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Outcome of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Done,
    /// The condition failed: the record exists already, or changed since it was read.
    Conflict,
}

#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a new key; `Conflict` if the id is taken.
    async fn insert_key(&self, key: &KeyRecord) -> StoreResult<Write>;

    async fn get_key(
        &self,
        scope: &Scope,
        key_id: &str,
    ) -> StoreResult<Option<Versioned<KeyRecord>>>;

    /// Replaces a key if it is still at `version`; it is then at `version + 1`.
    async fn replace_key(&self, version: u64, key: &KeyRecord) -> StoreResult<Write>;

    /// Writes several keys at once if each is still at its version, or none of them; version
    /// 0 is a key that must not exist yet (UpdatePrimaryRegion changes the roles of related
    /// keys together; ReplicateKey adds a replica while its primary is unchanged).
    async fn replace_keys(&self, keys: &[(u64, KeyRecord)]) -> StoreResult<Write>;

    /// The keys with this id in `account`, one per Region of `regions` that has one (the
    /// related keys of a multi-Region key).
    async fn get_key_in_regions(
        &self,
        account: &str,
        key_id: &str,
        regions: &[&str],
    ) -> StoreResult<Vec<Versioned<KeyRecord>>> {
        let mut found = Vec::new();
        for region in regions {
            if let Some(v) = self.get_key(&Scope::new(account, *region), key_id).await? {
                found.push(v);
            }
        }
        Ok(found)
    }

    /// Removes a key if it is still at `version` (a deletion whose date has passed).
    async fn remove_key(&self, scope: &Scope, key_id: &str, version: u64) -> StoreResult<Write>;

    /// Keys of a scope ordered by key id, starting after `after`, at most `limit`.
    async fn list_keys(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<KeyRecord>>;

    /// Creates an alias; `Conflict` if the name is taken in its scope.
    async fn insert_alias(&self, alias: &AliasRecord) -> StoreResult<Write>;

    async fn get_alias(&self, scope: &Scope, alias_name: &str) -> StoreResult<Option<AliasRecord>>;

    /// Points an existing alias elsewhere; `Conflict` if it no longer exists.
    async fn update_alias(&self, alias: &AliasRecord) -> StoreResult<Write>;

    /// Removes an alias; `Conflict` if it did not exist.
    async fn delete_alias(&self, scope: &Scope, alias_name: &str) -> StoreResult<Write>;

    /// Aliases of a scope ordered by name, starting after `after`, at most `limit`.
    async fn list_aliases(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<AliasRecord>>;

    /// Adds sealed wrapping key pairs to the shared pool, which every process and Lambda
    /// instance on this store draws from (see the `wrapping::shared` module).
    async fn add_pool_keys(&self, spec: WrappingKeySpec, sealed: Vec<Vec<u8>>) -> StoreResult<()>;

    /// Takes one sealed key pair of `spec` out of the shared pool; whoever calls, each one is
    /// handed out at most once. `None` when the pool has none.
    async fn claim_pool_key(&self, spec: WrappingKeySpec) -> StoreResult<Option<Vec<u8>>>;

    /// How many key pairs of `spec` the shared pool holds.
    async fn count_pool_keys(&self, spec: WrappingKeySpec) -> StoreResult<usize>;

    /// At clean exit, once calls have stopped: leaves the store's files tidy (the SQLite store
    /// truncates its WAL). Nothing to do for the others.
    async fn close(&self) -> StoreResult<()> {
        Ok(())
    }
}

/// How many times a contended update is retried before giving up with an internal error.
pub(crate) const MAX_ATTEMPTS: usize = 100;

/// Reads a key, applies `change` and writes it back if nobody changed it meanwhile, retrying
/// on conflict. `change` sees the latest record on every attempt and may refuse with an error,
/// which is returned as is. `Ok(None)` when the key does not exist.
pub async fn update_key<T>(
    store: &dyn KeyStore,
    scope: &Scope,
    key_id: &str,
    mut change: impl FnMut(&mut KeyRecord) -> KmsResult<T> + Send,
) -> KmsResult<Option<(KeyRecord, T)>> {
    for _ in 0..MAX_ATTEMPTS {
        let Some(Versioned {
            version,
            mut record,
        }) = store.get_key(scope, key_id).await?
        else {
            return Ok(None);
        };
        let out = change(&mut record)?;
        match store.replace_key(version, &record).await? {
            Write::Done => return Ok(Some((record, out))),
            Write::Conflict => tokio::task::yield_now().await,
        }
    }
    Err(KmsError::internal(format!(
        "key {key_id}: update still contended after {MAX_ATTEMPTS} attempts"
    )))
}

#[cfg(test)]
pub(crate) mod conformance {
    //! The behaviour every store must have; each implementation runs these.

    use super::*;
    use crate::clock::Timestamp;
    use crate::domain::key::tests::sample;
    use crate::domain::spec::Origin;
    use std::sync::Arc;

    fn key(id: &str, scope: &Scope) -> KeyRecord {
        let mut k = sample(Origin::External);
        k.key_id = id.into();
        k.scope = scope.clone();
        k
    }

    fn alias(name: &str, scope: &Scope, target: &str) -> AliasRecord {
        AliasRecord {
            alias_name: name.into(),
            scope: scope.clone(),
            target_key_id: target.into(),
            creation_date: Timestamp::from_secs(1),
            last_updated_date: Timestamp::from_secs(1),
        }
    }

    pub async fn keys_crud(store: Arc<dyn KeyStore>) {
        let s = Scope::new("111122223333", "us-east-1");
        let other = Scope::new("444455556666", "us-east-1");
        assert_eq!(store.insert_key(&key("b", &s)).await.unwrap(), Write::Done);
        assert_eq!(
            store.insert_key(&key("b", &s)).await.unwrap(),
            Write::Conflict
        );
        assert_eq!(store.insert_key(&key("a", &s)).await.unwrap(), Write::Done);
        assert_eq!(store.insert_key(&key("c", &s)).await.unwrap(), Write::Done);
        assert_eq!(
            store.insert_key(&key("b", &other)).await.unwrap(),
            Write::Done
        );

        let got = store.get_key(&s, "b").await.unwrap().unwrap();
        assert_eq!(got.record, key("b", &s));
        assert!(store.get_key(&s, "zz").await.unwrap().is_none());
        assert!(
            store
                .get_key(&Scope::new("111122223333", "us-west-2"), "b")
                .await
                .unwrap()
                .is_none()
        );

        let mut changed = got.record.clone();
        changed.description = "x".into();
        assert_eq!(
            store.replace_key(got.version, &changed).await.unwrap(),
            Write::Done
        );
        assert_eq!(
            store.replace_key(got.version, &changed).await.unwrap(),
            Write::Conflict
        );
        let again = store.get_key(&s, "b").await.unwrap().unwrap();
        assert_eq!(
            (again.version, again.record.description.as_str()),
            (got.version + 1, "x")
        );

        let ids = |v: Vec<KeyRecord>| v.into_iter().map(|k| k.key_id).collect::<Vec<_>>();
        assert_eq!(
            ids(store.list_keys(&s, None, 10).await.unwrap()),
            ["a", "b", "c"]
        );
        assert_eq!(ids(store.list_keys(&s, None, 2).await.unwrap()), ["a", "b"]);
        assert_eq!(ids(store.list_keys(&s, Some("b"), 2).await.unwrap()), ["c"]);
        assert_eq!(ids(store.list_keys(&other, None, 10).await.unwrap()), ["b"]);

        assert_eq!(
            store.remove_key(&s, "b", got.version).await.unwrap(),
            Write::Conflict
        );
        assert_eq!(
            store.remove_key(&s, "b", again.version).await.unwrap(),
            Write::Done
        );
        assert!(store.get_key(&s, "b").await.unwrap().is_none());
        assert!(store.get_key(&other, "b").await.unwrap().is_some());
    }

    /// Related multi-Region keys: found across Regions, changed together or not at all, and
    /// one replica per Region however many processes race to make it.
    pub async fn related_keys(store: Arc<dyn KeyStore>) {
        let id = format!("mrk-{}", uuid::Uuid::new_v4().simple());
        let (east, west) = (
            Scope::new("111122223333", "us-east-1"),
            Scope::new("111122223333", "us-west-2"),
        );
        assert_eq!(
            store.insert_key(&key(&id, &east)).await.unwrap(),
            Write::Done
        );
        assert_eq!(
            store
                .insert_key(&key(&id, &Scope::new("444455556666", "eu-west-1")))
                .await
                .unwrap(),
            Write::Done
        );
        // Eight racing ReplicateKey calls to one Region: exactly one insert succeeds.
        let racers: Vec<_> = (0..8)
            .map(|i| {
                let (store, mut k) = (store.clone(), key(&id, &west));
                k.description = format!("racer {i}");
                tokio::spawn(async move { store.insert_key(&k).await.unwrap() })
            })
            .collect();
        let mut done = 0;
        for r in racers {
            done += usize::from(r.await.unwrap() == Write::Done);
        }
        assert_eq!(done, 1);

        let regions = ["eu-west-1", "us-east-1", "us-west-2", "ap-east-1"];
        let mut found = store
            .get_key_in_regions("111122223333", &id, &regions)
            .await
            .unwrap();
        found.sort_by(|a, b| a.record.scope.region.cmp(&b.record.scope.region));
        let at: Vec<_> = found
            .iter()
            .map(|v| (v.record.scope.region.as_str(), v.version))
            .collect();
        assert_eq!(at, [("us-east-1", 1), ("us-west-2", 1)]);

        // Both change together, or neither does when one of them moved on.
        let mut both: Vec<(u64, KeyRecord)> = found
            .iter()
            .map(|v| {
                let mut k = v.record.clone();
                k.description = "swapped".into();
                (v.version, k)
            })
            .collect();
        assert_eq!(store.replace_keys(&both).await.unwrap(), Write::Done);
        both[0].1.description = "stale".into();
        assert_eq!(store.replace_keys(&both).await.unwrap(), Write::Conflict);
        for s in [&east, &west] {
            let v = store.get_key(s, &id).await.unwrap().unwrap();
            assert_eq!((v.version, v.record.description.as_str()), (2, "swapped"));
        }
        let both: Vec<(u64, KeyRecord)> = {
            let mut both = both;
            both.sort_by(|a, b| a.1.scope.region.cmp(&b.1.scope.region));
            both
        };
        // Version 0: a key added only if absent, with the others unchanged.
        let third = key(&id, &Scope::new("111122223333", "eu-west-1"));
        let current = store.get_key(&west, &id).await.unwrap().unwrap();
        let add = vec![
            (current.version, current.record.clone()),
            (0, third.clone()),
        ];
        assert_eq!(store.replace_keys(&add).await.unwrap(), Write::Done);
        assert_eq!(
            store.replace_keys(&add).await.unwrap(),
            Write::Conflict,
            "exists now"
        );
        let v = store.get_key(&third.scope, &id).await.unwrap().unwrap();
        assert_eq!((v.version, v.record), (1, third.clone()));
        let stale = vec![
            (current.version, current.record.clone()),
            (0, key(&id, &Scope::new("111122223333", "ap-east-1"))),
        ];
        assert_eq!(store.replace_keys(&stale).await.unwrap(), Write::Conflict);
        assert!(
            store
                .get_key(&Scope::new("111122223333", "ap-east-1"), &id)
                .await
                .unwrap()
                .is_none(),
            "nothing added when the other key moved on"
        );
        let fresh: Vec<(u64, KeyRecord)> = vec![(2, both[0].1.clone()), (1, both[1].1.clone())];
        assert_eq!(store.replace_keys(&fresh).await.unwrap(), Write::Conflict);
        let v = store.get_key(&both[0].1.scope, &id).await.unwrap().unwrap();
        assert_eq!(
            (v.version, v.record.description.as_str()),
            (2, "swapped"),
            "a failed transaction changes nothing"
        );
    }

    pub async fn aliases_crud(store: Arc<dyn KeyStore>) {
        let s = Scope::new("111122223333", "us-east-1");
        assert_eq!(
            store
                .insert_alias(&alias("alias/b", &s, "k1"))
                .await
                .unwrap(),
            Write::Done
        );
        assert_eq!(
            store
                .insert_alias(&alias("alias/b", &s, "k2"))
                .await
                .unwrap(),
            Write::Conflict
        );
        assert_eq!(
            store
                .insert_alias(&alias("alias/a", &s, "k2"))
                .await
                .unwrap(),
            Write::Done
        );
        assert_eq!(
            store
                .get_alias(&s, "alias/b")
                .await
                .unwrap()
                .unwrap()
                .target_key_id,
            "k1"
        );
        assert_eq!(
            store
                .update_alias(&alias("alias/b", &s, "k3"))
                .await
                .unwrap(),
            Write::Done
        );
        assert_eq!(
            store
                .get_alias(&s, "alias/b")
                .await
                .unwrap()
                .unwrap()
                .target_key_id,
            "k3"
        );
        assert_eq!(
            store
                .update_alias(&alias("alias/zz", &s, "k3"))
                .await
                .unwrap(),
            Write::Conflict
        );
        let names: Vec<_> = store
            .list_aliases(&s, None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.alias_name)
            .collect();
        assert_eq!(names, ["alias/a", "alias/b"]);
        let names: Vec<_> = store
            .list_aliases(&s, Some("alias/a"), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.alias_name)
            .collect();
        assert_eq!(names, ["alias/b"]);
        assert_eq!(
            store.delete_alias(&s, "alias/b").await.unwrap(),
            Write::Done
        );
        assert_eq!(
            store.delete_alias(&s, "alias/b").await.unwrap(),
            Write::Conflict
        );
        assert!(store.get_alias(&s, "alias/b").await.unwrap().is_none());
    }

    /// The shared pool: what goes in comes out once, per spec, even when many claim at once.
    pub async fn pool_claims_once(store: Arc<dyn KeyStore>) {
        let spec = WrappingKeySpec::Rsa2048;
        assert_eq!(store.claim_pool_key(spec).await.unwrap(), None);
        let items: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 3 + i as usize]).collect();
        store
            .add_pool_keys(spec, items[..20].to_vec())
            .await
            .unwrap();
        store
            .add_pool_keys(spec, items[20..].to_vec())
            .await
            .unwrap();
        store
            .add_pool_keys(WrappingKeySpec::Rsa4096, vec![vec![9; 9]])
            .await
            .unwrap();
        assert_eq!(store.count_pool_keys(spec).await.unwrap(), 40);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(k) = store.claim_pool_key(spec).await.unwrap() {
                    got.push(k);
                }
                got
            }));
        }
        let mut claimed = Vec::new();
        for t in tasks {
            claimed.extend(t.await.unwrap());
        }
        claimed.sort();
        let mut expected = items.clone();
        expected.sort();
        assert_eq!(claimed, expected, "every key handed out exactly once");
        assert_eq!(store.count_pool_keys(spec).await.unwrap(), 0);
        assert_eq!(
            store
                .claim_pool_key(WrappingKeySpec::Rsa4096)
                .await
                .unwrap(),
            Some(vec![9; 9])
        );
    }

    /// Many concurrent read-modify-writes of one key: none is lost.
    pub async fn concurrent_updates_are_not_lost(store: Arc<dyn KeyStore>) {
        let s = Scope::new("111122223333", "us-east-1");
        store.insert_key(&key("k", &s)).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..32 {
            let store = store.clone();
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                update_key(store.as_ref(), &s, "k", |k| {
                    k.tags.push(crate::domain::key::Tag {
                        tag_key: format!("t{i}"),
                        tag_value: String::new(),
                    });
                    Ok(())
                })
                .await
                .unwrap()
                .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let k = store.get_key(&s, "k").await.unwrap().unwrap();
        assert_eq!(k.record.tags.len(), 32);
        assert_eq!(k.version, 33);
        let missing = update_key(store.as_ref(), &s, "nope", |_| Ok(()))
            .await
            .unwrap();
        assert!(missing.is_none());
    }
}
