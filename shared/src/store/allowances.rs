//! Allowances: how often an org may do something that costs someone else (a test call to its
//! CRM) in a window of time. One counter item per org, purpose and window, `PK = ORG#<org>`,
//! `SK = ALLOWANCE#<purpose>#<window start>`; DynamoDB's TTL removes it after its window.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Store, conditional, key};
use crate::error::DomainError;
use crate::ids::OrgId;
use crate::keys;

const ENTITY: &str = "allowance";

/// A window of `seconds`, and how many times an org may act in it.
#[derive(Debug, Clone, Copy)]
pub struct Allowance {
    pub purpose: &'static str,
    pub per_window: u32,
    pub seconds: i64,
}

impl Store {
    /// Counts one use of `allowance` at `now_unix`: `false`, and nothing counted, when the org
    /// has used the whole window's allowance. Callers side by side each count once.
    #[tracing::instrument(skip(self), fields(org = %org))]
    pub async fn take_allowance(
        &self,
        org: &OrgId,
        allowance: Allowance,
        now_unix: i64,
    ) -> Result<bool, DomainError> {
        let window = now_unix - now_unix.rem_euclid(allowance.seconds);
        let sk = keys::allowance_sk(allowance.purpose, window);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(org, &sk)))
            .condition_expression("attribute_not_exists(PK) OR taken < :limit")
            .update_expression("SET entity = :entity, #ttl = :ttl ADD taken :one")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":entity", AttributeValue::S(ENTITY.into()))
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N((window + 2 * allowance.seconds).to_string()),
            )
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(
                ":limit",
                AttributeValue::N(allowance.per_window.to_string()),
            )
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }
}
