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
    /// The history it is listed in: its contact's match group's, else its contact's own.
    #[serde(rename = "GSI2PK", default, skip_serializing_if = "Option::is_none")]
    history_pk: Option<String>,
    #[serde(rename = "GSI2SK", default, skip_serializing_if = "Option::is_none")]
    history_sk: Option<String>,
    #[serde(flatten)]
    conversation: Conversation,
    created_at: String,
    updated_at: String,
}

/// The history a contact's conversations are listed in, as its profile is filed: its match
/// group's (every member's conversations) or, filed under none, its own.
pub(super) fn history_pk(org: &OrgId, contact: &Contact) -> String {
    match &contact.match_hash {
        Some(hash) => keys::group_history_pk(org, contact.match_generation, hash),
        None => keys::contact_history_pk(org, &contact.id),
    }
}

const HISTORY_PK: &str = "GSI2PK";
const HISTORY_SK: &str = "GSI2SK";

/// A history's sort key of a conversation whose last message is at `at`.
fn history_sk_value(conversation: &str, at: &Timestamp) -> AttributeValue {
    AttributeValue::S(keys::history_sk(at.as_str(), conversation))
}

/// A conversation's entry in its contact's partition, and what an update of its time or
/// history names: `#last`, `#hsk`, `:at` (its last message's time) and `:hsk` (its history
/// sort key at that time).
fn entry_time(
    org: &OrgId,
    conversation: &Conversation,
) -> (
    super::Item,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
) {
    let key = raw_key(
        &keys::contact_pk(org, &conversation.contact_id),
        &keys::conversation_sk(&conversation.id),
    );
    let names = HashMap::from([
        ("#last".to_owned(), "last_message_at".to_owned()),
        ("#hsk".to_owned(), HISTORY_SK.to_owned()),
    ]);
    let at = &conversation.last_message_at;
    let values = HashMap::from([
        (":at".to_owned(), AttributeValue::S(at.as_str().to_owned())),
        (":hsk".to_owned(), history_sk_value(&conversation.id, at)),
    ]);
    (key, names, values)
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
        for item in self.batch_get(keys).await? {
            if let Some(id) = item.get("id").and_then(|v| v.as_s().ok()) {
                alive.insert(id.clone());
            }
        }
        Ok(alive)
    }

    /// Creates the conversation entry (its time is moved forward after, never back), listed
    /// in `history_pk`.
    pub(super) fn conversation_upsert(
        &self,
        org: &OrgId,
        conversation: &Conversation,
        history_pk: String,
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
                 #last = if_not_exists(#last, :at), #hpk = :hpk, #hsk = if_not_exists(#hsk, :hsk)",
            )
            .expression_attribute_names("#hpk", HISTORY_PK)
            .expression_attribute_names("#hsk", HISTORY_SK)
            .expression_attribute_values(":hpk", AttributeValue::S(history_pk))
            .expression_attribute_values(
                ":hsk",
                history_sk_value(&conversation.id, &conversation.last_message_at),
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

    /// The conversation's head item in its own partition: notes on it check it exists. It holds
    /// the status and the time of the last message applied. Written only if nothing changed it
    /// since ingest read it (`read`), or, for a conversation that was not there, if it is still
    /// not there or its sender's own with no later message: a message never rolls back a
    /// status or a time, and a change that lands meanwhile makes ingest read again.
    pub(super) fn conversation_owner(
        &self,
        org: &OrgId,
        conversation: &Conversation,
        read: Option<&super::ConversationHead>,
        status_changed_by: Option<&str>,
        now: &str,
    ) -> Result<TransactWriteItem, DomainError> {
        let mut item = raw_key(
            &keys::conversation_pk(org, &conversation.id),
            keys::CONVERSATION_OWNER_SK,
        );
        let text = |v: &str| AttributeValue::S(v.to_owned());
        item.insert("entity".into(), text("conversation_owner"));
        item.insert("contact_id".into(), text(&conversation.contact_id));
        item.insert("status".into(), text(&conversation.status));
        item.insert(
            "last_message_at".into(),
            text(conversation.last_message_at.as_str()),
        );
        item.insert("updated_at".into(), text(now));
        if let Some(message) = status_changed_by {
            item.insert("status_changed_by".into(), text(message));
        }
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .expression_attribute_names("#last", "last_message_at")
            .expression_attribute_values(":owner", text(&conversation.contact_id));
        let put = match read {
            None => put
                .condition_expression(
                    "attribute_not_exists(PK) OR (contact_id = :owner AND #last <= :at)",
                )
                .expression_attribute_values(":at", text(conversation.last_message_at.as_str())),
            Some(head) => put
                .expression_attribute_names("#status", "status")
                .condition_expression(
                    "contact_id = :owner AND #status = :read_status \
                     AND (attribute_not_exists(#last) OR #last = :read_last)",
                )
                .expression_attribute_values(
                    ":read_status",
                    text(head.status.as_deref().unwrap_or_default()),
                )
                .expression_attribute_values(
                    ":read_last",
                    text(head.last_message_at.as_deref().unwrap_or_default()),
                ),
        };
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(failed)?)
            .build())
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
        (outbox, jobs): (&[Event], &[crate::contacts::PendingJob]),
    ) -> Result<(), SaveError> {
        let update = |key: super::Item, condition: &str| {
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key))
                // A status set here is no message's to follow up on redelivery.
                .update_expression("SET #status = :to, #updated = :now REMOVE status_changed_by")
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
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#outbox", super::profile::OUTBOX)
            .expression_attribute_values(":outbox", super::profile::outbox_value(outbox)?);
        // The jobs the change asks of workers ride with it until they are queued.
        let events = if jobs.is_empty() {
            events.update_expression("SET #outbox = :outbox")
        } else {
            events
                .update_expression(format!(
                    "SET #outbox = :outbox, {}",
                    super::profile::PENDING_JOBS_APPENDED
                ))
                .expression_attribute_names("#jobs", super::profile::PENDING_JOBS)
                .expression_attribute_values(":jobs", super::profile::pending_jobs_value(jobs)?)
                .expression_attribute_values(":no_jobs", AttributeValue::L(Vec::new()))
        };
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
        let (key, names, values) = entry_time(org, conversation);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("SET #last = :at, #hsk = :hsk")
            .condition_expression("attribute_exists(PK) AND #last < :at")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
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

    /// A page of the conversations of a contact and the contacts linked to it, newest first
    /// (by last message, then id): one query of the history its filing names, whatever the
    /// group's size. A member deleted since is left out at once, before its purge ends.
    #[tracing::instrument(skip(self, contact, page), fields(org = %org))]
    pub async fn linked_conversations(
        &self,
        org: &OrgId,
        contact: &Contact,
        page: PageRequest,
    ) -> Result<(Vec<Conversation>, Option<LastEvaluatedKey>), DomainError> {
        let history = history_pk(org, contact);
        check_start(
            page.start.as_ref(),
            &[
                KeyPart::Exactly(HISTORY_PK, history.clone()),
                KeyPart::Prefix(HISTORY_SK, ""),
                KeyPart::Prefix(keys::PK, &keys::contact_pk(org, "")),
                KeyPart::Prefix(keys::SK, keys::CONVERSATION_SK_PREFIX),
            ],
        )?;
        // One more than the page shows whether another follows, so the last page says so.
        let out = self
            .index_query(super::SPARSE_INDEX, HISTORY_PK, history)
            .scan_index_forward(false)
            .limit(page.limit.saturating_add(1))
            .set_exclusive_start_key(page.start)
            .send()
            .await
            .map_err(failed)?;
        let mut items = out.items.unwrap_or_default();
        let limit = usize::try_from(page.limit).unwrap_or(0);
        let next = (items.len() > limit || out.last_evaluated_key.is_some_and(|k| !k.is_empty()))
            .then(|| items.truncate(limit))
            .and_then(|()| items.last())
            .map(|last| {
                [keys::PK, keys::SK, HISTORY_PK, HISTORY_SK]
                    .into_iter()
                    .filter_map(|name| Some((name.to_owned(), last.get(name)?.clone())))
                    .collect::<LastEvaluatedKey>()
            });
        let mut conversations = Vec::new();
        for item in items {
            let item: ConversationItem = serde_dynamo::from_item(item).map_err(failed)?;
            conversations.push(item.conversation);
        }
        let others: BTreeSet<String> = conversations
            .iter()
            .map(|c| c.contact_id.clone())
            .filter(|id| *id != contact.id)
            .collect();
        if !others.is_empty() {
            let alive = self.live_contacts(org, others).await?;
            conversations.retain(|c| c.contact_id == contact.id || alive.contains(&c.contact_id));
        }
        Ok((conversations, next))
    }

    /// Lists every conversation of a contact in the history its profile's filing names now:
    /// run after every refiling (and again on redelivery). Each batch is written only while
    /// the profile is still at the version read, so a filing that changes meanwhile is read
    /// again; an entry whose last message moved meanwhile is read again too.
    #[tracing::instrument(skip(self), fields(org = %org))]
    pub async fn relist_history(&self, org: &OrgId, contact_id: &str) -> Result<(), DomainError> {
        let mut backoff = Backoff::new();
        while backoff.next_try().await {
            let Some(contact) = self.contact(org, contact_id).await? else {
                return Ok(());
            };
            let history = history_pk(org, &contact);
            let entries = self
                .query_all(
                    self.query_prefix(
                        keys::contact_pk(org, contact_id),
                        keys::CONVERSATION_SK_PREFIX,
                    )
                    .consistent_read(true),
                )
                .await?;
            let mut moves = Vec::new();
            for item in entries {
                let item: ConversationItem = serde_dynamo::from_item(item).map_err(failed)?;
                if item.history_pk.as_deref() != Some(history.as_str()) {
                    moves.push(item.conversation);
                }
            }
            if moves.is_empty() {
                return Ok(());
            }
            match self.move_history(org, &contact, &history, &moves).await {
                Ok(()) => return Ok(()),
                Err(SaveError::Conflict) => continue,
                Err(SaveError::Failed(err)) => return Err(err),
            }
        }
        Err(DomainError::Contended(
            "the contact kept changing while its history moved",
        ))
    }

    /// Moves these conversation entries to `history`, 99 a transaction beside a check that the
    /// profile is still at the version read.
    async fn move_history(
        &self,
        org: &OrgId,
        contact: &Contact,
        history: &str,
        moves: &[Conversation],
    ) -> Result<(), SaveError> {
        for batch in moves.chunks(99) {
            let mut items = vec![self.profile_unchanged(org, contact)?];
            for conversation in batch {
                let (key, mut names, mut values) = entry_time(org, conversation);
                names.insert("#hpk".to_owned(), HISTORY_PK.to_owned());
                values.insert(":hpk".to_owned(), AttributeValue::S(history.to_owned()));
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .update_expression("SET #hpk = :hpk, #hsk = :hsk")
                    .condition_expression("#last = :at")
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .map_err(failed)?;
                items.push(TransactWriteItem::builder().update(update).build());
            }
            self.transact(items).await?;
        }
        Ok(())
    }
}
