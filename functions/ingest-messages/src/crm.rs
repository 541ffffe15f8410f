//! What a committed message asks of the org's CRM: lookups and write-backs, queued for
//! `crm-sync`, never called from here.

use shared::DomainError;
use shared::clock::rfc3339;
use shared::contacts::Contact;
use shared::crm::{self, ChangedBy, ConversationRef, CrmConnection, CrmJob, LookupTrigger};
use shared::ids::{OrgId, derived_id};
use shared::store::{Conversation, IngestContext};

use crate::App;

impl App {
    /// What a committed message asks of the CRM, queued (never called from here): a lookup
    /// when the message made the contact or started a conversation past the lookup TTL, or
    /// changed a lookup value; a write-back of pending values when it changed the
    /// conversation's status.
    pub(crate) async fn follow_up_with_crm(
        &self,
        org: &OrgId,
        context: &IngestContext,
        before: Option<&Contact>,
        (contact, conversation): (&Contact, &Conversation),
        message_id: &str,
    ) -> Result<(), DomainError> {
        let Some(connection) = &context.crm else {
            return Ok(());
        };
        let definitions = &context.definitions.value;
        let previous = context
            .conversation
            .as_ref()
            .filter(|c| c.contact_id == contact.id);
        let values_changed = before.is_some_and(|b| {
            crm::lookup_values(b, definitions) != crm::lookup_values(contact, definitions)
        });
        let trigger = if values_changed {
            Some(LookupTrigger::LookupValueChanged)
        } else if before.is_none() || previous.is_none() {
            Some(LookupTrigger::NewContactOrConversation)
        } else {
            None
        };
        if let Some(trigger) = trigger {
            self.look_up_if_due(org, context, connection, contact, trigger)
                .await?;
        }
        let status_changed = previous
            .and_then(|p| p.status.as_deref())
            .is_some_and(|s| s != conversation.status);
        if status_changed {
            self.write_back(org, connection, (contact, conversation), message_id)
                .await?;
        }
        Ok(())
    }

    /// On a redelivery of a committed message, whose first delivery may have died before its
    /// follow-ups: the lookup again while it is due (past the TTL: a fresh one is never
    /// repeated), and the write-back again when the conversation's `OWNER` says this message
    /// changed its status, under the same `webhook-id`, so a CRM that got the first drops it.
    pub(crate) async fn redo_crm_follow_ups(
        &self,
        org: &OrgId,
        context: &IngestContext,
        (contact, conversation): (&Contact, &Conversation),
        message_id: &str,
    ) -> Result<(), DomainError> {
        let Some(connection) = &context.crm else {
            return Ok(());
        };
        let trigger = LookupTrigger::NewContactOrConversation;
        self.look_up_if_due(org, context, connection, contact, trigger)
            .await?;
        let changed_here = context
            .conversation
            .as_ref()
            .and_then(|head| head.status_changed_by.as_deref())
            == Some(message_id);
        if changed_here {
            self.write_back(org, connection, (contact, conversation), message_id)
                .await?;
        }
        Ok(())
    }

    async fn look_up_if_due(
        &self,
        org: &OrgId,
        context: &IngestContext,
        connection: &CrmConnection,
        contact: &Contact,
        trigger: LookupTrigger,
    ) -> Result<(), DomainError> {
        let definitions = &context.definitions.value;
        if crm::lookup_due(contact, definitions, connection, trigger, self.env.now()) {
            self.crm
                .send(&CrmJob::Lookup {
                    org_id: org.clone(),
                    contact_id: contact.typed_id()?,
                })
                .await?;
        }
        Ok(())
    }

    /// The contact's pending CRM-managed values to the write-back URL, for the status change
    /// message `message_id` made: its job's id derives from the message, the same on a redo.
    async fn write_back(
        &self,
        org: &OrgId,
        connection: &CrmConnection,
        (contact, conversation): (&Contact, &Conversation),
        message_id: &str,
    ) -> Result<(), DomainError> {
        if connection.writeback_url.is_none() || contact.pending_writes().is_empty() {
            return Ok(());
        }
        let job_id = derived_id(&["write_back", org.as_str(), &conversation.id, message_id]);
        self.crm
            .send(&CrmJob::WriteBack {
                org_id: org.clone(),
                contact_id: contact.typed_id()?,
                conversation: ConversationRef {
                    id: conversation.id.clone(),
                    status: conversation.status.clone(),
                },
                changed_by: ChangedBy {
                    id: format!("channel:{}", conversation.channel.as_str()),
                    name: conversation.channel.as_str().to_owned(),
                },
                webhook_id: job_id,
                first_tried_at: rfc3339(self.env.now()),
                attempt: 0,
            })
            .await
    }
}
