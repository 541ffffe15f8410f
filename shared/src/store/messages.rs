//! Messages: in their conversation's partition, newest first by `sent_at`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

#[cfg(any(test, feature = "test-support"))]
use super::{BatchOp, failed};
use super::{Head, Store};
use crate::clock::Timestamp;
use crate::cursor::{LastEvaluatedKey, PageRequest};
use crate::error::DomainError;
use crate::ids::OrgId;
use crate::keys;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAttachment {
    pub id: String,
    pub content_type: String,
    pub size: u64,
    pub s3_key: String,
}

crate::debug_showing!(Message {
    id,
    conversation_id,
    contact_id,
    sent_at
});

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    pub contact_id: String,
    pub text: String,
    /// Part of the message's sort key: one form per instant keeps key order time order.
    pub sent_at: Timestamp,
    #[serde(default)]
    pub attachments: Vec<StoredAttachment>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct MessageItem {
    #[serde(flatten)]
    head: Head,
    #[serde(flatten)]
    message: Message,
    created_at: String,
}

impl MessageItem {
    /// The stored item of a message, under its conversation's partition.
    pub(super) fn of(org: &OrgId, message: &Message, now: &str) -> Self {
        Self {
            head: Head::new(
                keys::conversation_pk(org, &message.conversation_id),
                keys::message_sk(message.sent_at.as_str(), &message.id),
                "message",
            ),
            message: message.clone(),
            created_at: now.to_owned(),
        }
    }
}

impl Store {
    /// Writes a long history at once, for tests of what reads or removes one.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn import_messages(
        &self,
        org: &OrgId,
        messages: &[Message],
        now: &str,
    ) -> Result<(), DomainError> {
        let writes = messages
            .iter()
            .map(|m| serde_dynamo::to_item(MessageItem::of(org, m, now)).map(BatchOp::Put))
            .collect::<Result<_, _>>()
            .map_err(failed)?;
        self.batch_write(writes).await
    }
}

/// A page of messages and where the next one starts.
pub type MessagePage = (Vec<Message>, Option<LastEvaluatedKey>);

impl Store {
    /// A page of a conversation's messages, newest first, while the contact it belongs to
    /// exists (`None` otherwise). Messages of a deleted contact that shared the conversation id
    /// are left out from the moment of the delete, before the purge removes them.
    #[tracing::instrument(skip(self, page), fields(org = %org))]
    pub async fn messages(
        &self,
        org: &OrgId,
        conversation_id: &str,
        page: PageRequest,
    ) -> Result<Option<MessagePage>, DomainError> {
        let Some(owner) = self.owner_of_conversation(org, conversation_id).await? else {
            return Ok(None);
        };
        let (items, next) = self
            .page_newest_first::<MessageItem>(
                keys::conversation_pk(org, conversation_id),
                keys::MESSAGE_SK_PREFIX,
                page,
            )
            .await?;
        let mut writers: BTreeSet<String> =
            items.iter().map(|m| m.message.contact_id.clone()).collect();
        writers.insert(owner.clone());
        let alive = self.live_contacts(org, writers).await?;
        if !alive.contains(&owner) {
            return Ok(None);
        }
        let messages = items
            .into_iter()
            .map(|m| m.message)
            .filter(|m| alive.contains(&m.contact_id))
            .collect();
        Ok(Some((messages, next)))
    }
}
