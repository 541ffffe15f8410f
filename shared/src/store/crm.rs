//! The org's CRM connection: one item beside the org's settings, `PK = ORG#<org>`, `SK = CRM`,
//! read with the settings and definitions when a contact is shown, so the view knows at once
//! whether the org has a connection. Its breaker counters are updated in place.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};

use super::{Head, Store, conditional, failed, key};
use crate::crm::{BREAKER_FAILURES, CallError, CrmConnection};
use crate::error::DomainError;
use crate::ids::OrgId;
use crate::keys;

const ENTITY: &str = "crm_connection";

#[derive(Serialize, Deserialize)]
pub(super) struct ConnectionItem {
    #[serde(flatten)]
    head: Head,
    #[serde(flatten)]
    pub(super) connection: CrmConnection,
}

/// Takes the org's CRM connection out of a batch read's items: `None` when it has none. The
/// reads that carry it beside other items (a contact's, an ingest's, a status change's) use this.
pub(super) fn take_connection(
    items: &mut Vec<super::Item>,
) -> Result<Option<CrmConnection>, DomainError> {
    let at = items.iter().position(|item| {
        item.get(keys::SK)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            == Some(keys::CRM_SK)
    });
    at.map(|at| serde_dynamo::from_item::<_, ConnectionItem>(items.swap_remove(at)))
        .transpose()
        .map(|item| item.map(|i| i.connection))
        .map_err(failed)
}

/// What a call to the CRM came to, for the breaker.
pub enum CallOutcome {
    Succeeded,
    /// Failed; if this failure pauses calls they wait until `pause_until`.
    Failed {
        error: CallError,
        pause_until: crate::clock::Timestamp,
    },
}

/// Where the connection sends its calls: the fields `PUT /crm` changes, and nothing else.
#[derive(Clone, Copy)]
pub struct CrmEndpoints<'a> {
    pub lookup_url: &'a crate::crm::CrmUrl,
    pub writeback_url: Option<&'a crate::crm::CrmUrl>,
    pub lookup_ttl_minutes: u32,
}

fn value<T: Serialize>(value: &T) -> Result<AttributeValue, DomainError> {
    serde_dynamo::to_attribute_value(value).map_err(failed)
}

impl Store {
    #[tracing::instrument(skip(self), fields(org = %org))]
    pub async fn crm_connection(&self, org: &OrgId) -> Result<Option<CrmConnection>, DomainError> {
        let item: Option<ConnectionItem> = self.get_as(key(org, keys::CRM_SK)).await?;
        Ok(item.map(|i| i.connection))
    }

    /// Creates the org's connection; `false` when it already has one.
    #[tracing::instrument(skip(self, connection), fields(org = %org))]
    pub async fn create_crm_connection(
        &self,
        org: &OrgId,
        connection: &CrmConnection,
    ) -> Result<bool, DomainError> {
        let item = serde_dynamo::to_item(ConnectionItem {
            head: Head::new(keys::org_pk(org), keys::CRM_SK, ENTITY),
            connection: connection.clone(),
        })
        .map_err(failed)?;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)");
        Ok(conditional(request.send().await)?.is_some())
    }

    /// Points the connection `connection_id` at new endpoints, leaving its secrets and its
    /// breaker as they are, whoever changed them meanwhile. `None` when that connection is gone.
    #[tracing::instrument(skip(self, endpoints), fields(org = %org))]
    pub async fn set_crm_endpoints(
        &self,
        org: &OrgId,
        connection_id: &str,
        endpoints: CrmEndpoints<'_>,
        updated_at: &str,
    ) -> Result<Option<CrmConnection>, DomainError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(org, keys::CRM_SK)))
            .condition_expression("connection_id = :cid")
            .update_expression(
                "SET lookup_url = :lookup, writeback_url = :writeback, \
                 lookup_ttl_minutes = :ttl, updated_at = :at ADD version :one",
            )
            .expression_attribute_values(":cid", AttributeValue::S(connection_id.into()))
            .expression_attribute_values(":lookup", value(endpoints.lookup_url)?)
            .expression_attribute_values(":writeback", value(&endpoints.writeback_url)?)
            .expression_attribute_values(":ttl", value(&endpoints.lookup_ttl_minutes)?)
            .expression_attribute_values(":at", AttributeValue::S(updated_at.into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        conditional(result)?
            .and_then(|out| out.attributes)
            .map(|item| serde_dynamo::from_item::<_, ConnectionItem>(item).map_err(failed))
            .transpose()
            .map(|item| item.map(|i| i.connection))
    }

    /// Replaces the signing secret of the connection as `read` saw it: the secret it held
    /// signs beside the new one until `retiring.until`. `false` when the connection changed
    /// since (another rotation, a new endpoint, a reconnect): the caller reads it again.
    #[tracing::instrument(skip_all, fields(org = %org))]
    pub async fn rotate_crm_secret(
        &self,
        org: &OrgId,
        read: &CrmConnection,
        secret: &crate::crm::SealedSecret,
        retiring: &crate::crm::RetiringSecret,
        updated_at: &str,
    ) -> Result<bool, DomainError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(org, keys::CRM_SK)))
            .condition_expression("connection_id = :cid AND version = :version")
            .update_expression(
                "SET secret = :secret, retiring = :retiring, updated_at = :at ADD version :one",
            )
            .expression_attribute_values(":cid", AttributeValue::S(read.connection_id.clone()))
            .expression_attribute_values(":version", value(&read.version)?)
            .expression_attribute_values(":secret", value(secret)?)
            .expression_attribute_values(":retiring", value(retiring)?)
            .expression_attribute_values(":at", AttributeValue::S(updated_at.into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    /// `false` when there was none.
    #[tracing::instrument(skip(self), fields(org = %org))]
    pub async fn delete_crm_connection(&self, org: &OrgId) -> Result<bool, DomainError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(org, keys::CRM_SK)))
            .condition_expression("attribute_exists(PK)")
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    /// Counts a call against the connection it was made under, `made_under` as the caller read
    /// it (a call under a connection that was replaced meanwhile counts for nothing). A success
    /// clears the failures and the pause. A failure adds one, and pauses calls at every
    /// [`BREAKER_FAILURES`]th in a row and at the first after a pause; the count, the error and
    /// the pause are one write, conditioned on the count it started from, so failures recorded
    /// side by side all count.
    #[tracing::instrument(skip_all, fields(org = %org))]
    pub async fn record_crm_call(
        &self,
        org: &OrgId,
        made_under: &CrmConnection,
        outcome: CallOutcome,
    ) -> Result<(), DomainError> {
        let connection_id = made_under.connection_id.as_str();
        let mut seen = Some(made_under.clone());
        let mut backoff = crate::retry::Backoff::new();
        while backoff.next_try().await {
            let breaker = match seen.take() {
                Some(seen) => seen,
                None => match self.crm_connection(org).await? {
                    Some(now) if now.connection_id == connection_id => now,
                    _ => return Ok(()),
                },
            };
            let request = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(org, keys::CRM_SK)))
                .expression_attribute_values(":cid", AttributeValue::S(connection_id.into()));
            let request = match &outcome {
                // Whatever was read: a failure recorded since the read is cleared too.
                CallOutcome::Succeeded => request
                    .condition_expression("connection_id = :cid")
                    .update_expression("SET consecutive_failures = :zero REMOVE paused_until")
                    .expression_attribute_values(":zero", AttributeValue::N("0".into())),
                CallOutcome::Failed { error, pause_until } => {
                    let failures = breaker.consecutive_failures + 1;
                    let pauses =
                        failures.is_multiple_of(BREAKER_FAILURES) || breaker.paused_until.is_some();
                    let request = request
                        .condition_expression(
                            "connection_id = :cid AND consecutive_failures = :seen",
                        )
                        .expression_attribute_values(":seen", value(&breaker.consecutive_failures)?)
                        .expression_attribute_values(":failures", value(&failures)?)
                        .expression_attribute_values(":error", value(error)?);
                    if pauses {
                        request
                            .update_expression(
                                "SET consecutive_failures = :failures, last_error = :error, \
                                 paused_until = :until",
                            )
                            .expression_attribute_values(":until", value(pause_until)?)
                    } else {
                        request.update_expression(
                            "SET consecutive_failures = :failures, last_error = :error",
                        )
                    }
                }
            };
            if conditional(request.send().await)?.is_some() {
                return Ok(());
            }
        }
        Err(DomainError::Contended(
            "the CRM connection's breaker is being changed by someone else",
        ))
    }
}
