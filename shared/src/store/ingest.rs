//! What one inbound message writes, in one transaction: the message, its conversation, a new
//! contact's identity claim and profile, match links.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::*;
use super::{SaveError, Store, Stored, failed};
use crate::attributes::AttributeSet;
use crate::contacts::Contact;
use crate::error::DomainError;
use crate::events::Event;
use crate::ids::OrgId;
use crate::keys;
pub use crate::matching::MatchMove;
use crate::settings::Settings;

/// What ingest reads first: settings and who (if anyone) owns the sender's identity.
pub struct IngestContext {
    pub settings: Stored<Settings>,
    pub definitions: Stored<AttributeSet>,
    pub crm: Option<crate::crm::CrmConnection>,
    pub owner: Option<String>,
    /// The conversation as it stands before this message: its contact and status.
    pub conversation: Option<ConversationHead>,
}

/// A conversation's `OWNER` item: whose it is and its last status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationHead {
    pub contact_id: String,
    pub status: Option<String>,
    /// The time of the last message applied to it.
    pub last_message_at: Option<String>,
    /// The message that last changed its status, if a message did.
    pub status_changed_by: Option<String>,
}

impl ConversationHead {
    /// Whether a message sent at `sent_at` is older than the last one applied: it is stored,
    /// but rolls back neither the conversation's status nor its contact's profile.
    pub fn is_after(&self, sent_at: &str) -> bool {
        self.last_message_at
            .as_deref()
            .is_some_and(|at| at > sent_at)
    }
}

/// The writes of one inbound message, applied in one transaction.
pub struct IngestWrite<'a> {
    pub org: &'a OrgId,
    pub profile: ProfileWrite<'a>,
    pub conversation: &'a Conversation,
    /// The conversation's head as ingest read it; `None` when there was none.
    pub conversation_read: Option<&'a ConversationHead>,
    pub message: &'a Message,
    pub match_move: Option<MatchMove>,
    pub now: &'a str,
    /// The message's events, put in the contact's outbox by the same transaction.
    pub outbox: &'a [Event],
}

/// What an inbound message does to its contact's profile.
#[derive(Debug, Clone, Copy)]
pub enum ProfileWrite<'a> {
    /// The message creates the contact, with the identity claim on `claim_pk`.
    New {
        contact: &'a Contact,
        claim_pk: &'a str,
    },
    /// The profile changed and must still have version `expected`.
    Changed { contact: &'a Contact, expected: u64 },
    /// The message changes nothing of the profile as read, which must still be at its
    /// version: the conversation is listed in the history that version names, and a profile
    /// deleted or edited meanwhile is read again.
    Unchanged { contact: &'a Contact },
}

impl<'a> ProfileWrite<'a> {
    fn contact(&self) -> &'a Contact {
        match *self {
            Self::New { contact, .. }
            | Self::Changed { contact, .. }
            | Self::Unchanged { contact } => contact,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    Written,
    Duplicate,
}

impl Store {
    /// Everything an inbound message is decided on, in one strongly consistent round trip:
    /// settings, definitions, the CRM connection, who owns the sender's identity and the
    /// conversation's owner and status.
    #[tracing::instrument(skip(self, claim_pk, conversation_id), fields(org = %org))]
    pub async fn ingest_context(
        &self,
        org: &OrgId,
        claim_pk: &str,
        conversation_id: &str,
    ) -> Result<IngestContext, DomainError> {
        let conversation_pk = keys::conversation_pk(org, conversation_id);
        let more = [
            raw_key(claim_pk, keys::IDENTITY_SK),
            raw_key(&conversation_pk, keys::CONVERSATION_OWNER_SK),
        ];
        let (settings, definitions, crm, rest) = self.org_context_with(org, more).await?;
        let (mut owner, mut conversation) = (None, None);
        for mut item in rest {
            let text = |item: &super::Item, name: &str| {
                item.get(name).and_then(|v| v.as_s().ok()).cloned()
            };
            let pk = text(&item, keys::PK);
            if pk.as_deref() == Some(claim_pk) {
                owner = item
                    .remove("contact_id")
                    .and_then(|v| v.as_s().ok().cloned());
            } else if pk.as_deref() == Some(conversation_pk.as_str()) {
                conversation = text(&item, "contact_id").map(|contact_id| ConversationHead {
                    contact_id,
                    status: text(&item, "status"),
                    last_message_at: text(&item, "last_message_at"),
                    status_changed_by: text(&item, "status_changed_by"),
                });
            }
        }
        Ok(IngestContext {
            settings,
            definitions,
            crm,
            owner,
            conversation,
        })
    }

    /// Writes one inbound message. A message already stored makes it a duplicate and changes
    /// nothing; any other failed condition is a conflict to retry.
    #[tracing::instrument(skip_all, fields(org = %write.org, message = %write.message.id))]
    pub async fn ingest(&self, write: IngestWrite<'_>) -> Result<IngestOutcome, SaveError> {
        let org = write.org;
        let message = MessageItem::of(org, write.message, write.now);
        let message_item: super::Item = serde_dynamo::to_item(message).map_err(failed)?;
        // The id's claim, not the message's key (which holds `sent_at`), tells a redelivery.
        let claim_key = raw_key(
            &keys::conversation_pk(org, &write.message.conversation_id),
            &keys::message_id_sk(&write.message.id),
        );
        let mut claim = claim_key.clone();
        claim.insert("entity".to_owned(), AttributeValue::S("message_id".into()));
        let mut items = vec![
            TransactWriteItem::builder()
                .put(self.put_new(message_item)?)
                .build(),
            TransactWriteItem::builder()
                .put(self.put_new(claim)?)
                .build(),
        ];
        let history = super::conversations::history_pk(org, write.profile.contact());
        items.push(self.conversation_upsert(org, write.conversation, history, write.now)?);
        // Which message last changed the status, so its redelivery can redo what follows.
        let changed_status = write
            .conversation_read
            .is_some_and(|head| head.status.as_deref() != Some(write.conversation.status.as_str()));
        items.push(self.conversation_owner(
            org,
            write.conversation,
            write.conversation_read,
            changed_status.then_some(write.message.id.as_str()),
            write.now,
        )?);
        if let ProfileWrite::New { contact, claim_pk } = write.profile {
            let claim = HashMap::from([
                (keys::PK.to_owned(), AttributeValue::S(claim_pk.to_owned())),
                (
                    keys::SK.to_owned(),
                    AttributeValue::S(keys::IDENTITY_SK.into()),
                ),
                (
                    "entity".to_owned(),
                    AttributeValue::S("identity_claim".into()),
                ),
                (
                    "contact_id".to_owned(),
                    AttributeValue::S(contact.id.clone()),
                ),
                (
                    "created_at".to_owned(),
                    AttributeValue::S(write.now.to_owned()),
                ),
            ]);
            items.push(
                TransactWriteItem::builder()
                    .put(self.put_new(claim)?)
                    .build(),
            );
        }
        let outbox = write.outbox;
        let profile = match write.profile {
            ProfileWrite::New { contact, .. } => TransactWriteItem::builder()
                .put(self.contact_put(org, contact, 0, outbox)?)
                .build(),
            ProfileWrite::Changed { contact, expected } => TransactWriteItem::builder()
                .put(self.contact_put(org, contact, expected, outbox)?)
                .build(),
            // An unchanged profile is written only to carry events.
            ProfileWrite::Unchanged { contact } if !outbox.is_empty() => {
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(profile_key(org, &contact.id)))
                    .update_expression("SET #outbox = :outbox")
                    .condition_expression("#version = :version")
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(
                        ":version",
                        AttributeValue::N(contact.version.to_string()),
                    )
                    .expression_attribute_names("#outbox", super::profile::OUTBOX)
                    .expression_attribute_values(":outbox", super::profile::outbox_value(outbox)?)
                    .build()
                    .map_err(failed)?;
                TransactWriteItem::builder().update(update).build()
            }
            ProfileWrite::Unchanged { contact } => self.profile_unchanged(org, contact)?,
        };
        items.push(profile);
        if let Some(moved) = &write.match_move {
            let contact = write.profile.contact();
            items.extend(self.match_link_writes(org, &contact.id, moved, write.now)?);
        }
        self.transact_message(items, claim_key).await
    }

    /// Runs an inbound message's transaction; a message id already claimed makes it a
    /// duplicate.
    async fn transact_message(
        &self,
        items: Vec<TransactWriteItem>,
        claim_key: super::Item,
    ) -> Result<IngestOutcome, SaveError> {
        match self.transact(items).await {
            Ok(()) => Ok(IngestOutcome::Written),
            Err(SaveError::Conflict) => {
                if self.get_consistent(claim_key).await?.is_some() {
                    Ok(IngestOutcome::Duplicate)
                } else {
                    Err(SaveError::Conflict)
                }
            }
            Err(other) => Err(other),
        }
    }
}
