//! The DynamoDB store, for deployed stacks where many Lambda instances share state.
//!
//! One table, partition key `pk` and sort key `sk` (both strings):
//!
//! | item          | `pk`                        | `sk`       | other attributes         |
//! |---------------|-----------------------------|------------|--------------------------|
//! | key           | `KEY#<account>#<region>`    | key id     | `version` (N), `body` (S) |
//! | alias         | `ALIAS#<account>#<region>`  | alias name | `body` (S)               |
//! | pooled key    | `POOL#<wrapping key spec>`  | random id  | `sealed` (B)             |
//!
//! Every state transition is one conditional write (`attribute_not_exists` for creation,
//! `version = :v` for a change), so concurrent instances never lose an update; reads are
//! strongly consistent, as KMS is for the caller. A pooled key is claimed by a conditional
//! delete that returns the old item: whoever's delete succeeds owns it.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, PutRequest, ReturnValue, TransactWriteItem,
    WriteRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

use super::{KeyStore, StoreError, StoreResult, Versioned, Write};
use crate::domain::arn::Scope;
use crate::domain::key::{AliasRecord, KeyRecord};
use crate::domain::spec::WrappingKeySpec;

type Item = HashMap<String, AttributeValue>;

/// BatchWriteItem takes at most 25 requests.
const BATCH: usize = 25;

/// A claim looks at this many pooled keys and tries them in a random order, so instances
/// claiming at once rarely race for the same one.
const CLAIM_CANDIDATES: i32 = 16;

#[derive(Debug, Clone)]
pub struct DynamoStore {
    /// Made on first use: loading the AWS configuration is async, opening a store is not.
    client: tokio::sync::OnceCell<Client>,
    table: String,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("dynamodb: {e}"))
}

/// The service's error code and message (the SDK's Display says only "service error").
fn sdk_err<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> StoreError {
    match e.as_service_error() {
        Some(s) => err(format!(
            "{}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or_default()
        )),
        None => err(aws_sdk_dynamodb::error::DisplayErrorContext(e)),
    }
}

fn is_condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn key_pk(scope: &Scope) -> String {
    format!("KEY#{}#{}", scope.account, scope.region)
}

fn alias_pk(scope: &Scope) -> String {
    format!("ALIAS#{}#{}", scope.account, scope.region)
}

fn pool_pk(spec: WrappingKeySpec) -> String {
    format!("POOL#{}", spec.as_str())
}

fn to_json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(err)
}

fn body<T: DeserializeOwned>(item: &Item) -> StoreResult<T> {
    let text = item
        .get("body")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| err("item without a body"))?;
    serde_json::from_str(text).map_err(|e| err(format!("corrupt record: {e}")))
}

fn version(item: &Item) -> StoreResult<u64> {
    item.get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| err("item without a version"))
}

impl DynamoStore {
    /// A store on `table` through a given client (tests point one at a local server).
    #[cfg(test)]
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client: tokio::sync::OnceCell::new_with(Some(client)),
            table: table.into(),
        }
    }

    /// A store on `table` with the standard AWS configuration chain (environment, profile,
    /// Lambda's role credentials; `AWS_ENDPOINT_URL_DYNAMODB` for a local server).
    pub fn from_env(table: impl Into<String>) -> Self {
        Self {
            client: tokio::sync::OnceCell::new(),
            table: table.into(),
        }
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async { Client::new(crate::aws::sdk_config().await) })
            .await
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client()
            .await
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item)
    }

    /// The records of one partition with `sk > after`, in `sk` order, at most `limit`.
    async fn page<T: DeserializeOwned>(
        &self,
        pk: String,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<T>> {
        let mut items = Vec::new();
        let mut start: Option<Item> = after
            .map(|a| HashMap::from([("pk".to_string(), s(pk.clone())), ("sk".to_string(), s(a))]));
        while items.len() < limit {
            let out = self
                .client()
                .await
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk.clone()))
                .consistent_read(true)
                .limit(i32::try_from(limit - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        items.truncate(limit);
        items.iter().map(body).collect()
    }

    /// Writes `item` if `condition` holds (`:v` is `version` when given); `Conflict` if not.
    async fn put_if(
        &self,
        item: Item,
        condition: &str,
        version: Option<u64>,
    ) -> StoreResult<Write> {
        let result = self
            .client()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(version_value(version))
            .send()
            .await;
        written(result)
    }

    /// Deletes an item if `condition` holds (`:v` is `version` when given); `Conflict` if not.
    async fn delete_if(
        &self,
        pk: String,
        sk: &str,
        condition: &str,
        version: Option<u64>,
    ) -> StoreResult<Write> {
        let result = self
            .client()
            .await
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression(condition)
            .set_expression_attribute_values(version_value(version))
            .send()
            .await;
        written(result)
    }
}

/// A key's item at `version`: its keys, its JSON body and the version.
fn key_item(key: &KeyRecord, version: u64) -> StoreResult<Item> {
    Ok(HashMap::from([
        ("pk".to_string(), s(key_pk(&key.scope))),
        ("sk".to_string(), s(&key.key_id)),
        ("body".to_string(), s(to_json(key)?)),
        (
            "version".to_string(),
            AttributeValue::N(version.to_string()),
        ),
    ]))
}

/// An alias's item: its keys and its JSON body.
fn alias_item(alias: &AliasRecord) -> StoreResult<Item> {
    Ok(HashMap::from([
        ("pk".to_string(), s(alias_pk(&alias.scope))),
        ("sk".to_string(), s(&alias.alias_name)),
        ("body".to_string(), s(to_json(alias)?)),
    ]))
}

fn version_value(version: Option<u64>) -> Option<Item> {
    version.map(|v| HashMap::from([(":v".to_string(), AttributeValue::N(v.to_string()))]))
}

/// A conditional write's outcome.
fn written<T, E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    result: Result<T, SdkError<E, R>>,
) -> StoreResult<Write> {
    match result {
        Ok(_) => Ok(Write::Done),
        Err(e) if is_condition_failed(&e) => Ok(Write::Conflict),
        Err(e) => Err(sdk_err(e)),
    }
}

#[async_trait]
impl KeyStore for DynamoStore {
    async fn insert_key(&self, key: &KeyRecord) -> StoreResult<Write> {
        self.put_if(key_item(key, 1)?, "attribute_not_exists(pk)", None)
            .await
    }

    async fn get_key(
        &self,
        scope: &Scope,
        key_id: &str,
    ) -> StoreResult<Option<Versioned<KeyRecord>>> {
        match self.get(key_pk(scope), key_id).await? {
            Some(item) => Ok(Some(Versioned {
                version: version(&item)?,
                record: body(&item)?,
            })),
            None => Ok(None),
        }
    }

    async fn replace_key(&self, version: u64, key: &KeyRecord) -> StoreResult<Write> {
        self.put_if(key_item(key, version + 1)?, "version = :v", Some(version))
            .await
    }

    async fn replace_keys(&self, keys: &[(u64, KeyRecord)]) -> StoreResult<Write> {
        let mut items = Vec::with_capacity(keys.len());
        for (v, k) in keys {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(key_item(k, v + 1)?));
            let put = match v {
                0 => put.condition_expression("attribute_not_exists(pk)"),
                v => put
                    .condition_expression("version = :v")
                    .set_expression_attribute_values(version_value(Some(*v))),
            }
            .build()
            .map_err(err)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        let result = self
            .client()
            .await
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Write::Done),
            // A failed condition, or a transaction racing another, cancels the whole
            // transaction: a conflict. Its other reasons (validation, size, throttling) are
            // errors.
            Err(SdkError::ServiceError(se))
                if matches!(
                    se.err(),
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t)
                        if t.cancellation_reasons().iter().all(|r| matches!(
                            r.code(),
                            None | Some("None" | "ConditionalCheckFailed" | "TransactionConflict")
                        ))
                ) =>
            {
                Ok(Write::Conflict)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn get_key_in_regions(
        &self,
        account: &str,
        key_id: &str,
        regions: &[&str],
    ) -> StoreResult<Vec<Versioned<KeyRecord>>> {
        let mut found = Vec::new();
        // BatchGetItem reads at most 100 items per call.
        for chunk in regions.chunks(100) {
            let mut keys: Vec<Item> = chunk
                .iter()
                .map(|r| {
                    HashMap::from([
                        ("pk".to_string(), s(key_pk(&Scope::new(account, *r)))),
                        ("sk".to_string(), s(key_id)),
                    ])
                })
                .collect();
            // Keys DynamoDB leaves unprocessed (throttling) are asked for again.
            while !keys.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .consistent_read(true)
                    .build()
                    .map_err(err)?;
                let out = self
                    .client()
                    .await
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                for item in out
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    found.push(Versioned {
                        version: version(&item)?,
                        record: body(&item)?,
                    });
                }
                keys = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
        }
        Ok(found)
    }

    async fn remove_key(&self, scope: &Scope, key_id: &str, version: u64) -> StoreResult<Write> {
        self.delete_if(key_pk(scope), key_id, "version = :v", Some(version))
            .await
    }

    async fn list_keys(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<KeyRecord>> {
        self.page(key_pk(scope), after, limit).await
    }

    async fn insert_alias(&self, alias: &AliasRecord) -> StoreResult<Write> {
        self.put_if(alias_item(alias)?, "attribute_not_exists(pk)", None)
            .await
    }

    async fn get_alias(&self, scope: &Scope, alias_name: &str) -> StoreResult<Option<AliasRecord>> {
        self.get(alias_pk(scope), alias_name)
            .await?
            .map(|item| body(&item))
            .transpose()
    }

    async fn update_alias(&self, alias: &AliasRecord) -> StoreResult<Write> {
        self.put_if(alias_item(alias)?, "attribute_exists(pk)", None)
            .await
    }

    async fn delete_alias(&self, scope: &Scope, alias_name: &str) -> StoreResult<Write> {
        self.delete_if(alias_pk(scope), alias_name, "attribute_exists(pk)", None)
            .await
    }

    async fn list_aliases(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<AliasRecord>> {
        self.page(alias_pk(scope), after, limit).await
    }

    async fn add_pool_keys(&self, spec: WrappingKeySpec, sealed: Vec<Vec<u8>>) -> StoreResult<()> {
        for chunk in sealed.chunks(BATCH) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder()
                        .item("pk", s(pool_pk(spec)))
                        .item("sk", s(uuid::Uuid::new_v4().to_string()))
                        .item("sealed", AttributeValue::B(Blob::new(item.clone())))
                        .build()
                        .map_err(err)?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<StoreResult<_>>()?;
            // Unprocessed items (throttling) are sent again until none is left.
            for attempt in 0.. {
                if requests.is_empty() {
                    break;
                }
                if attempt == 10 {
                    return Err(err("BatchWriteItem kept leaving items unprocessed"));
                }
                let out = self
                    .client()
                    .await
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                if !requests.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
            }
        }
        Ok(())
    }

    async fn claim_pool_key(&self, spec: WrappingKeySpec) -> StoreResult<Option<Vec<u8>>> {
        loop {
            let out = self
                .client()
                .await
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pool_pk(spec)))
                .projection_expression("sk")
                .consistent_read(true)
                .limit(CLAIM_CANDIDATES)
                .send()
                .await
                .map_err(sdk_err)?;
            let mut candidates: Vec<String> = out
                .items
                .unwrap_or_default()
                .into_iter()
                .filter_map(|mut i| i.remove("sk").and_then(|v| v.as_s().ok().cloned()))
                .collect();
            if candidates.is_empty() {
                return Ok(None);
            }
            shuffle(&mut candidates);
            for sk in candidates {
                let result = self
                    .client()
                    .await
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", s(pool_pk(spec)))
                    .key("sk", s(sk))
                    .condition_expression("attribute_exists(pk)")
                    .return_values(ReturnValue::AllOld)
                    .send()
                    .await;
                match result {
                    Ok(out) => {
                        let sealed = out
                            .attributes
                            .and_then(|mut a| a.remove("sealed"))
                            .and_then(|v| v.as_b().ok().map(|b| b.clone().into_inner()))
                            .ok_or_else(|| err("pooled key without a sealed pair"))?;
                        return Ok(Some(sealed));
                    }
                    // Another instance claimed it first: try the next.
                    Err(e) if is_condition_failed(&e) => continue,
                    Err(e) => return Err(sdk_err(e)),
                }
            }
        }
    }

    async fn count_pool_keys(&self, spec: WrappingKeySpec) -> StoreResult<usize> {
        let mut count = 0;
        let mut start = None;
        loop {
            let out = self
                .client()
                .await
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pool_pk(spec)))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err)?;
            count += out.count as usize;
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(count),
            }
        }
    }
}

/// Fisher-Yates with random bytes from aws-lc (no extra crate for one shuffle).
fn shuffle<T>(items: &mut [T]) {
    let mut random = [0u8; 4];
    for i in (1..items.len()).rev() {
        let _ = aws_lc_rs::rand::fill(&mut random);
        let j = u32::from_le_bytes(random) as usize % (i + 1);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    //! The conformance suite against a DynamoDB-API server named by
    //! `KMS_MOCK_TEST_DYNAMODB_ENDPOINT` (CI starts moto's server); skipped without it.

    use super::*;
    use crate::store::conformance;
    use std::sync::Arc;

    async fn store() -> Option<Arc<DynamoStore>> {
        let Ok(endpoint) = std::env::var("KMS_MOCK_TEST_DYNAMODB_ENDPOINT") else {
            // CI always runs the suite against its DynamoDB-API server.
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set KMS_MOCK_TEST_DYNAMODB_ENDPOINT (tests/run.sh starts moto's server)"
            );
            return None;
        };
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .endpoint_url(endpoint)
            .build();
        let table = format!("kms-mock-test-{}", uuid::Uuid::new_v4());
        let store = DynamoStore::new(Client::from_conf(config), table);
        create_table(&store).await;
        Some(Arc::new(store))
    }

    /// A fresh table, on demand (deployed stacks get theirs from the template).
    async fn create_table(store: &DynamoStore) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let mut create = store
            .client()
            .await
            .create_table()
            .table_name(&store.table)
            .billing_mode(BillingMode::PayPerRequest);
        for (name, kind) in [("pk", KeyType::Hash), ("sk", KeyType::Range)] {
            create = create
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(name)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(name)
                        .key_type(kind)
                        .build()
                        .unwrap(),
                );
        }
        create.send().await.expect("create the test table");
    }

    macro_rules! conformance_test {
        ($name:ident, $check:path) => {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(store) = store().await else {
                    eprintln!("KMS_MOCK_TEST_DYNAMODB_ENDPOINT not set: skipped");
                    return;
                };
                $check(store).await;
            }
        };
    }

    conformance_test!(conformance_keys, conformance::keys_crud);
    conformance_test!(conformance_aliases, conformance::aliases_crud);
    conformance_test!(conformance_related_keys, conformance::related_keys);
    conformance_test!(conformance_pool, conformance::pool_claims_once);
    conformance_test!(
        conformance_concurrency,
        conformance::concurrent_updates_are_not_lost
    );

    #[test]
    fn shuffle_keeps_every_item() {
        let mut v: Vec<u32> = (0..50).collect();
        shuffle(&mut v);
        v.sort();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
    }
}
