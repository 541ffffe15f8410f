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
    /// Failed at `at`; after enough failures in a row calls pause until `pause_until`.
    Failed {
        error: CallError,
        pause_until: crate::clock::Timestamp,
    },
}

impl Store {
    #[tracing::instrument(skip(self), fields(org = %org))]
    pub async fn crm_connection(&self, org: &OrgId) -> Result<Option<CrmConnection>, DomainError> {
        let item: Option<ConnectionItem> = self.get_as(key(org, keys::CRM_SK)).await?;
        Ok(item.map(|i| i.connection))
    }

    /// Writes the connection: `previous` is the `updated_at` of the one it replaces, or `None`
    /// to create it. `false` when someone else wrote first.
    #[tracing::instrument(skip(self, connection), fields(org = %org))]
    pub async fn put_crm_connection(
        &self,
        org: &OrgId,
        connection: &CrmConnection,
        previous: Option<&str>,
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
            .set_item(Some(item));
        let request = match previous {
            None => request.condition_expression("attribute_not_exists(PK)"),
            Some(updated_at) => request
                .condition_expression("updated_at = :previous")
                .expression_attribute_values(":previous", AttributeValue::S(updated_at.into())),
        };
        Ok(conditional(request.send().await)?.is_some())
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

    /// Counts a call against the connection it was made under (a call under a connection that
    /// was replaced meanwhile counts for nothing): a success clears the failures and the pause;
    /// a failure adds one, and every [`BREAKER_FAILURES`]th in a row pauses calls.
    #[tracing::instrument(skip(self, outcome), fields(org = %org))]
    pub async fn record_crm_call(
        &self,
        org: &OrgId,
        connection_id: &str,
        outcome: CallOutcome,
    ) -> Result<(), DomainError> {
        // Every write below is to the connection the call was made under, if it still stands.
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(org, keys::CRM_SK)))
            .condition_expression("connection_id = :cid")
            .expression_attribute_values(":cid", AttributeValue::S(connection_id.into()));
        match outcome {
            CallOutcome::Succeeded => {
                let result = request
                    .update_expression("SET consecutive_failures = :zero REMOVE paused_until")
                    .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                    .send()
                    .await;
                conditional(result)?;
            }
            CallOutcome::Failed { error, pause_until } => {
                let last_error = serde_dynamo::to_attribute_value(&error).map_err(failed)?;
                let result = request
                    .clone()
                    .update_expression("SET last_error = :error ADD consecutive_failures :one")
                    .expression_attribute_values(":error", last_error)
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .return_values(ReturnValue::UpdatedNew)
                    .send()
                    .await;
                let failures = conditional(result)?
                    .and_then(|out| out.attributes)
                    .and_then(|a| {
                        a.get("consecutive_failures")?
                            .as_n()
                            .ok()?
                            .parse::<u32>()
                            .ok()
                    })
                    .unwrap_or(0);
                if failures > 0 && failures.is_multiple_of(BREAKER_FAILURES) {
                    let result = request
                        .update_expression("SET paused_until = :until")
                        .expression_attribute_values(
                            ":until",
                            AttributeValue::S(pause_until.into()),
                        )
                        .send()
                        .await;
                    conditional(result)?;
                }
            }
        }
        Ok(())
    }
}
