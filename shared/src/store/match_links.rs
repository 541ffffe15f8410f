//! Match groups: `ORG#o#MATCH#<generation>#<hash>` holds a link `C#c` per contact sharing a
//! matching value, and a head `#GROUP` with how many there are. Membership lives only here, so
//! a new member writes its own link (and the head is recounted), never the other members.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, Select, TransactWriteItem};

use super::*;
use super::{BatchOp, Store, failed};
use crate::contacts::{Contact, Linked};
use crate::cursor::{LastEvaluatedKey, PageRequest, check_start};
use crate::error::DomainError;
use crate::ids::OrgId;
use crate::keys;
pub use crate::matching::MatchMove;

/// A match link as read: the member it files.
#[derive(serde::Deserialize)]
struct MatchLinkItem {
    contact_id: String,
}

/// A match group's head: its members counted, and when that count began.
#[derive(serde::Deserialize)]
struct GroupHead {
    count: usize,
    counted_at: String,
}

fn member_of(item: super::Item) -> Result<String, DomainError> {
    let link: MatchLinkItem = serde_dynamo::from_item(item).map_err(failed)?;
    Ok(link.contact_id)
}

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

    /// Links `contact` to the group `hash` of `generation` ahead of its filing, and records
    /// that on its profile in the same transaction, so a change or a delete that comes before
    /// the filing finds the link and takes it away. Only over the version read:
    /// `Err(SaveError::Conflict)` when the contact changed (or went) since.
    pub async fn link_ahead(
        &self,
        org: &OrgId,
        contact: &Contact,
        generation: u64,
        hash: &str,
        now: &str,
    ) -> Result<(), SaveError> {
        let link = Put::builder()
            .table_name(&self.table)
            .set_item(Some(match_link_item(
                org,
                generation,
                hash,
                &contact.id,
                now,
            )))
            .build()
            .map_err(failed)?;
        let pending = crate::contacts::PendingLink {
            generation,
            hash: hash.to_owned(),
        };
        let profile = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(super::profile_key(org, &contact.id)))
            .condition_expression("#version = :expected")
            .update_expression("SET match_pending = :pending ADD #version :one")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(
                ":expected",
                AttributeValue::N(contact.version.to_string()),
            )
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(
                ":pending",
                serde_dynamo::to_attribute_value(&pending).map_err(failed)?,
            )
            .build()
            .map_err(failed)?;
        let mut writes = vec![
            TransactWriteItem::builder().put(link).build(),
            TransactWriteItem::builder().update(profile).build(),
        ];
        // A link written ahead under a value the contact no longer has (a CRM record changed
        // it) goes with the one that replaces it.
        if let Some(old) = contact.linked_under(generation).filter(|old| *old != hash) {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(raw_key(
                    &keys::match_pk(org, generation, old),
                    &keys::match_sk(&contact.id),
                )))
                .build()
                .map_err(failed)?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        self.transact(writes).await
    }

    /// The contacts filed under one match group, every page of it.
    pub async fn match_group(
        &self,
        org: &OrgId,
        generation: u64,
        hash: &str,
    ) -> Result<Vec<String>, DomainError> {
        let query = self
            .query_prefix(
                keys::match_pk(org, generation, hash),
                keys::MATCH_MEMBER_PREFIX,
            )
            .consistent_read(true);
        self.query_all(query)
            .await?
            .into_iter()
            .map(member_of)
            .collect()
    }

    /// What a contact's view shows of its group: the group's head and first members in one
    /// query of at most [`Linked::PREVIEW`] + 2 items, whatever the group's size.
    pub async fn linked_preview(
        &self,
        org: &OrgId,
        contact: &Contact,
    ) -> Result<Linked, DomainError> {
        let Some(hash) = &contact.match_hash else {
            return Ok(Linked::default());
        };
        let out = self
            .query_partition(keys::match_pk(org, contact.match_generation, hash))
            .limit(i32::try_from(Linked::PREVIEW + 2).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(failed)?;
        let (mut counted, mut members) = (0, Vec::new());
        for item in out.items.unwrap_or_default() {
            match item
                .get(keys::SK)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
            {
                Some(keys::MATCH_GROUP_SK) => {
                    counted = serde_dynamo::from_item::<_, GroupHead>(item)
                        .map_err(failed)?
                        .count;
                }
                _ => members.push(member_of(item)?),
            }
        }
        let others = members.iter().filter(|id| **id != contact.id).count();
        // The contact is one of its group's members. The head is recounted after each move;
        // until then the members read are a floor.
        let count = counted.max(members.len()).saturating_sub(1).max(others);
        let ids = members
            .into_iter()
            .filter(|id| *id != contact.id)
            .take(Linked::PREVIEW)
            .collect();
        Ok(Linked { ids, count })
    }

    /// When a match group was last counted, if ever.
    pub async fn match_group_counted_at(
        &self,
        org: &OrgId,
        generation: u64,
        hash: &str,
    ) -> Result<Option<String>, DomainError> {
        let head: Option<GroupHead> = self
            .get_as(raw_key(
                &keys::match_pk(org, generation, hash),
                keys::MATCH_GROUP_SK,
            ))
            .await?;
        Ok(head.map(|h| h.counted_at))
    }

    /// A page of the contacts linked to `contact` (its group but itself), in id order, with
    /// their profiles read in one batch. A contact in no group has none.
    pub async fn linked_contacts(
        &self,
        org: &OrgId,
        contact: &Contact,
        page: PageRequest,
    ) -> Result<(Vec<Contact>, Option<LastEvaluatedKey>), DomainError> {
        let Some(hash) = &contact.match_hash else {
            check_start(page.start.as_ref(), &[])?;
            return Ok((Vec::new(), None));
        };
        // One more than the page, since the contact itself is among its group's members.
        let limit = page.limit;
        let wider = PageRequest {
            limit: limit.saturating_add(1),
            start: page.start,
        };
        let (links, mut next) = self
            .page_under::<MatchLinkItem>(
                keys::match_pk(org, contact.match_generation, hash),
                keys::MATCH_MEMBER_PREFIX,
                wider,
                true,
            )
            .await?;
        let mut ids: Vec<String> = links.into_iter().map(|l| l.contact_id).collect();
        ids.retain(|id| *id != contact.id);
        if ids.len() > usize::try_from(limit).unwrap_or(0) {
            ids.truncate(usize::try_from(limit).unwrap_or(0));
            next = ids.last().map(|last| {
                raw_key(
                    &keys::match_pk(org, contact.match_generation, hash),
                    &keys::match_sk(last),
                )
            });
        }
        if ids.is_empty() {
            return Ok((Vec::new(), next));
        }
        let keys = ids.iter().map(|id| profile_key(org, id)).collect();
        let mut found: HashMap<String, Contact> = self
            .batch_get(keys)
            .await?
            .into_iter()
            .map(|item| super::profile::contact_from_item(item).map(|c| (c.id.clone(), c)))
            .collect::<Result<_, _>>()?;
        // A member deleted since its link was read is left out.
        let contacts = ids.iter().filter_map(|id| found.remove(id)).collect();
        Ok((contacts, next))
    }

    /// Counts a match group's members and records the count on its head, unless a count that
    /// began later is already there: the count of whichever recount began last stands.
    pub async fn recount_match_group(
        &self,
        org: &OrgId,
        generation: u64,
        hash: &str,
        began: &str,
    ) -> Result<usize, DomainError> {
        let pk = keys::match_pk(org, generation, hash);
        let mut count = 0usize;
        let query = self
            .query_prefix(pk.clone(), keys::MATCH_MEMBER_PREFIX)
            .select(Select::Count)
            .consistent_read(true);
        self.for_each_query_page(query, |page| {
            count += usize::try_from(page.count).unwrap_or(0);
        })
        .await?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(raw_key(&pk, keys::MATCH_GROUP_SK)))
            .update_expression(
                "SET #count = :count, counted_at = :began, entity = :entity, \
                 created_at = if_not_exists(created_at, :began), updated_at = :began",
            )
            .condition_expression("attribute_not_exists(counted_at) OR counted_at <= :began")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":count", AttributeValue::N(count.to_string()))
            .expression_attribute_values(":began", AttributeValue::S(began.to_owned()))
            .expression_attribute_values(":entity", AttributeValue::S("match_group".into()))
            .send()
            .await;
        if conditional(result)?.is_none() {
            tracing::info!("a later recount of the match group stands");
        }
        Ok(count)
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

    /// Removes the heads of match groups `(generation, hash)` (of earlier generations).
    pub async fn delete_match_group_heads(
        &self,
        org: &OrgId,
        groups: &std::collections::BTreeSet<(u64, String)>,
    ) -> Result<(), DomainError> {
        let writes = groups
            .iter()
            .map(|(generation, hash)| {
                BatchOp::Delete(raw_key(
                    &keys::match_pk(org, *generation, hash),
                    keys::MATCH_GROUP_SK,
                ))
            })
            .collect();
        self.batch_write(writes).await
    }
}
