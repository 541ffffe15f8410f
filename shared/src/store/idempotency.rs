//! Idempotency records: one per `Idempotency-Key`, holding the request's hash and, once the
//! first request finished, its response.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::Head;
use super::raw_key;
use super::{SaveError, Store, conditional, failed};
use crate::error::DomainError;
use crate::ids::OrgId;
use crate::keys;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    /// `None` while the first request is still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<StoredResponse>,
    /// Unix seconds; DynamoDB's TTL removes the record some time after, reads check it first.
    pub ttl: i64,
}

#[derive(Serialize, Deserialize)]
struct RecordItem {
    #[serde(flatten)]
    head: Head,
    #[serde(flatten)]
    record: IdempotencyRecord,
}

/// What claiming a key found.
pub enum Claim {
    /// This request holds the key now and must run.
    Won,
    /// Another request holds it (finished or not).
    Taken(IdempotencyRecord),
}

impl Store {
    /// Claims `key` for a request with `request_hash` until `ttl` (unix seconds), unless a live
    /// record holds it: a completed one, or a claim whose `ttl` has not passed.
    #[tracing::instrument(skip(self, key, request_hash), fields(org = %org))]
    pub async fn claim_idempotency_key(
        &self,
        org: &OrgId,
        key: &str,
        request_hash: &str,
        now_unix: i64,
        ttl: i64,
    ) -> Result<Claim, DomainError> {
        let item = serde_dynamo::to_item(RecordItem {
            head: Head::new(
                keys::idempotency_pk(org, key),
                keys::IDEMPOTENCY_SK,
                "idempotency_record",
            ),
            record: IdempotencyRecord {
                request_hash: request_hash.to_owned(),
                response: None,
                ttl,
            },
        })
        .map_err(failed)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR #ttl < :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", AttributeValue::N(now_unix.to_string()))
            .send()
            .await;
        if conditional(result)?.is_some() {
            return Ok(Claim::Won);
        }
        match self.idempotency_record(org, key).await? {
            Some(record) => Ok(Claim::Taken(record)),
            // It expired and was removed in between: a retry will claim it.
            None => Err(DomainError::Contended(
                "the idempotency key is being released; retry",
            )),
        }
    }

    pub async fn idempotency_record(
        &self,
        org: &OrgId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, DomainError> {
        let key = raw_key(&keys::idempotency_pk(org, key), keys::IDEMPOTENCY_SK);
        let item: Option<RecordItem> = self.get_as(key).await?;
        Ok(item.map(|r| r.record))
    }

    /// Stores the first request's response under its claimed key, kept until `ttl`. A response
    /// that holds a contact's data is stored only while the contact exists, in one transaction
    /// with a pointer to it in the contact's partition, where the contact's purge finds it; one
    /// about a contact deleted meanwhile is not stored, and the key is let go.
    pub async fn complete_idempotency_key(
        &self,
        org: &OrgId,
        key: &str,
        request_hash: &str,
        response: &StoredResponse,
        about_contact: Option<&str>,
        ttl: i64,
    ) -> Result<(), DomainError> {
        let pk = keys::idempotency_pk(org, key);
        let response = serde_dynamo::to_attribute_value(response).map_err(failed)?;
        let completion = Update::builder()
            .table_name(&self.table)
            .set_key(Some(raw_key(&pk, keys::IDEMPOTENCY_SK)))
            .condition_expression("request_hash = :hash")
            .update_expression("SET #response = :response, #ttl = :ttl")
            .expression_attribute_names("#response", "response")
            .expression_attribute_values(":response", response)
            .expression_attribute_values(":hash", AttributeValue::S(request_hash.to_owned()))
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":ttl", AttributeValue::N(ttl.to_string()))
            .build()
            .map_err(failed)?;
        let Some(contact) = about_contact else {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(completion.key))
                .set_condition_expression(completion.condition_expression)
                .update_expression(completion.update_expression)
                .set_expression_attribute_names(completion.expression_attribute_names)
                .set_expression_attribute_values(completion.expression_attribute_values)
                .send()
                .await
                .map_err(failed)?;
            return Ok(());
        };
        let contact_pk = keys::contact_pk(org, contact);
        let mut pointer = raw_key(&contact_pk, &keys::contact_idempotency_ref_sk(&pk));
        pointer.insert("entity".into(), AttributeValue::S("idempotency_ref".into()));
        pointer.insert("ttl".into(), AttributeValue::N(ttl.to_string()));
        let pointer = Put::builder()
            .table_name(&self.table)
            .set_item(Some(pointer))
            .build()
            .map_err(failed)?;
        let alive = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(raw_key(&contact_pk, keys::PROFILE_SK)))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(failed)?;
        let written = self
            .transact(vec![
                TransactWriteItem::builder().update(completion).build(),
                TransactWriteItem::builder().put(pointer).build(),
                TransactWriteItem::builder().condition_check(alive).build(),
            ])
            .await;
        match written {
            Ok(()) => Ok(()),
            Err(SaveError::Conflict) => self.release_idempotency_key(org, key).await,
            Err(SaveError::Failed(err)) => Err(err),
        }
    }

    /// The keys of the idempotency records holding a contact's data, read from the pointers in
    /// its partition (strongly consistent: none written before the read is missed).
    pub async fn idempotency_records_of(
        &self,
        org: &OrgId,
        contact: &str,
    ) -> Result<Vec<super::Item>, DomainError> {
        let query = self
            .query_prefix(
                keys::contact_pk(org, contact),
                keys::CONTACT_IDEMPOTENCY_REF_PREFIX,
            )
            .consistent_read(true)
            .projection_expression("SK");
        Ok(self
            .query_all(query)
            .await?
            .into_iter()
            .filter_map(|item| {
                let sk = item.get(keys::SK)?.as_s().ok()?;
                let record_pk = sk.strip_prefix(keys::CONTACT_IDEMPOTENCY_REF_PREFIX)?;
                Some(raw_key(record_pk, keys::IDEMPOTENCY_SK))
            })
            .collect())
    }

    /// Lets a key go after the first request failed unexpectedly, so a retry can run.
    pub async fn release_idempotency_key(&self, org: &OrgId, key: &str) -> Result<(), DomainError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(raw_key(
                &keys::idempotency_pk(org, key),
                keys::IDEMPOTENCY_SK,
            )))
            .send()
            .await
            .map_err(failed)?;
        Ok(())
    }
}
