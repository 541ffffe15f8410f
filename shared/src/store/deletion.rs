//! Deleting a contact: one transaction for what readers see, then an idempotent purge.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::Head;
use super::{BatchOp, Item, SaveError, Store, conditional, failed};
use super::{profile_key, raw_key};
use crate::contacts::Contact;
use crate::cursor::{LastEvaluatedKey, PageRequest};
use crate::deletion::DeletionRecord;
use crate::error::DomainError;
use crate::ids::OrgId;
use crate::keys;

/// An item the purge may remove: its key, its sort key and the contact it belongs to, if any.
#[derive(Debug, Clone)]
pub struct PurgeEntry {
    pub key: Item,
    pub(crate) sk: String,
    pub contact_id: Option<String>,
}

impl PurgeEntry {
    /// The conversation a reference in a contact's partition names.
    pub fn conversation_id(&self) -> Option<&str> {
        self.sk.strip_prefix(keys::CONVERSATION_SK_PREFIX)
    }

    /// Whether this is a conversation's `OWNER` head, which says whose the conversation is.
    pub fn is_conversation_owner(&self) -> bool {
        self.sk == keys::CONVERSATION_OWNER_SK
    }
}

/// What the purge of a deleted contact reads, a page at a time.
#[derive(Debug, Clone, Copy)]
pub enum PurgeScope<'a> {
    /// The references to the conversations the contact had, in its partition.
    ConversationsOf(&'a str),
    /// Everything in the contact's partition.
    Contact(&'a str),
    /// A conversation's `OWNER` head alone.
    ConversationOwner(&'a str),
    /// Everything in a conversation's partition: its owner head, messages and notes.
    Conversation(&'a str),
}

impl PurgeScope<'_> {
    fn partition_and_prefix(self, org: &OrgId) -> (String, Option<&'static str>) {
        match self {
            Self::ConversationsOf(contact) => (
                keys::contact_pk(org, contact),
                Some(keys::CONVERSATION_SK_PREFIX),
            ),
            Self::Contact(contact) => (keys::contact_pk(org, contact), None),
            Self::ConversationOwner(conversation) => (
                keys::conversation_pk(org, conversation),
                Some(keys::CONVERSATION_OWNER_SK),
            ),
            Self::Conversation(conversation) => (keys::conversation_pk(org, conversation), None),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct DeletionItem {
    #[serde(flatten)]
    head: Head,
    #[serde(flatten)]
    record: DeletionRecord,
}

/// The identity claims a contact holds: per network for X and Instagram, else per channel.
fn claim_keys(org: &OrgId, contact: &Contact) -> BTreeSet<String> {
    contact
        .profile
        .identities
        .iter()
        .map(|identity| {
            keys::identity_pk(org, identity.channel.identity_scope(), &identity.user_id)
        })
        .collect()
}

impl Store {
    /// Removes the profile (if it still has the version read), releases its identity claims and
    /// match link, and writes the audit record and the purge marker, all in one transaction.
    #[tracing::instrument(skip(self, contact, record), fields(org = %org, contact = %contact.id))]
    pub async fn delete_contact(
        &self,
        org: &OrgId,
        contact: &Contact,
        record: &DeletionRecord,
    ) -> Result<(), SaveError> {
        let delete = |key: Item| Delete::builder().table_name(&self.table).set_key(Some(key));
        let mut deletes = vec![
            delete(profile_key(org, &contact.id))
                .condition_expression("#version = :version")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(
                    ":version",
                    AttributeValue::N(contact.version.to_string()),
                )
                .build()
                .map_err(failed)?,
        ];
        for claim in claim_keys(org, contact) {
            deletes.push(
                delete(raw_key(&claim, keys::IDENTITY_SK))
                    .condition_expression("attribute_not_exists(PK) OR contact_id = :contact")
                    .expression_attribute_values(":contact", AttributeValue::S(contact.id.clone()))
                    .build()
                    .map_err(failed)?,
            );
        }
        for (generation, hash) in contact.match_links() {
            deletes.push(
                delete(raw_key(
                    &keys::match_pk(org, generation, &hash),
                    &keys::match_sk(&contact.id),
                ))
                .build()
                .map_err(failed)?,
            );
        }
        let mut audit: Item = serde_dynamo::to_item(DeletionItem {
            head: Head::new(
                keys::audit_pk(org),
                keys::deletion_sk(&record.id),
                "contact_deletion",
            ),
            record: record.clone(),
        })
        .map_err(failed)?;
        audit.insert(
            "created_at".into(),
            AttributeValue::S(record.deleted_at.clone()),
        );
        let mut marker = raw_key(&keys::audit_pk(org), &keys::purge_sk(&contact.id));
        marker.insert("entity".into(), AttributeValue::S("purge_marker".into()));
        marker.insert("contact_id".into(), AttributeValue::S(contact.id.clone()));
        marker.insert(
            "created_at".into(),
            AttributeValue::S(record.deleted_at.clone()),
        );
        let mut items: Vec<TransactWriteItem> = deletes
            .into_iter()
            .map(|d| TransactWriteItem::builder().delete(d).build())
            .collect();
        for item in [audit, marker] {
            let put = self.put_new(item)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        self.transact(items).await
    }

    /// A page of the deleted-contacts log, newest first.
    #[tracing::instrument(skip(self, page), fields(org = %org))]
    pub async fn list_deletions(
        &self,
        org: &OrgId,
        page: PageRequest,
    ) -> Result<(Vec<DeletionRecord>, Option<LastEvaluatedKey>), DomainError> {
        let (items, next) = self
            .page_newest_first::<DeletionItem>(keys::audit_pk(org), keys::DELETION_SK_PREFIX, page)
            .await?;
        Ok((items.into_iter().map(|d| d.record).collect(), next))
    }

    /// Whether a deleted contact still has a purge to finish.
    pub async fn purge_pending(&self, org: &OrgId, contact_id: &str) -> Result<bool, DomainError> {
        let marker = raw_key(&keys::audit_pk(org), &keys::purge_sk(contact_id));
        Ok(self.get_consistent(marker).await?.is_some())
    }

    pub async fn finish_purge(&self, org: &OrgId, contact_id: &str) -> Result<(), DomainError> {
        let marker = raw_key(&keys::audit_pk(org), &keys::purge_sk(contact_id));
        self.batch_delete(vec![marker]).await
    }

    /// A page of what `scope` holds, from `start`: what the purge removes a page at a time.
    #[tracing::instrument(skip(self, start), fields(org = %org))]
    pub async fn purge_page(
        &self,
        org: &OrgId,
        scope: PurgeScope<'_>,
        start: Option<LastEvaluatedKey>,
        limit: i32,
    ) -> Result<(Vec<PurgeEntry>, Option<LastEvaluatedKey>), DomainError> {
        let (pk, sk_prefix) = scope.partition_and_prefix(org);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .projection_expression("PK, SK, contact_id")
            .set_exclusive_start_key(start)
            .limit(limit)
            .consistent_read(true);
        query = match sk_prefix {
            Some(prefix) => query
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned())),
            None => query.key_condition_expression("PK = :pk"),
        };
        let out = query.send().await.map_err(failed)?;
        let entries = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|mut key| {
                let contact_id = key
                    .remove("contact_id")
                    .and_then(|v| v.as_s().ok().cloned());
                let sk = key
                    .get(keys::SK)
                    .and_then(|v| v.as_s().ok().cloned())
                    .unwrap_or_default();
                PurgeEntry {
                    key,
                    sk,
                    contact_id,
                }
            })
            .collect();
        Ok((entries, out.last_evaluated_key))
    }

    /// Deletes a conversation's `OWNER` item while it still names `contact_id`: a returning
    /// sender's new contact, which may own the conversation id by now, keeps its own.
    pub async fn delete_conversation_owner(
        &self,
        org: &OrgId,
        conversation: &str,
        contact_id: &str,
    ) -> Result<bool, DomainError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(raw_key(
                &keys::conversation_pk(org, conversation),
                keys::CONVERSATION_OWNER_SK,
            )))
            .condition_expression("contact_id = :contact")
            .expression_attribute_values(":contact", AttributeValue::S(contact_id.to_owned()))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    /// Every item of a partition: its key and its `contact_id`, if it has one (tests check what
    /// a purge left).
    #[cfg(any(test, feature = "test-support"))]
    pub async fn partition(&self, pk: &str) -> Result<Vec<(Item, Option<String>)>, DomainError> {
        let query = self
            .query_partition(pk.to_owned())
            .projection_expression("PK, SK, contact_id")
            .consistent_read(true);
        Ok(self
            .query_all(query)
            .await?
            .into_iter()
            .map(|mut item| {
                let contact = item
                    .remove("contact_id")
                    .and_then(|v| v.as_s().ok().cloned());
                (item, contact)
            })
            .collect())
    }

    /// Deletes items by key, 25 at a time.
    pub async fn batch_delete(&self, keys: Vec<Item>) -> Result<(), DomainError> {
        let writes = keys.into_iter().map(BatchOp::Delete).collect();
        self.batch_write(writes).await
    }
}
