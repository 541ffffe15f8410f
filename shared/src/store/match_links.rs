//! Match links: `ORG#o#MATCH#<generation>#<hash>` / `C#c`, the contacts sharing a matching value.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::*;
use super::{BatchOp, Store, failed};
use crate::error::DomainError;
use crate::ids::OrgId;
use crate::keys;
pub use crate::matching::MatchMove;

fn match_link_item(
    org: &OrgId,
    generation: u64,
    hash: &str,
    contact_id: &str,
    now: &str,
) -> super::Item {
    HashMap::from([
        (
            keys::PK.to_owned(),
            AttributeValue::S(keys::match_pk(org, generation, hash)),
        ),
        (
            keys::SK.to_owned(),
            AttributeValue::S(keys::match_sk(contact_id)),
        ),
        ("entity".to_owned(), AttributeValue::S("match_link".into())),
        (
            "contact_id".to_owned(),
            AttributeValue::S(contact_id.to_owned()),
        ),
        ("created_at".to_owned(), AttributeValue::S(now.to_owned())),
    ])
}

impl Store {
    pub(super) fn match_link_writes(
        &self,
        org: &OrgId,
        contact_id: &str,
        moved: &MatchMove,
        now: &str,
    ) -> Result<Vec<TransactWriteItem>, DomainError> {
        let mut writes = Vec::new();
        if let Some(from) = &moved.from {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(raw_key(
                    &keys::match_pk(org, moved.generation, from),
                    &keys::match_sk(contact_id),
                )))
                .build()
                .map_err(failed)?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        if let Some(to) = &moved.to {
            let item = match_link_item(org, moved.generation, to, contact_id, now);
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(failed)?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }
        Ok(writes)
    }

    /// The contacts filed under one match group.
    pub async fn match_group(
        &self,
        org: &OrgId,
        generation: u64,
        hash: &str,
    ) -> Result<Vec<String>, DomainError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(keys::match_pk(org, generation, hash)),
            )
            .consistent_read(true);
        Ok(self
            .query_all(query)
            .await?
            .into_iter()
            .filter_map(|item| item.get("contact_id")?.as_s().ok().cloned())
            .collect())
    }

    /// Files a contact under a match group (the org-wide re-match writes these in bulk).
    pub async fn put_match_links(
        &self,
        org: &OrgId,
        generation: u64,
        links: &[(String, String)],
        now: &str,
    ) -> Result<(), DomainError> {
        let writes = links
            .iter()
            .map(|(hash, contact_id)| {
                BatchOp::Put(match_link_item(org, generation, hash, contact_id, now))
            })
            .collect();
        self.batch_write(writes).await
    }

    /// Removes match links of earlier generations: `(generation, hash, contact id)`.
    pub async fn delete_match_links(
        &self,
        org: &OrgId,
        links: &[(u64, String, String)],
    ) -> Result<(), DomainError> {
        let writes = links
            .iter()
            .map(|(generation, hash, contact_id)| {
                BatchOp::Delete(raw_key(
                    &keys::match_pk(org, *generation, hash),
                    &keys::match_sk(contact_id),
                ))
            })
            .collect();
        self.batch_write(writes).await
    }
}
