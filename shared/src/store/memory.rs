//! The in-memory store, on dashmap: fast, per process, gone at exit.

use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::{KeyStore, StoreResult, Versioned, Write};
use crate::domain::arn::Scope;
use crate::domain::key::{AliasRecord, KeyRecord};
use crate::domain::spec::WrappingKeySpec;

type Id = (Scope, String);

#[derive(Debug, Default)]
pub struct MemoryStore {
    keys: DashMap<Id, Versioned<KeyRecord>>,
    aliases: DashMap<Id, AliasRecord>,
    pool: Mutex<HashMap<WrappingKeySpec, VecDeque<Vec<u8>>>>,
    /// Held by every change of an existing key, so that `replace_keys` checks and writes
    /// several keys with no change in between.
    changes: Mutex<()>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn changes_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pool_lock(&self) -> std::sync::MutexGuard<'_, HashMap<WrappingKeySpec, VecDeque<Vec<u8>>>> {
        // Each operation on the queues is a single call: a panic cannot leave one half-done.
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sorted page of `(name, value)` pairs of one scope after `after`.
fn page<T: Clone>(
    map: &DashMap<Id, T>,
    scope: &Scope,
    after: Option<&str>,
    limit: usize,
) -> Vec<T> {
    let mut items: Vec<(String, T)> = map
        .iter()
        .filter(|e| &e.key().0 == scope && after.is_none_or(|a| e.key().1.as_str() > a))
        .map(|e| (e.key().1.clone(), e.value().clone()))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items.into_iter().take(limit).map(|(_, v)| v).collect()
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn insert_key(&self, key: &KeyRecord) -> StoreResult<Write> {
        match self.keys.entry((key.scope.clone(), key.key_id.clone())) {
            Entry::Occupied(_) => Ok(Write::Conflict),
            Entry::Vacant(v) => {
                v.insert(Versioned {
                    version: 1,
                    record: key.clone(),
                });
                Ok(Write::Done)
            }
        }
    }

    async fn get_key(
        &self,
        scope: &Scope,
        key_id: &str,
    ) -> StoreResult<Option<Versioned<KeyRecord>>> {
        Ok(self
            .keys
            .get(&(scope.clone(), key_id.to_string()))
            .map(|e| e.value().clone()))
    }

    async fn replace_key(&self, version: u64, key: &KeyRecord) -> StoreResult<Write> {
        let _changes = self.changes_lock();
        match self.keys.get_mut(&(key.scope.clone(), key.key_id.clone())) {
            Some(mut e) if e.version == version => {
                *e = Versioned {
                    version: version + 1,
                    record: key.clone(),
                };
                Ok(Write::Done)
            }
            _ => Ok(Write::Conflict),
        }
    }

    async fn replace_keys(&self, keys: &[(u64, KeyRecord)]) -> StoreResult<Write> {
        let _changes = self.changes_lock();
        let current = |k: &KeyRecord| {
            self.keys
                .get(&(k.scope.clone(), k.key_id.clone()))
                .map(|e| e.version)
        };
        if keys
            .iter()
            .any(|(v, k)| current(k) != Some(*v).filter(|v| *v != 0))
        {
            return Ok(Write::Conflict);
        }
        for (version, key) in keys {
            self.keys.insert(
                (key.scope.clone(), key.key_id.clone()),
                Versioned {
                    version: version + 1,
                    record: key.clone(),
                },
            );
        }
        Ok(Write::Done)
    }

    async fn remove_key(&self, scope: &Scope, key_id: &str, version: u64) -> StoreResult<Write> {
        let _changes = self.changes_lock();
        let removed = self
            .keys
            .remove_if(&(scope.clone(), key_id.to_string()), |_, v| {
                v.version == version
            });
        Ok(if removed.is_some() {
            Write::Done
        } else {
            Write::Conflict
        })
    }

    async fn list_keys(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<KeyRecord>> {
        Ok(page(&self.keys, scope, after, limit)
            .into_iter()
            .map(|v| v.record)
            .collect())
    }

    async fn insert_alias(&self, alias: &AliasRecord) -> StoreResult<Write> {
        match self
            .aliases
            .entry((alias.scope.clone(), alias.alias_name.clone()))
        {
            Entry::Occupied(_) => Ok(Write::Conflict),
            Entry::Vacant(v) => {
                v.insert(alias.clone());
                Ok(Write::Done)
            }
        }
    }

    async fn get_alias(&self, scope: &Scope, alias_name: &str) -> StoreResult<Option<AliasRecord>> {
        Ok(self
            .aliases
            .get(&(scope.clone(), alias_name.to_string()))
            .map(|e| e.value().clone()))
    }

    async fn update_alias(&self, alias: &AliasRecord) -> StoreResult<Write> {
        match self
            .aliases
            .get_mut(&(alias.scope.clone(), alias.alias_name.clone()))
        {
            Some(mut e) => {
                *e = alias.clone();
                Ok(Write::Done)
            }
            None => Ok(Write::Conflict),
        }
    }

    async fn delete_alias(&self, scope: &Scope, alias_name: &str) -> StoreResult<Write> {
        Ok(
            match self
                .aliases
                .remove(&(scope.clone(), alias_name.to_string()))
            {
                Some(_) => Write::Done,
                None => Write::Conflict,
            },
        )
    }

    async fn list_aliases(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<AliasRecord>> {
        Ok(page(&self.aliases, scope, after, limit))
    }

    async fn add_pool_keys(&self, spec: WrappingKeySpec, sealed: Vec<Vec<u8>>) -> StoreResult<()> {
        self.pool_lock().entry(spec).or_default().extend(sealed);
        Ok(())
    }

    async fn claim_pool_key(&self, spec: WrappingKeySpec) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .pool_lock()
            .get_mut(&spec)
            .and_then(VecDeque::pop_front))
    }

    async fn count_pool_keys(&self, spec: WrappingKeySpec) -> StoreResult<usize> {
        Ok(self.pool_lock().get(&spec).map_or(0, VecDeque::len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance;
    use std::sync::Arc;

    #[tokio::test]
    async fn conformance_keys() {
        conformance::keys_crud(Arc::new(MemoryStore::new())).await;
    }

    #[tokio::test]
    async fn conformance_aliases() {
        conformance::aliases_crud(Arc::new(MemoryStore::new())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conformance_related_keys() {
        conformance::related_keys(Arc::new(MemoryStore::new())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conformance_pool() {
        conformance::pool_claims_once(Arc::new(MemoryStore::new())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conformance_concurrency() {
        conformance::concurrent_updates_are_not_lost(Arc::new(MemoryStore::new())).await;
    }
}
