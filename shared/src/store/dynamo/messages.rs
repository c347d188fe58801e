//! Webhook message ids in DynamoDB: one item per id (`MSG#{id}` / `MSG`) holding `expires_at`
//! (whole seconds, for TTL), `expires_us` (compared exactly) and, while a delivery is applying
//! the message, `claim`: that delivery's token (then the expiry is the claim's lease). Every
//! write is a single conditional request, so concurrent deliveries of one id are decided by
//! DynamoDB: of concurrent claims exactly one put succeeds.
//!
//! DynamoDB deletes expired items lazily (typically within days), so an expired item may still
//! be there and every condition compares `expires_us` with the caller's `now` instead.
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html>
//!
//! Not the other small records (`records.rs`).

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::error::is_condition_failure;
use super::item::{s, EXPIRES_US};
use super::{DynamoStore, Item, PK, SK, TTL_ATTRIBUTE};
use crate::domain::{ExternalId, Seen};
use crate::store::{MessageClaim, StoreError, StoreResult};

const MESSAGE_SK: &str = "MSG";
/// The claiming delivery's token, present only while the message is being applied.
const CLAIM: &str = "claim";

fn message_pk(id: &ExternalId) -> String {
    format!("MSG#{id}")
}

/// TTL wants whole seconds; rounding up never deletes an id before it expired.
fn ttl_secs(at: DateTime<Utc>) -> AttributeValue {
    let secs = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
    AttributeValue::N(secs.to_string())
}

fn micros(at: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(at.timestamp_micros().to_string())
}

/// An item's `expires_us`, or an error naming the broken item.
fn expires_us(id: &ExternalId, item: &Item) -> StoreResult<i64> {
    item.get(EXPIRES_US)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| {
            StoreError::Unavailable(format!("message id item {id} has no valid {EXPIRES_US}"))
        })
}

/// What an unexpired item says: claimed by someone, or handled.
fn state(item: &Item) -> MessageClaim {
    if item.contains_key(CLAIM) {
        MessageClaim::InFlight
    } else {
        MessageClaim::Handled
    }
}

impl DynamoStore {
    /// Whether the id is remembered (or claimed) and unexpired at `now`; an expired item TTL has
    /// not deleted yet does not count.
    pub(super) async fn seen(&self, id: &ExternalId, now: DateTime<Utc>) -> StoreResult<bool> {
        let Some(item) = self.get_item(message_pk(id), MESSAGE_SK).await? else {
            return Ok(false);
        };
        Ok(expires_us(id, &item)? > now.timestamp_micros())
    }

    /// New when the id is absent, or present but expired.
    pub(super) async fn remember(
        &self,
        id: &ExternalId,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Seen> {
        Ok(match self.take(id, None, expires_at, now).await? {
            None => Seen::New,
            Some(_) => Seen::AlreadySeen,
        })
    }

    pub(super) async fn claim_id(
        &self,
        id: &ExternalId,
        token: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<MessageClaim> {
        Ok(self
            .take(id, Some(token), lease_until, now)
            .await?
            .unwrap_or(MessageClaim::Claimed))
    }

    /// Put the id's item (claimed by `token`, or handled when `None`) on condition that none is
    /// there unexpired: `None` when written, else what the item there says.
    async fn take(
        &self,
        id: &ExternalId,
        token: Option<&str>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<MessageClaim>> {
        let mut item: Item = [
            (PK, s(message_pk(id))),
            (SK, s(MESSAGE_SK)),
            (TTL_ATTRIBUTE, ttl_secs(expires_at)),
            (EXPIRES_US, micros(expires_at)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(token) = token {
            item.insert(CLAIM.to_string(), s(token));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #us <= :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#us", EXPIRES_US)
            .expression_attribute_values(":now", micros(now))
            // The refusal carries the item that caused it, saving a read.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(None),
            Err(e) if is_condition_failure(&e) => e,
            Err(e) => return Err(self.fail("PutItem", e)),
        };
        let returned = match err.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(refusal)) => refusal.item().cloned(),
            _ => None,
        };
        let there = match returned {
            Some(item) => Some(item),
            None => self.get_item(message_pk(id), MESSAGE_SK).await?,
        };
        // Gone or expired since the refusal: its holder released it a moment ago; the caller's
        // next attempt will take it.
        Ok(Some(match there {
            Some(item) if expires_us(id, &item)? > now.timestamp_micros() => state(&item),
            _ => MessageClaim::InFlight,
        }))
    }

    /// Clear `token`'s claim and keep the id until `expires_at`, on condition that the claim is
    /// still `token`'s.
    pub(super) async fn settle_id(
        &self,
        id: &ExternalId,
        token: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(message_pk(id)))
            .key(SK, s(MESSAGE_SK))
            .update_expression("SET #ttl = :ttl, #us = :us REMOVE #claim")
            .condition_expression("#claim = :token")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_names("#us", EXPIRES_US)
            .expression_attribute_names("#claim", CLAIM)
            .expression_attribute_values(":ttl", ttl_secs(expires_at))
            .expression_attribute_values(":us", micros(expires_at))
            .expression_attribute_values(":token", s(token))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::Conflict {
                what: format!("webhook message {id}"),
                expected: "claimed by this delivery".into(),
                actual: "claimed by another delivery or gone".into(),
            }),
            Err(e) => Err(self.fail("UpdateItem", e)),
        }
    }

    /// Delete the id's item on condition that the claim is `token`'s; nothing otherwise.
    pub(super) async fn release_id(&self, id: &ExternalId, token: &str) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(message_pk(id)))
            .key(SK, s(MESSAGE_SK))
            .condition_expression("#claim = :token")
            .expression_attribute_names("#claim", CLAIM)
            .expression_attribute_values(":token", s(token))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(self.fail("DeleteItem", e)),
        }
    }
}
