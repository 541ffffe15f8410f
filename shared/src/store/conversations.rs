//! Conversations: in the contact's partition, with an `OWNER` head in their own.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::Head;
use super::*;
use super::{Store, failed};
use crate::clock::Timestamp;
use crate::contacts::Contact;
use crate::cursor::{KeyPart, LastEvaluatedKey, PageRequest, check_start};
use crate::error::DomainError;
use crate::events::Event;
use crate::ids::OrgId;
use crate::keys;
pub use crate::matching::MatchMove;

/// What a status change is decided on.
pub struct StatusContext {
    pub conversation: Conversation,
    pub contact: Contact,
    pub crm: Option<crate::crm::CrmConnection>,
}

/// A conversation as listed in its contact's partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    pub channel: crate::channel::Channel,
    pub status: String,
    pub contact_id: String,
    /// Compared as text by the write that moves it forward, and sorted on when conversations
    /// are listed: one form per instant keeps both true.
    pub last_message_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct ConversationItem {
    #[serde(flatten)]
    head: Head,
    #[serde(flatten)]
    conversation: Conversation,
    created_at: String,
    updated_at: String,
}

impl Store {
    /// The contact a conversation belongs to, while the conversation and that contact exist.
    #[tracing::instrument(skip(self, conversation_id), fields(org = %org))]
    pub async fn conversation_contact(
        &self,
        org: &OrgId,
        conversation_id: &str,
    ) -> Result<Option<String>, DomainError> {
        let Some(owner) = self.owner_of_conversation(org, conversation_id).await? else {
            return Ok(None);
        };
        let alive = self
            .live_contacts(org, BTreeSet::from([owner.clone()]))
            .await?;
        Ok(alive.contains(&owner).then_some(owner))
    }

    /// Who a conversation id belongs to now, by its `OWNER` item (the contact may be gone).
    pub(super) async fn owner_of_conversation(
        &self,
        org: &OrgId,
        conversation_id: &str,
    ) -> Result<Option<String>, DomainError> {
        Ok(self
            .get_consistent(raw_key(
                &keys::conversation_pk(org, conversation_id),
                keys::CONVERSATION_OWNER_SK,
            ))
            .await?
            .and_then(|mut item| item.remove("contact_id"))
            .and_then(|v| v.as_s().ok().cloned()))
    }

    /// Which of these contacts still have a profile, read strongly consistent.
    pub(super) async fn live_contacts(
        &self,
        org: &OrgId,
        ids: BTreeSet<String>,
    ) -> Result<BTreeSet<String>, DomainError> {
        let keys: Vec<_> = ids.iter().map(|id| profile_key(org, id)).collect();
        let mut alive = BTreeSet::new();
        // BatchGetItem takes at most 100 keys.
        for chunk in keys.chunks(100) {
            for item in self.batch_get(chunk.to_vec()).await? {
                if let Some(id) = item.get("id").and_then(|v| v.as_s().ok()) {
                    alive.insert(id.clone());
                }
            }
        }
        Ok(alive)
    }

    /// Creates the conversation entry or moves its `last_message_at` forward, never back.
    pub(super) fn conversation_upsert(
        &self,
        org: &OrgId,
        conversation: &Conversation,
        now: &str,
    ) -> Result<TransactWriteItem, DomainError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(raw_key(
                &keys::contact_pk(org, &conversation.contact_id),
                &keys::conversation_sk(&conversation.id),
            )))
            .update_expression(
                "SET #entity = :entity, #id = :id, #channel = :channel, #status = :status, \
                 #contact = :contact, #created = if_not_exists(#created, :now), #updated = :now, \
                 #last = if_not_exists(#last, :at)",
            )
            .expression_attribute_names("#entity", "entity")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#channel", "channel")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#contact", "contact_id")
            .expression_attribute_names("#created", "created_at")
            .expression_attribute_names("#updated", "updated_at")
            .expression_attribute_names("#last", "last_message_at")
            .expression_attribute_values(":entity", AttributeValue::S("conversation".into()))
            .expression_attribute_values(":id", AttributeValue::S(conversation.id.clone()))
            .expression_attribute_values(
                ":channel",
                AttributeValue::S(conversation.channel.as_str().into()),
            )
            .expression_attribute_values(":status", AttributeValue::S(conversation.status.clone()))
            .expression_attribute_values(
                ":contact",
                AttributeValue::S(conversation.contact_id.clone()),
            )
            .expression_attribute_values(":now", AttributeValue::S(now.to_owned()))
            .expression_attribute_values(
                ":at",
                AttributeValue::S(conversation.last_message_at.as_str().to_owned()),
            )
            .build()
            .map_err(failed)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The conversation's head item in its own partition: notes on it check it exists.
    pub(super) fn conversation_owner(
        &self,
        org: &OrgId,
        conversation: &Conversation,
        now: &str,
    ) -> Result<TransactWriteItem, DomainError> {
        let mut item = raw_key(
            &keys::conversation_pk(org, &conversation.id),
            keys::CONVERSATION_OWNER_SK,
        );
        item.insert(
            "entity".into(),
            AttributeValue::S("conversation_owner".into()),
        );
        item.insert(
            "contact_id".into(),
            AttributeValue::S(conversation.contact_id.clone()),
        );
        item.insert(
            "status".into(),
            AttributeValue::S(conversation.status.clone()),
        );
        item.insert("updated_at".into(), AttributeValue::S(now.to_owned()));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(failed)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A conversation with its contact and the org's CRM connection, as a status change needs
    /// them: `None` when the conversation or its contact is gone. Two round trips.
    #[tracing::instrument(skip(self, conversation_id), fields(org = %org))]
    pub async fn status_context(
        &self,
        org: &OrgId,
        conversation_id: &str,
    ) -> Result<Option<StatusContext>, DomainError> {
        let Some(owner) = self.owner_of_conversation(org, conversation_id).await? else {
            return Ok(None);
        };
        let contact_pk = keys::contact_pk(org, &owner);
        let mut items = self
            .batch_get(vec![
                super::key(org, keys::CRM_SK),
                raw_key(&contact_pk, keys::PROFILE_SK),
                raw_key(&contact_pk, &keys::conversation_sk(conversation_id)),
            ])
            .await?;
        let crm = super::crm::take_connection(&mut items)?;
        let (mut contact, mut conversation) = (None, None);
        for item in items {
            let sk = item.get(keys::SK).and_then(|v| v.as_s().ok()).cloned();
            match sk.as_deref() {
                Some(keys::PROFILE_SK) => contact = Some(super::profile::contact_from_item(item)?),
                _ => {
                    let item: ConversationItem = serde_dynamo::from_item(item).map_err(failed)?;
                    conversation = Some(item.conversation);
                }
            }
        }
        Ok(contact
            .zip(conversation)
            .map(|(contact, conversation)| StatusContext {
                conversation,
                contact,
                crm,
            }))
    }

    /// Moves a conversation from the status it was read with to `to`, and puts the change's
    /// events in its contact's outbox, in one transaction: a conflict when the status moved
    /// meanwhile or the contact is gone.
    #[tracing::instrument(skip_all, fields(org = %org))]
    pub async fn set_conversation_status(
        &self,
        org: &OrgId,
        conversation: &Conversation,
        to: &str,
        now: &str,
        outbox: &[Event],
    ) -> Result<(), SaveError> {
        let update = |key: super::Item, condition: &str| {
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key))
                .update_expression("SET #status = :to, #updated = :now")
                .condition_expression(condition)
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#updated", "updated_at")
                .expression_attribute_values(":to", AttributeValue::S(to.to_owned()))
                .expression_attribute_values(":now", AttributeValue::S(now.to_owned()))
        };
        let contact_pk = keys::contact_pk(org, &conversation.contact_id);
        let entry = update(
            raw_key(&contact_pk, &keys::conversation_sk(&conversation.id)),
            "attribute_exists(PK) AND #status = :from",
        )
        .expression_attribute_values(":from", AttributeValue::S(conversation.status.clone()));
        // The owner item keeps the status too, so ingest sees a change from its one read.
        let owner = update(
            raw_key(
                &keys::conversation_pk(org, &conversation.id),
                keys::CONVERSATION_OWNER_SK,
            ),
            "attribute_exists(PK)",
        );
        let events = Update::builder()
            .table_name(&self.table)
            .set_key(Some(raw_key(&contact_pk, keys::PROFILE_SK)))
            .update_expression("SET #outbox = :outbox")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#outbox", super::profile::OUTBOX)
            .expression_attribute_values(":outbox", super::profile::outbox_value(outbox)?);
        let items = [entry, owner, events]
            .into_iter()
            .map(|u| {
                u.build()
                    .map(|u| TransactWriteItem::builder().update(u).build())
                    .map_err(failed)
            })
            .collect::<Result<Vec<_>, DomainError>>()?;
        self.transact(items).await
    }

    /// Moves a conversation's `last_message_at` forward after a message older ones did not set.
    pub async fn advance_conversation(
        &self,
        org: &OrgId,
        conversation: &Conversation,
    ) -> Result<(), DomainError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(raw_key(
                &keys::contact_pk(org, &conversation.contact_id),
                &keys::conversation_sk(&conversation.id),
            )))
            .update_expression("SET #last = :at")
            .condition_expression("attribute_exists(PK) AND #last < :at")
            .expression_attribute_names("#last", "last_message_at")
            .expression_attribute_values(
                ":at",
                AttributeValue::S(conversation.last_message_at.as_str().to_owned()),
            )
            .return_values(ReturnValue::None)
            .send()
            .await;
        unless_gone(result)
    }

    /// A page of a partition's items under `prefix`, newest (highest sort key) first.
    pub(super) async fn page_newest_first<I: serde::de::DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        page: PageRequest,
    ) -> Result<(Vec<I>, Option<LastEvaluatedKey>), DomainError> {
        self.page_under(pk, prefix, page, false).await
    }

    /// A page of a partition's items under `prefix`, in sort key order (`forward`) or newest
    /// first; a start key from anywhere else is refused.
    pub(super) async fn page_under<I: serde::de::DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        page: PageRequest,
        forward: bool,
    ) -> Result<(Vec<I>, Option<LastEvaluatedKey>), DomainError> {
        check_start(
            page.start.as_ref(),
            &[
                KeyPart::Exactly(keys::PK, pk.clone()),
                KeyPart::Prefix(keys::SK, prefix),
            ],
        )?;
        let out = self
            .query_prefix(pk, prefix)
            .scan_index_forward(forward)
            .limit(page.limit)
            .set_exclusive_start_key(page.start)
            .send()
            .await
            .map_err(failed)?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| serde_dynamo::from_item(item).map_err(failed))
            .collect::<Result<_, _>>()?;
        Ok((items, out.last_evaluated_key.filter(|k| !k.is_empty())))
    }

    /// A query for every item of one partition.
    pub(super) fn query_partition(
        &self,
        pk: String,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
    }

    /// A query for the items of one partition whose sort key starts with `prefix`.
    pub(super) fn query_prefix(
        &self,
        pk: String,
        prefix: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
    }

    /// How many members' conversations a listing reads at once.
    const MEMBERS_AT_ONCE: usize = 16;

    /// A page of the conversations of a contact and the contacts linked to it, newest first
    /// (by last message, then id). The contacts' partitions are merged here, so the page's key
    /// is the contact's partition with the last conversation's sort key and time.
    #[tracing::instrument(skip(self, contact, page), fields(org = %org))]
    pub async fn linked_conversations(
        &self,
        org: &OrgId,
        contact: &Contact,
        page: PageRequest,
    ) -> Result<(Vec<Conversation>, Option<LastEvaluatedKey>), DomainError> {
        const AT: &str = "AT";
        check_start(
            page.start.as_ref(),
            &[
                KeyPart::Exactly(keys::PK, keys::contact_pk(org, &contact.id)),
                KeyPart::Prefix(keys::SK, keys::CONVERSATION_SK_PREFIX),
                KeyPart::Prefix(AT, ""),
            ],
        )?;
        let mut members = match &contact.match_hash {
            Some(hash) => {
                self.match_group(org, contact.match_generation, hash)
                    .await?
            }
            None => Vec::new(),
        };
        members.retain(|id| *id != contact.id);
        members.insert(0, contact.id.clone());
        let mut all = Vec::new();
        // Each member's conversations are one query; a large group's go a few at a time.
        for chunk in members.chunks(Self::MEMBERS_AT_ONCE) {
            let pages = chunk.iter().map(|contact_id| {
                self.query_all(self.query_prefix(
                    keys::contact_pk(org, contact_id),
                    keys::CONVERSATION_SK_PREFIX,
                ))
            });
            for item in futures::future::try_join_all(pages)
                .await?
                .into_iter()
                .flatten()
            {
                let item: ConversationItem = serde_dynamo::from_item(item).map_err(failed)?;
                all.push(item.conversation);
            }
        }
        all.sort_by(|a, b| (&b.last_message_at, &b.id).cmp(&(&a.last_message_at, &a.id)));
        let after = page.start.as_ref().map(|k| {
            let text = |name: &str| {
                k.get(name)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            (text(AT), text(keys::SK))
        });
        let mut remaining = all.into_iter().filter(|c| match &after {
            None => true,
            Some((at, sk)) => {
                (c.last_message_at.as_str(), keys::conversation_sk(&c.id))
                    < (at.as_str(), sk.clone())
            }
        });
        let limit = usize::try_from(page.limit).unwrap_or(0);
        let items: Vec<Conversation> = remaining.by_ref().take(limit).collect();
        let next = items
            .last()
            .filter(|_| remaining.next().is_some())
            .map(|last| {
                HashMap::from([
                    (
                        keys::PK.to_owned(),
                        AttributeValue::S(keys::contact_pk(org, &contact.id)),
                    ),
                    (
                        keys::SK.to_owned(),
                        AttributeValue::S(keys::conversation_sk(&last.id)),
                    ),
                    (
                        AT.to_owned(),
                        AttributeValue::S(last.last_message_at.as_str().to_owned()),
                    ),
                ])
            });
        Ok((items, next))
    }
}
