//! Records to items and back, and the handful of item operations every record uses: a
//! consistent read, a put that creates, a put that replaces only what was read
//! (read-modify-write under `rev`), a delete that says whether something was there, and a
//! paginated query.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use super::error::is_condition_failure;
use super::{DynamoStore, Item, GSI1_PK, GSI1_SK, PK, SK, TTL_ATTRIBUTE};
use crate::store::{StoreError, StoreResult};

/// A random token each write replaces; a put conditional on it succeeds only if nothing wrote
/// the item since it was read.
const REV: &str = "rev";
/// The webhook message expiry in microseconds, compared exactly (`expires_at` is whole
/// seconds, for DynamoDB's TTL).
pub(super) const EXPIRES_US: &str = "expires_us";
/// Attributes of the table's own, never part of a record.
const KEY_ATTRIBUTES: [&str; 7] = [PK, SK, GSI1_PK, GSI1_SK, REV, TTL_ATTRIBUTE, EXPIRES_US];

/// How often a read-modify-write re-reads after losing a race before it gives up; each loss
/// means another writer succeeded, so this is only reached under a storm of writes to one item.
const MAX_RACES: usize = 10;

/// Where a record lives.
pub(super) struct Keys {
    pub pk: String,
    pub sk: String,
    /// `gsi1pk` and `gsi1sk`, for records listed through the index.
    pub gsi1: Option<(String, String)>,
}

impl Keys {
    pub fn new(pk: String, sk: impl Into<String>) -> Self {
        Self {
            pk,
            sk: sk.into(),
            gsi1: None,
        }
    }

    pub fn indexed(mut self, gsi1pk: impl Into<String>, gsi1sk: impl Into<String>) -> Self {
        self.gsi1 = Some((gsi1pk.into(), gsi1sk.into()));
        self
    }
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// The record's attributes plus its keys and a fresh `rev`.
pub(super) fn encode<T: Serialize>(record: &T, keys: Keys) -> StoreResult<Item> {
    let mut item: Item = to_item(record).map_err(|e| {
        StoreError::Misconfigured(format!(
            "record {}/{} cannot be encoded for DynamoDB: {e}",
            keys.pk, keys.sk
        ))
    })?;
    item.insert(PK.into(), s(keys.pk));
    item.insert(SK.into(), s(keys.sk));
    if let Some((gpk, gsk)) = keys.gsi1 {
        item.insert(GSI1_PK.into(), s(gpk));
        item.insert(GSI1_SK.into(), s(gsk));
    }
    item.insert(REV.into(), s(uuid::Uuid::new_v4().to_string()));
    Ok(item)
}

pub(super) fn decode<T: DeserializeOwned>(mut item: Item) -> StoreResult<T> {
    let at = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let place = format!("{}/{}", at(PK), at(SK));
    for name in KEY_ATTRIBUTES {
        item.remove(name);
    }
    from_item(item).map_err(|e| {
        StoreError::Unavailable(format!(
            "record {place} does not decode ({e}); it is corrupt or was written by a newer HiLite"
        ))
    })
}

/// What a read-modify-write did.
pub(super) enum Outcome<T> {
    Missing,
    /// The change chose to leave the record as it was.
    Kept(T),
    Written(T),
}

impl DynamoStore {
    pub(super) async fn get_item(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.fail("GetItem", e))?;
        Ok(out.item)
    }

    pub(super) async fn get_record<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: &str,
    ) -> StoreResult<Option<T>> {
        self.get_item(pk, sk).await?.map(decode).transpose()
    }

    /// Write `item` unless one with its key exists; `false` when one did.
    pub(super) async fn put_if_absent(&self, item: Item) -> StoreResult<bool> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.fail("PutItem", e)),
        }
    }

    /// Write `item`, replacing whatever has its key.
    pub(super) async fn put(&self, item: Item) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| self.fail("PutItem", e))?;
        Ok(())
    }

    /// Delete the item; `false` when there was none.
    pub(super) async fn delete_item(&self, pk: String, sk: &str) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| self.fail("DeleteItem", e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// Read the record, let `change` modify it in memory (or decline with `Ok(false)`, or refuse
    /// with an error), and write it back only if the item is as it was read: same status, same
    /// `rev`. A lost race reads again, so `change` always decides on the current record.
    pub(super) async fn update<T, K, F>(
        &self,
        pk: String,
        sk: &str,
        keys: K,
        mut change: F,
    ) -> StoreResult<Outcome<T>>
    where
        T: Serialize + DeserializeOwned,
        K: Fn(&T) -> Keys,
        F: FnMut(&mut T) -> StoreResult<bool>,
    {
        for _ in 0..MAX_RACES {
            let Some(old) = self.get_item(pk.clone(), sk).await? else {
                return Ok(Outcome::Missing);
            };
            let guard = ["status", REV].map(|name| (name, old.get(name).cloned()));
            let mut record: T = decode(old)?;
            if !change(&mut record)? {
                return Ok(Outcome::Kept(record));
            }
            let item = encode(&record, keys(&record))?;
            if self.put_if_unchanged(item, &guard).await? {
                return Ok(Outcome::Written(record));
            }
            tracing::debug!(pk = %pk, sk, "lost a write race; reading the record again");
        }
        Err(StoreError::Unavailable(format!(
            "record {pk}/{sk} kept changing under concurrent writes ({MAX_RACES} tries); try again"
        )))
    }

    /// Put `item` only while the attributes in `guard` still have the values read.
    async fn put_if_unchanged(
        &self,
        item: Item,
        guard: &[(&str, Option<AttributeValue>)],
    ) -> StoreResult<bool> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let mut conditions = Vec::new();
        for (i, (name, value)) in guard.iter().enumerate() {
            request = request.expression_attribute_names(format!("#g{i}"), *name);
            match value {
                Some(v) => {
                    conditions.push(format!("#g{i} = :g{i}"));
                    request = request.expression_attribute_values(format!(":g{i}"), v.clone());
                }
                None => conditions.push(format!("attribute_not_exists(#g{i})")),
            }
        }
        match request
            .condition_expression(conditions.join(" AND "))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.fail("PutItem", e)),
        }
    }

    /// All items a query returns, following its pages, up to `max` when given.
    pub(super) async fn query_items(
        &self,
        query: QueryFluentBuilder,
        max: Option<usize>,
    ) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        if max == Some(0) {
            return Ok(items);
        }
        let mut pages = query
            .table_name(&self.table)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            items.push(item.map_err(|e| self.fail("Query", e))?);
            if max.is_some_and(|m| items.len() >= m) {
                break;
            }
        }
        Ok(items)
    }

    pub(super) async fn query_records<T: DeserializeOwned>(
        &self,
        query: QueryFluentBuilder,
        max: Option<usize>,
    ) -> StoreResult<Vec<T>> {
        self.query_items(query, max)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// A query on one partition of the table, optionally narrowed to sort keys with a prefix.
    pub(super) fn partition(&self, pk: String, sk_prefix: Option<&str>) -> QueryFluentBuilder {
        let mut q = self
            .client
            .query()
            .consistent_read(true)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(pk));
        q = match sk_prefix {
            Some(prefix) => q
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":prefix", s(prefix)),
            None => q.key_condition_expression("#pk = :pk"),
        };
        q
    }

    /// A query on one partition of `gsi1` (eventually consistent, as every GSI read).
    pub(super) fn index_partition(
        &self,
        gsi1pk: String,
        gsi1sk_prefix: Option<&str>,
    ) -> QueryFluentBuilder {
        let mut q = self
            .client
            .query()
            .index_name(super::GSI1)
            .expression_attribute_names("#gpk", GSI1_PK)
            .expression_attribute_values(":gpk", s(gsi1pk));
        q = match gsi1sk_prefix {
            Some(prefix) => q
                .key_condition_expression("#gpk = :gpk AND begins_with(#gsk, :prefix)")
                .expression_attribute_names("#gsk", GSI1_SK)
                .expression_attribute_values(":prefix", s(prefix)),
            None => q.key_condition_expression("#gpk = :gpk"),
        };
        q
    }
}
