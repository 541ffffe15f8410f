//! What a committed message asks of the org's CRM: lookups and write-backs, queued for
//! `crm-sync`, never called from here.

use shared::DomainError;
use shared::clock::rfc3339;
use shared::contacts::Contact;
use shared::crm::{self, ChangedBy, ConversationRef, CrmJob, LookupTrigger};
use shared::ids::OrgId;
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
        contact: &Contact,
        conversation: &Conversation,
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
        let now = self.env.now();
        if trigger.is_some_and(|t| crm::lookup_due(contact, definitions, connection, t, now)) {
            self.crm
                .send(&CrmJob::Lookup {
                    org_id: org.clone(),
                    contact_id: contact.typed_id()?,
                })
                .await?;
        }
        let status_changed = previous
            .and_then(|p| p.status.as_deref())
            .is_some_and(|s| s != conversation.status);
        let writes_back =
            connection.writeback_url.is_some() && !contact.pending_writes().is_empty();
        if status_changed && writes_back {
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
                    webhook_id: self.env.ids.new_id(),
                    first_tried_at: rfc3339(now),
                    attempt: 0,
                })
                .await?;
        }
        Ok(())
    }
}
