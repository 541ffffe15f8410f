//! Notes under a contact or a conversation.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, ReturnValue, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::Head;
use super::{SaveError, Store, conditional, failed};
use super::{profile_key, raw_key};
use crate::cursor::{KeyPart, LastEvaluatedKey, PageRequest, check_start};
use crate::error::DomainError;
use crate::ids::OrgId;
use crate::keys;
use crate::notes::{Note, NoteParent, Person};

#[derive(Serialize, Deserialize)]
struct NoteItem {
    #[serde(flatten)]
    head: Head,
    #[serde(flatten)]
    note: Note,
    /// On a conversation's note, the contact whose conversation it was when it was written:
    /// a purge of that contact removes it, and never a later owner's (a reused conversation id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    contact_id: Option<String>,
}

/// A new text for a note, who wrote it and when.
#[derive(Clone, Copy)]
pub struct NoteEdit<'a> {
    pub text: &'a str,
    pub by: &'a Person,
    pub at: &'a str,
}

/// The partition and the head item (whose existence proves the parent's) of a note parent.
fn parent_keys(org: &OrgId, parent: NoteParent) -> (String, &'static str, &'static str) {
    match parent {
        NoteParent::Contact(id) => (keys::contact_pk(org, id), keys::PROFILE_SK, "contact_note"),
        NoteParent::Conversation(id) => (
            keys::conversation_pk(org, id),
            keys::CONVERSATION_OWNER_SK,
            "conversation_note",
        ),
    }
}

/// The stored item of a note, in its parent's partition `pk`.
fn note_item(
    pk: &str,
    entity: &str,
    note: &Note,
    contact_id: Option<&str>,
) -> Result<super::Item, DomainError> {
    serde_dynamo::to_item(NoteItem {
        head: Head::new(pk.to_owned(), keys::note_sk(&note.id), entity),
        note: note.clone(),
        contact_id: contact_id.map(str::to_owned),
    })
    .map_err(failed)
}

fn not_found(parent: NoteParent) -> DomainError {
    DomainError::NotFound(parent.name())
}

impl Store {
    /// Writes many notes under one parent at once, for tests and benchmarks of what reads or
    /// removes a long history.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn import_notes(
        &self,
        org: &OrgId,
        parent: NoteParent<'_>,
        notes: &[Note],
    ) -> Result<(), DomainError> {
        let (pk, _, entity) = parent_keys(org, parent);
        let writes = notes
            .iter()
            .map(|note| note_item(&pk, entity, note, None).map(super::BatchOp::Put))
            .collect::<Result<_, _>>()?;
        self.batch_write(writes).await
    }

    /// The contact a note parent belongs to while it is alive: a contact that exists, or a
    /// conversation whose contact exists. A deleted contact's notes and conversations are
    /// gone from the moment of the delete, before the purge has removed them.
    async fn live_parent(
        &self,
        org: &OrgId,
        parent: NoteParent<'_>,
    ) -> Result<String, DomainError> {
        let contact = match parent {
            NoteParent::Contact(id) => self.contact(org, id).await?.map(|c| c.id),
            NoteParent::Conversation(id) => self.conversation_contact(org, id).await?,
        };
        contact.ok_or_else(|| not_found(parent))
    }

    /// Checks the parent is alive and writes the note in one transaction. Answers the id of
    /// the contact the note is about.
    #[tracing::instrument(skip(self, note), fields(org = %org, note = %note.id))]
    pub async fn add_note(
        &self,
        org: &OrgId,
        parent: NoteParent<'_>,
        note: &Note,
    ) -> Result<String, DomainError> {
        let (pk, head, entity) = parent_keys(org, parent);
        let (contact, owner_check) = match parent {
            NoteParent::Contact(id) => (id.to_owned(), None),
            NoteParent::Conversation(_) => {
                let contact = self.live_parent(org, parent).await?;
                let profile = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(profile_key(org, &contact)))
                    .condition_expression("attribute_exists(PK)")
                    .build()
                    .map_err(failed)?;
                (contact, Some(profile))
            }
        };
        let about = matches!(parent, NoteParent::Conversation(_)).then_some(contact.as_str());
        let item = note_item(&pk, entity, note, about)?;
        // The parent's head as read: a conversation's owner must still be the contact read.
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(raw_key(&pk, head)));
        let check = match about {
            Some(contact) => check
                .condition_expression("contact_id = :contact")
                .expression_attribute_values(":contact", AttributeValue::S(contact.to_owned())),
            None => check.condition_expression("attribute_exists(PK)"),
        }
        .build()
        .map_err(failed)?;
        let put = self.put_new(item)?;
        let mut items = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        items.extend(owner_check.map(|c| TransactWriteItem::builder().condition_check(c).build()));
        match self.transact(items).await {
            Ok(()) => Ok(contact),
            Err(SaveError::Conflict) => Err(not_found(parent)),
            Err(SaveError::Failed(err)) => Err(err),
        }
    }

    /// A page of notes, newest first. On the first page the same query reads the parent's head
    /// item, so an unknown parent is a 404 without a second round trip.
    #[tracing::instrument(skip(self, page), fields(org = %org))]
    pub async fn list_notes(
        &self,
        org: &OrgId,
        parent: NoteParent<'_>,
        page: PageRequest,
    ) -> Result<(Vec<Note>, Option<LastEvaluatedKey>), DomainError> {
        let (pk, head, _) = parent_keys(org, parent);
        check_start(
            page.start.as_ref(),
            &[
                KeyPart::Exactly(keys::PK, pk.clone()),
                KeyPart::Prefix(keys::SK, keys::NOTE_SK_PREFIX),
            ],
        )?;
        let first_page = page.start.is_none();
        if !first_page || matches!(parent, NoteParent::Conversation(_)) {
            self.live_parent(org, parent).await?;
        }
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :head")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":from", AttributeValue::S(keys::NOTE_SK_PREFIX.into()))
            .expression_attribute_values(":head", AttributeValue::S(head.into()))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(page.limit + i32::from(first_page))
            .set_exclusive_start_key(page.start)
            .send()
            .await
            .map_err(failed)?;
        let mut items = out.items.unwrap_or_default();
        if first_page {
            let head_found = items
                .first()
                .and_then(|i| i.get(keys::SK))
                .and_then(|v| v.as_s().ok())
                .is_some_and(|sk| sk == head);
            if !head_found {
                return Err(not_found(parent));
            }
            items.remove(0);
        }
        let notes = items
            .into_iter()
            .map(|item| {
                serde_dynamo::from_item::<_, NoteItem>(item)
                    .map(|n| n.note)
                    .map_err(failed)
            })
            .collect::<Result<_, _>>()?;
        Ok((notes, out.last_evaluated_key.filter(|k| !k.is_empty())))
    }

    /// Replaces a note's text if it exists (and, with `expected`, has that version).
    #[tracing::instrument(skip(self, edit), fields(org = %org))]
    pub async fn update_note(
        &self,
        org: &OrgId,
        parent: NoteParent<'_>,
        note_id: &str,
        edit: &NoteEdit<'_>,
        expected: Option<u64>,
    ) -> Result<Note, DomainError> {
        let NoteEdit { text, by, at: now } = *edit;
        self.live_parent(org, parent).await?;
        let (pk, _, _) = parent_keys(org, parent);
        let key = raw_key(&pk, &keys::note_sk(note_id));
        let by = serde_dynamo::to_attribute_value(by).map_err(failed)?;
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .update_expression(
                "SET #text = :text, updated_at = :now, updated_by = :by ADD #version :one",
            )
            .expression_attribute_names("#text", "text")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":text", AttributeValue::S(text.to_owned()))
            .expression_attribute_values(":now", AttributeValue::S(now.to_owned()))
            .expression_attribute_values(":by", by)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::AllNew);
        request = match expected {
            Some(version) => request
                .condition_expression("attribute_exists(PK) AND #version = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(version.to_string())),
            None => request.condition_expression("attribute_exists(PK)"),
        };
        let Some(out) = conditional(request.send().await)? else {
            return Err(self.gone_or_stale(key, "note").await);
        };
        let item: NoteItem =
            serde_dynamo::from_item(out.attributes.unwrap_or_default()).map_err(failed)?;
        Ok(item.note)
    }

    /// Deletes a note that exists (and, with `expected`, has that version).
    #[tracing::instrument(skip(self), fields(org = %org))]
    pub async fn delete_note(
        &self,
        org: &OrgId,
        parent: NoteParent<'_>,
        note_id: &str,
        expected: Option<u64>,
    ) -> Result<(), DomainError> {
        self.live_parent(org, parent).await?;
        let (pk, _, _) = parent_keys(org, parent);
        let key = raw_key(&pk, &keys::note_sk(note_id));
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()));
        request = match expected {
            Some(version) => request
                .condition_expression("attribute_exists(PK) AND #version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", AttributeValue::N(version.to_string())),
            None => request.condition_expression("attribute_exists(PK)"),
        };
        match conditional(request.send().await)? {
            Some(_) => Ok(()),
            None => Err(self.gone_or_stale(key, "note").await),
        }
    }
}
