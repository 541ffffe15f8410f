//! DynamoDB access. Every write is conditional; a lost race is reported as
//! [`SaveError::Conflict`] so callers can re-read and re-apply their change.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, DeleteRequest, KeysAndAttributes, Put, PutRequest,
    TransactWriteItem, WriteRequest,
};
use serde::Serialize;

use crate::error::{ApiError, DomainError};
use crate::ids::OrgId;
use crate::keys;
use crate::retry::Backoff;

mod allowances;
mod conversations;
mod crm;
mod deletion;
mod exports;
mod idempotency;
mod ingest;
mod match_links;
mod messages;
mod notes;
mod outbox;
mod profile;
mod settings;
#[cfg(test)]
mod tests;
mod values;

pub use allowances::Allowance;
pub use conversations::*;
pub use crm::{CallOutcome, CrmEndpoints};
pub use deletion::{PurgeEntry, PurgeScope};
pub use exports::{ExportLease, StoredSchedule};
pub use idempotency::*;
pub use ingest::*;
pub use messages::*;
pub use notes::NoteEdit;
pub use outbox::{StreamChange, relayed_events};
pub use profile::*;

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

/// A value as read, with what its next conditional write must check.
#[derive(Debug, Clone, Default)]
pub struct Stored<T> {
    pub value: T,
    /// 0 when the item has never been written.
    pub version: u64,
    pub created_at: Option<String>,
}

/// How one attempt at a conditional write ended when it did not save. The store fails with a
/// [`DomainError`]; a handler's attempt, which also checks the request against what it read,
/// fails with the [`ApiError`] it answers.
#[derive(Debug)]
pub enum SaveError<E = DomainError> {
    /// A condition failed: someone else wrote first, or a guarded invariant no longer holds.
    Conflict,
    Failed(E),
}

impl<E: From<DomainError>> From<DomainError> for SaveError<E> {
    fn from(err: DomainError) -> Self {
        SaveError::Failed(err.into())
    }
}

impl From<ApiError> for SaveError<ApiError> {
    fn from(err: ApiError) -> Self {
        SaveError::Failed(err)
    }
}

impl From<SaveError> for SaveError<ApiError> {
    fn from(err: SaveError) -> Self {
        match err {
            SaveError::Conflict => SaveError::Conflict,
            SaveError::Failed(err) => SaveError::Failed(err.into()),
        }
    }
}

/// What every item carries: its key and the entity it is.
#[derive(Serialize, serde::Deserialize)]
pub(crate) struct Head {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
}

impl Head {
    pub(crate) fn new(pk: String, sk: impl Into<String>, entity: impl Into<String>) -> Self {
        Self {
            pk,
            sk: sk.into(),
            entity: entity.into(),
        }
    }
}

fn key(org: &OrgId, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (keys::PK.to_owned(), AttributeValue::S(keys::org_pk(org))),
        (keys::SK.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

/// A call DynamoDB did not answer as it should: the cause goes with it, for the log.
fn failed(err: impl std::error::Error + Send + Sync + 'static) -> DomainError {
    DomainError::failed(err)
}

/// The result of a conditional write: `None` when its condition failed, which callers read as a
/// lost race or a missing item.
fn conditional<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<Option<T>, DomainError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(err)
            if err.as_service_error().and_then(|e| e.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(None)
        }
        Err(err) => Err(failed(err)),
    }
}

/// Why DynamoDB cancelled a transaction, read reason by reason: only a failed condition means
/// the data is not as the writer expected; a conflict with another transaction on one of its
/// items, or throttling, leaves nothing written and the same transaction may simply go again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancelled {
    ConditionFailed,
    Transient,
    Refused,
}

impl Cancelled {
    fn of<'a>(codes: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        let mut outcome = None;
        for code in codes.into_iter().flatten() {
            let this = match code {
                "None" => continue,
                "ConditionalCheckFailed" => return Cancelled::ConditionFailed,
                "TransactionConflict"
                | "ThrottlingError"
                | "ProvisionedThroughputExceeded"
                | "RequestLimitExceeded" => Cancelled::Transient,
                _ => Cancelled::Refused,
            };
            outcome = Some(match outcome {
                Some(Cancelled::Refused) => Cancelled::Refused,
                _ => this,
            });
        }
        // A cancellation naming no reasons (an emulator's) reads as it always did: a failed
        // condition.
        outcome.unwrap_or(Cancelled::ConditionFailed)
    }
}

/// Runs `attempt` until it saves without a conflict, backing off between tries. A caller that
/// keeps losing gets [`DomainError::Contended`] (`409 conflict`) rather than a silently lost
/// update.
pub async fn retry_on_conflict<T, E, F, Fut>(mut attempt: F) -> Result<T, E>
where
    E: From<DomainError>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SaveError<E>>>,
{
    let mut backoff = Backoff::new();
    while backoff.next_try().await {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(SaveError::Failed(err)) => return Err(err),
            Err(SaveError::Conflict) => {}
        }
    }
    Err(DomainError::Contended("the resource is being changed by someone else; try again").into())
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// One item by key, strongly consistent.
    async fn get_consistent(&self, key: Item) -> Result<Option<Item>, DomainError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(failed)?;
        Ok(out.item)
    }

    /// One item by key, strongly consistent, as the entity's item struct.
    async fn get_as<T: serde::de::DeserializeOwned>(
        &self,
        key: Item,
    ) -> Result<Option<T>, DomainError> {
        self.get_consistent(key)
            .await?
            .map(|item| serde_dynamo::from_item(item).map_err(failed))
            .transpose()
    }

    /// A query of one partition of a secondary index: `pk_name` (its partition key) is `pk`.
    fn index_query(&self, index: &str, pk_name: &str, pk: String) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
    }

    /// After a conditional write on an item failed: `404` (naming `what`) when the item is gone,
    /// `412` when it exists, so its version moved on.
    async fn gone_or_stale(&self, key: Item, what: &'static str) -> DomainError {
        match self.get_consistent(key).await {
            Ok(Some(_)) => DomainError::Stale(what),
            Ok(None) => DomainError::NotFound(what),
            Err(err) => err,
        }
    }

    /// Every item a query matches, one page after the other.
    async fn query_all(&self, query: QueryFluentBuilder) -> Result<Vec<Item>, DomainError> {
        let mut items = Vec::new();
        self.for_each_query_page(query, |page| items.extend(page.items.unwrap_or_default()))
            .await?;
        Ok(items)
    }

    /// Runs a query page after page, past DynamoDB's 1 MB a page, handing each page to `visit`.
    async fn for_each_query_page(
        &self,
        query: QueryFluentBuilder,
        mut visit: impl FnMut(aws_sdk_dynamodb::operation::query::QueryOutput),
    ) -> Result<(), DomainError> {
        let mut start = None;
        loop {
            let mut page = query
                .clone()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(failed)?;
            start = page.last_evaluated_key.take().filter(|k| !k.is_empty());
            visit(page);
            if start.is_none() {
                return Ok(());
            }
        }
    }

    /// Strongly consistent `BatchGetItem` of any number of keys, 100 a request (its limit),
    /// asking again for keys left unprocessed. Items come back in no particular order.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, DomainError> {
        let mut items = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            items.extend(self.batch_get_chunk(chunk.to_vec()).await?);
        }
        Ok(items)
    }

    async fn batch_get_chunk(&self, keys: Vec<Item>) -> Result<Vec<Item>, DomainError> {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(failed)?;
        let mut pending = HashMap::from([(self.table.clone(), request)]);
        let mut items = Vec::new();
        let mut backoff = Backoff::new();
        while backoff.next_try().await {
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .map_err(failed)?;
            items.extend(
                out.responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default(),
            );
            pending = out.unprocessed_keys.unwrap_or_default();
            if pending.is_empty() {
                return Ok(items);
            }
        }
        Err(DomainError::failed("batch get left keys unprocessed"))
    }

    /// `BatchWriteItem` in chunks of 25, retrying unprocessed items with backoff.
    async fn batch_write(&self, ops: Vec<BatchOp>) -> Result<(), DomainError> {
        let writes = ops
            .into_iter()
            .map(|op| {
                Ok(match op {
                    BatchOp::Put(item) => WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(item)).build()?),
                    BatchOp::Delete(key) => WriteRequest::builder()
                        .delete_request(DeleteRequest::builder().set_key(Some(key)).build()?),
                }
                .build())
            })
            .collect::<Result<Vec<_>, aws_sdk_dynamodb::error::BuildError>>()
            .map_err(failed)?;
        for chunk in writes.chunks(25) {
            let mut pending = HashMap::from([(self.table.clone(), chunk.to_vec())]);
            let mut backoff = Backoff::new();
            while !pending.is_empty() {
                if !backoff.next_try().await {
                    return Err(DomainError::failed("batch write left items unprocessed"));
                }
                let out = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(pending))
                    .send()
                    .await
                    .map_err(failed)?;
                pending = out.unprocessed_items.unwrap_or_default();
                pending.retain(|_, items| !items.is_empty());
            }
        }
        Ok(())
    }

    /// A put that only creates: it fails if an item with the key exists.
    pub(super) fn put_new(&self, item: Item) -> Result<Put, DomainError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(failed)
    }

    async fn write(&self, put: Put, guard: Option<ConditionCheck>) -> Result<(), SaveError> {
        match guard {
            None => self.put_conditionally(put).await,
            Some(check) => {
                self.transact(vec![
                    TransactWriteItem::builder().put(put).build(),
                    TransactWriteItem::builder().condition_check(check).build(),
                ])
                .await
            }
        }
    }

    /// A conditional `PutItem`; a failed condition is a [`SaveError::Conflict`].
    async fn put_conditionally(&self, put: Put) -> Result<(), SaveError> {
        let result = self
            .client
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_names(put.expression_attribute_names)
            .set_expression_attribute_values(put.expression_attribute_values)
            .send()
            .await;
        conditional(result)?.map(drop).ok_or(SaveError::Conflict)
    }

    /// `TransactWriteItems`. A failed condition is a [`SaveError::Conflict`]; a cancellation for
    /// a conflict with another transaction or for throttling sends it again with the one retry
    /// policy, and one that keeps meeting them is [`DomainError::Contended`].
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), SaveError> {
        let mut backoff = Backoff::new();
        while backoff.next_try().await {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let cancelled = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => {
                    Cancelled::of(cancel.cancellation_reasons().iter().map(|r| r.code()))
                }
                _ => return Err(SaveError::Failed(failed(err))),
            };
            match cancelled {
                Cancelled::ConditionFailed => return Err(SaveError::Conflict),
                Cancelled::Transient => {
                    tracing::info!("transaction cancelled by a conflict or throttling; retrying");
                }
                Cancelled::Refused => return Err(SaveError::Failed(failed(err))),
            }
        }
        Err(SaveError::Failed(DomainError::Contended(
            "the resource is being changed by someone else; try again",
        )))
    }
}

pub(crate) type Item = HashMap<String, AttributeValue>;

/// The key of a contact's `PROFILE` item.
pub(crate) fn profile_key(org: &OrgId, contact_id: &str) -> Item {
    raw_key(&keys::contact_pk(org, contact_id), keys::PROFILE_SK)
}

/// A put that creates the item (`expected` 0) or replaces the version that was read.
pub(super) fn put_on_version(
    put: aws_sdk_dynamodb::types::builders::PutBuilder,
    expected: u64,
) -> aws_sdk_dynamodb::types::builders::PutBuilder {
    if expected == 0 {
        put.condition_expression("attribute_not_exists(PK)")
    } else {
        put.condition_expression("#version = :version")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":version", AttributeValue::N(expected.to_string()))
    }
}

/// An item's primary key.
pub(crate) fn raw_key(pk: &str, sk: &str) -> Item {
    HashMap::from([
        (keys::PK.to_owned(), AttributeValue::S(pk.to_owned())),
        (keys::SK.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

/// One write of a `BatchWriteItem`: put an item, or delete one by key.
pub(crate) enum BatchOp {
    Put(Item),
    Delete(Item),
}
