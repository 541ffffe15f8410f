//! Contacts, identity claims, match links, conversations and messages.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};

use super::{BatchOp, SaveError, Store, Stored, conditional, internal, key};
use crate::attributes::AttributeSet;
use crate::contacts::{Contact, ValueChange};
use crate::cursor::{KeyPart, LastEvaluatedKey, PageRequest, check_start};
use crate::error::ApiError;
use crate::ids::OrgId;
use crate::keys;
pub use crate::matching::MatchMove;
use crate::settings::Settings;

pub const CONTACTS_INDEX: &str = "GSI1";
pub const SPARSE_INDEX: &str = "GSI2";

#[derive(Serialize, Deserialize)]
struct ContactItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
    /// Only VIP contacts carry the sparse index keys.
    #[serde(rename = "GSI2PK", default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(rename = "GSI2SK", default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
    #[serde(flatten)]
    contact: Contact,
}

pub fn contact_item(
    org: &OrgId,
    contact: &Contact,
) -> Result<HashMap<String, AttributeValue>, ApiError> {
    serde_dynamo::to_item(ContactItem {
        pk: keys::contact_pk(org, &contact.id),
        sk: keys::PROFILE_SK.to_owned(),
        entity: "contact".to_owned(),
        gsi1pk: keys::contacts_index_pk(org),
        gsi1sk: keys::contacts_index_sk(&contact.id),
        gsi2pk: contact.vip.then(|| keys::vip_index_pk(org)),
        gsi2sk: contact.vip.then(|| keys::contacts_index_sk(&contact.id)),
        contact: contact.clone(),
    })
    .map_err(internal)
}

fn contact_from_item(item: HashMap<String, AttributeValue>) -> Result<Contact, ApiError> {
    let item: ContactItem = serde_dynamo::from_item(item).map_err(internal)?;
    Ok(item.contact)
}

/// A conversation as listed in its contact's partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    pub channel: crate::channel::Channel,
    pub status: String,
    pub contact_id: String,
    pub last_message_at: String,
}

#[derive(Serialize, Deserialize)]
struct ConversationItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    #[serde(flatten)]
    conversation: Conversation,
    created_at: String,
    updated_at: String,
}

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
    pub sent_at: String,
    #[serde(default)]
    pub attachments: Vec<StoredAttachment>,
}

#[derive(Serialize, Deserialize)]
struct MessageItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    #[serde(flatten)]
    message: Message,
    created_at: String,
}

/// A page of messages and where the next one starts.
pub type MessagePage = (Vec<Message>, Option<LastEvaluatedKey>);

/// Everything a contact view or edit needs, read in one round trip.
pub struct ContactContext {
    pub settings: Stored<Settings>,
    pub definitions: Stored<AttributeSet>,
    pub contact: Option<Contact>,
}

/// What ingest reads first: settings and who (if anyone) owns the sender's identity.
pub struct IngestContext {
    pub settings: Stored<Settings>,
    pub definitions: Stored<AttributeSet>,
    pub owner: Option<String>,
}

/// The writes of one inbound message, applied in one transaction.
pub struct IngestWrite<'a> {
    pub org: &'a OrgId,
    pub profile: ProfileWrite<'a>,
    pub conversation: &'a Conversation,
    pub message: &'a Message,
    pub match_move: Option<MatchMove>,
    pub now: &'a str,
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
    Changed {
        contact: &'a Contact,
        expected: u64,
    },
    Unchanged,
}

impl<'a> ProfileWrite<'a> {
    fn contact(&self) -> Option<&'a Contact> {
        match *self {
            Self::New { contact, .. } | Self::Changed { contact, .. } => Some(contact),
            Self::Unchanged => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkChange {
    Add,
    Remove,
}

#[derive(Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    Written,
    Duplicate,
}

impl Store {
    /// Settings, definitions and a contact in one strongly consistent round trip.
    #[tracing::instrument(skip(self), fields(org = %org))]
    pub async fn contact_context(
        &self,
        org: &OrgId,
        contact_id: &str,
    ) -> Result<ContactContext, ApiError> {
        let profile_pk = keys::contact_pk(org, contact_id);
        let items = self
            .batch_get(vec![
                key(org, keys::SETTINGS_SK),
                key(org, keys::ATTRIBUTE_DEFINITIONS_SK),
                raw_key(&profile_pk, keys::PROFILE_SK),
            ])
            .await?;
        let (settings, definitions, mut rest) = super::split_org_config(org, items)?;
        let contact = rest
            .iter()
            .position(|i| i.get(keys::PK).and_then(|v| v.as_s().ok()) == Some(&profile_pk))
            .map(|at| contact_from_item(rest.swap_remove(at)))
            .transpose()?;
        Ok(ContactContext {
            settings,
            definitions,
            contact,
        })
    }

    #[tracing::instrument(skip(self, claim_pk), fields(org = %org))]
    pub async fn ingest_context(
        &self,
        org: &OrgId,
        claim_pk: &str,
    ) -> Result<IngestContext, ApiError> {
        let items = self
            .batch_get(vec![
                key(org, keys::SETTINGS_SK),
                key(org, keys::ATTRIBUTE_DEFINITIONS_SK),
                raw_key(claim_pk, keys::IDENTITY_SK),
            ])
            .await?;
        let (settings, definitions, rest) = super::split_org_config(org, items)?;
        let owner = rest
            .into_iter()
            .find(|i| {
                i.get(keys::PK)
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    == Some(claim_pk)
            })
            .and_then(|mut i| i.remove("contact_id"))
            .and_then(|v| v.as_s().ok().cloned());
        Ok(IngestContext {
            settings,
            definitions,
            owner,
        })
    }

    #[tracing::instrument(skip(self), fields(org = %org))]
    pub async fn contact(
        &self,
        org: &OrgId,
        contact_id: &str,
    ) -> Result<Option<Contact>, ApiError> {
        self.get_consistent(raw_key(
            &keys::contact_pk(org, contact_id),
            keys::PROFILE_SK,
        ))
        .await?
        .map(contact_from_item)
        .transpose()
    }

    /// The contact a conversation belongs to, while the conversation and that contact exist.
    #[tracing::instrument(skip(self, conversation_id), fields(org = %org))]
    pub async fn conversation_contact(
        &self,
        org: &OrgId,
        conversation_id: &str,
    ) -> Result<Option<String>, ApiError> {
        let Some(owner) = self.owner_of_conversation(org, conversation_id).await? else {
            return Ok(None);
        };
        let alive = self
            .live_contacts(org, BTreeSet::from([owner.clone()]))
            .await?;
        Ok(alive.contains(&owner).then_some(owner))
    }

    /// Who a conversation id belongs to now, by its `OWNER` item (the contact may be gone).
    async fn owner_of_conversation(
        &self,
        org: &OrgId,
        conversation_id: &str,
    ) -> Result<Option<String>, ApiError> {
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
    async fn live_contacts(
        &self,
        org: &OrgId,
        ids: BTreeSet<String>,
    ) -> Result<BTreeSet<String>, ApiError> {
        let keys: Vec<_> = ids
            .iter()
            .map(|id| raw_key(&keys::contact_pk(org, id), keys::PROFILE_SK))
            .collect();
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

    /// A page of an org's contacts, newest first; with `vip_only`, from the sparse VIP index.
    #[tracing::instrument(skip(self, page), fields(org = %org))]
    pub async fn list_contacts(
        &self,
        org: &OrgId,
        page: PageRequest,
        vip_only: bool,
    ) -> Result<(Vec<Contact>, Option<LastEvaluatedKey>), ApiError> {
        self.contacts_page(org, vip_only, Some(page.limit), page.start)
            .await
    }

    /// One page of the listing index: `limit` contacts, or as many as fit DynamoDB's 1 MB page.
    pub async fn contacts_page(
        &self,
        org: &OrgId,
        vip_only: bool,
        limit: Option<i32>,
        start: Option<LastEvaluatedKey>,
    ) -> Result<(Vec<Contact>, Option<LastEvaluatedKey>), ApiError> {
        let (index, pk_name, sk_name, pk) = if vip_only {
            (SPARSE_INDEX, "GSI2PK", "GSI2SK", keys::vip_index_pk(org))
        } else {
            (
                CONTACTS_INDEX,
                "GSI1PK",
                "GSI1SK",
                keys::contacts_index_pk(org),
            )
        };
        let contact_pk_prefix = keys::contact_pk(org, "");
        check_start(
            start.as_ref(),
            &[
                KeyPart::Exactly(pk_name, pk.clone()),
                KeyPart::Prefix(sk_name, keys::CONTACT_INDEX_SK_PREFIX),
                KeyPart::Prefix(keys::PK, &contact_pk_prefix),
                KeyPart::Exactly(keys::SK, keys::PROFILE_SK.to_owned()),
            ],
        )?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .scan_index_forward(false)
            .set_limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(internal)?;
        let contacts = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(contact_from_item)
            .collect::<Result<_, _>>()?;
        Ok((contacts, out.last_evaluated_key.filter(|k| !k.is_empty())))
    }

    /// Writes an edited profile if it still has `expected_version`; with a match move, the
    /// match links change in the same transaction.
    #[tracing::instrument(skip(self, contact, match_move), fields(org = %org, contact = %contact.id))]
    pub async fn save_edited_contact(
        &self,
        org: &OrgId,
        contact: &Contact,
        expected_version: u64,
        match_move: Option<&MatchMove>,
    ) -> Result<(), SaveError> {
        let put = self.contact_put(org, contact, expected_version)?;
        let Some(moved) = match_move else {
            return self.put_conditionally(put).await;
        };
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        items.extend(self.match_link_writes(org, &contact.id, moved, &contact.updated_at)?);
        self.transact(items).await
    }

    /// Sets and clears custom values one field at a time, so edits of different fields never
    /// wait for each other; with `expected`, only while the profile still has that version.
    /// `None` when the contact is gone or `expected` no longer holds.
    #[tracing::instrument(skip(self, changes, now), fields(org = %org))]
    pub async fn update_values(
        &self,
        org: &OrgId,
        contact_id: &str,
        changes: &[ValueChange],
        expected: Option<u64>,
        now: &str,
    ) -> Result<Option<Contact>, ApiError> {
        let mut set = vec!["#updated = :now".to_owned()];
        let mut remove = Vec::new();
        let mut request = self.profile_update(org, contact_id, expected, now);
        for (n, change) in changes.iter().enumerate() {
            request = request.expression_attribute_names(format!("#d{n}"), &change.definition_id);
            match &change.value {
                Some(value) => {
                    set.push(format!("#values.#d{n} = :d{n}"));
                    request = request.expression_attribute_values(
                        format!(":d{n}"),
                        AttributeValue::S(value.clone()),
                    );
                }
                None => remove.push(format!("#values.#d{n}")),
            }
        }
        let mut expression = format!("SET {} ADD #version :one", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let result = request
            .expression_attribute_names("#values", "values")
            .update_expression(expression)
            .send()
            .await;
        conditional(result)?
            .and_then(|out| out.attributes)
            .map(contact_from_item)
            .transpose()
    }

    /// Sets the VIP flag and with it the sparse VIP index keys; with `expected`, only while the
    /// profile still has that version. `None` when the contact is gone or `expected` fails.
    #[tracing::instrument(skip(self, now), fields(org = %org))]
    pub async fn set_vip(
        &self,
        org: &OrgId,
        contact_id: &str,
        vip: bool,
        expected: Option<u64>,
        now: &str,
    ) -> Result<Option<Contact>, ApiError> {
        let request = self
            .profile_update(org, contact_id, expected, now)
            .expression_attribute_names("#vip", "vip")
            .expression_attribute_names("#g2pk", "GSI2PK")
            .expression_attribute_names("#g2sk", "GSI2SK")
            .expression_attribute_values(":vip", AttributeValue::Bool(vip));
        let request = if vip {
            request
                .update_expression(
                    "SET #vip = :vip, #g2pk = :g2pk, #g2sk = :g2sk, #updated = :now ADD #version :one",
                )
                .expression_attribute_values(":g2pk", AttributeValue::S(keys::vip_index_pk(org)))
                .expression_attribute_values(
                    ":g2sk",
                    AttributeValue::S(keys::contacts_index_sk(contact_id)),
                )
        } else {
            request.update_expression(
                "SET #vip = :vip, #updated = :now ADD #version :one REMOVE #g2pk, #g2sk",
            )
        };
        conditional(request.send().await)?
            .and_then(|out| out.attributes)
            .map(contact_from_item)
            .transpose()
    }

    /// Why a conditional profile update wrote nothing: the contact is gone (`404`), or it
    /// exists and so the caller's `If-Match` no longer holds (`412`).
    pub async fn why_not_written(&self, org: &OrgId, contact_id: &str) -> ApiError {
        match self.contact(org, contact_id).await {
            Ok(None) => ApiError::NotFound("contact"),
            Ok(Some(_)) => ApiError::PreconditionFailed,
            Err(err) => err,
        }
    }

    /// An update of a contact's profile that never creates it and, with `expected`, checks
    /// its version; it answers with the profile as written.
    fn profile_update(
        &self,
        org: &OrgId,
        contact_id: &str,
        expected: Option<u64>,
        now: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(raw_key(
                &keys::contact_pk(org, contact_id),
                keys::PROFILE_SK,
            )))
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#updated", "updated_at")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":now", AttributeValue::S(now.to_owned()))
            .return_values(ReturnValue::AllNew);
        match expected {
            None => request.condition_expression("attribute_exists(PK)"),
            Some(version) => request
                .condition_expression("attribute_exists(PK) AND #version = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(version.to_string())),
        }
    }

    /// Writes the whole profile if it still has `expected_version` (0: if it does not exist).
    pub async fn save_contact(
        &self,
        org: &OrgId,
        contact: &Contact,
        expected_version: u64,
    ) -> Result<(), SaveError> {
        self.put_conditionally(self.contact_put(org, contact, expected_version)?)
            .await
    }

    fn contact_put(
        &self,
        org: &OrgId,
        contact: &Contact,
        expected_version: u64,
    ) -> Result<Put, ApiError> {
        let builder = Put::builder()
            .table_name(&self.table)
            .set_item(Some(contact_item(org, contact)?));
        let builder = if expected_version == 0 {
            builder.condition_expression("attribute_not_exists(PK)")
        } else {
            builder
                .condition_expression("#version = :version")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(
                    ":version",
                    AttributeValue::N(expected_version.to_string()),
                )
        };
        builder.build().map_err(internal)
    }

    fn match_link_writes(
        &self,
        org: &OrgId,
        contact_id: &str,
        moved: &MatchMove,
        now: &str,
    ) -> Result<Vec<TransactWriteItem>, ApiError> {
        let mut writes = Vec::new();
        if let Some(from) = &moved.from {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(raw_key(
                    &keys::match_pk(org, moved.generation, from),
                    &keys::match_sk(contact_id),
                )))
                .build()
                .map_err(internal)?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        if let Some(to) = &moved.to {
            let item = match_link_item(org, moved.generation, to, contact_id, now);
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(internal)?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }
        Ok(writes)
    }

    /// Writes one inbound message. A message already stored makes it a duplicate and changes
    /// nothing; any other failed condition is a conflict to retry.
    #[tracing::instrument(skip_all, fields(org = %write.org, message = %write.message.id))]
    pub async fn ingest(&self, write: IngestWrite<'_>) -> Result<IngestOutcome, SaveError> {
        let org = write.org;
        let message_key = raw_key(
            &keys::conversation_pk(org, &write.conversation.id),
            &keys::message_sk(&write.message.sent_at, &write.message.id),
        );
        let mut message_item: super::Item = serde_dynamo::to_item(MessageItem {
            pk: String::new(),
            sk: String::new(),
            entity: "message".into(),
            message: write.message.clone(),
            created_at: write.now.to_owned(),
        })
        .map_err(internal)?;
        message_item.extend(message_key.clone());
        let mut items = vec![
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(message_item))
                        .condition_expression("attribute_not_exists(PK)")
                        .build()
                        .map_err(internal)?,
                )
                .build(),
        ];
        items.push(self.conversation_upsert(org, write.conversation, write.now)?);
        items.push(self.conversation_owner(org, write.conversation, write.now)?);
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
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(claim))
                            .condition_expression("attribute_not_exists(PK)")
                            .build()
                            .map_err(internal)?,
                    )
                    .build(),
            );
        }
        let profile_put = match write.profile {
            ProfileWrite::New { contact, .. } => Some(self.contact_put(org, contact, 0)?),
            ProfileWrite::Changed { contact, expected } => {
                Some(self.contact_put(org, contact, expected)?)
            }
            ProfileWrite::Unchanged => None,
        };
        items.extend(profile_put.map(|put| TransactWriteItem::builder().put(put).build()));
        if let (Some(moved), Some(contact)) = (&write.match_move, write.profile.contact()) {
            items.extend(self.match_link_writes(org, &contact.id, moved, write.now)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(IngestOutcome::Written),
            Err(SaveError::Conflict) => {
                if self.get_consistent(message_key).await?.is_some() {
                    Ok(IngestOutcome::Duplicate)
                } else {
                    Err(SaveError::Conflict)
                }
            }
            Err(other) => Err(other),
        }
    }

    /// Creates the conversation entry or moves its `last_message_at` forward, never back.
    fn conversation_upsert(
        &self,
        org: &OrgId,
        conversation: &Conversation,
        now: &str,
    ) -> Result<TransactWriteItem, ApiError> {
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
                AttributeValue::S(conversation.last_message_at.clone()),
            )
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The conversation's head item in its own partition: notes on it check it exists.
    fn conversation_owner(
        &self,
        org: &OrgId,
        conversation: &Conversation,
        now: &str,
    ) -> Result<TransactWriteItem, ApiError> {
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
        item.insert("updated_at".into(), AttributeValue::S(now.to_owned()));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Moves a conversation's `last_message_at` forward after a message older ones did not set.
    pub async fn advance_conversation(
        &self,
        org: &OrgId,
        conversation: &Conversation,
    ) -> Result<(), ApiError> {
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
                AttributeValue::S(conversation.last_message_at.clone()),
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
    ) -> Result<(Vec<I>, Option<LastEvaluatedKey>), ApiError> {
        check_start(
            page.start.as_ref(),
            &[
                KeyPart::Exactly(keys::PK, pk.clone()),
                KeyPart::Prefix(keys::SK, prefix),
            ],
        )?;
        let out = self
            .query_prefix(pk, prefix)
            .scan_index_forward(false)
            .limit(page.limit)
            .set_exclusive_start_key(page.start)
            .send()
            .await
            .map_err(internal)?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| serde_dynamo::from_item(item).map_err(internal))
            .collect::<Result<_, _>>()?;
        Ok((items, out.last_evaluated_key.filter(|k| !k.is_empty())))
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

    /// Every conversation of the given contacts (a contact and the ones linked to it).
    #[tracing::instrument(skip(self, contact_ids), fields(org = %org))]
    pub async fn conversations_of(
        &self,
        org: &OrgId,
        contact_ids: &[String],
    ) -> Result<Vec<Conversation>, ApiError> {
        let mut all = Vec::new();
        for contact_id in contact_ids {
            let query = self.query_prefix(
                keys::contact_pk(org, contact_id),
                keys::CONVERSATION_SK_PREFIX,
            );
            for item in self.query_all(query).await? {
                let item: ConversationItem = serde_dynamo::from_item(item).map_err(internal)?;
                all.push(item.conversation);
            }
        }
        Ok(all)
    }

    /// A page of a conversation's messages, newest first, while the contact it belongs to
    /// exists (`None` otherwise). Messages of a deleted contact that shared the conversation id
    /// are left out from the moment of the delete, before the purge removes them.
    #[tracing::instrument(skip(self, page), fields(org = %org))]
    pub async fn messages(
        &self,
        org: &OrgId,
        conversation_id: &str,
        page: PageRequest,
    ) -> Result<Option<MessagePage>, ApiError> {
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

    /// The contacts filed under one match group.
    pub async fn match_group(
        &self,
        org: &OrgId,
        generation: u64,
        hash: &str,
    ) -> Result<Vec<String>, ApiError> {
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

    /// Adds or removes ids in a contact's `linked` set; a contact that is gone stays gone.
    pub async fn change_links(
        &self,
        org: &OrgId,
        contact_id: &str,
        change: LinkChange,
        ids: &[String],
    ) -> Result<(), ApiError> {
        if ids.is_empty() {
            return Ok(());
        }
        // The version moves too, so a writer holding an older copy of the profile cannot put
        // back the links as they were.
        let expression = match change {
            LinkChange::Add => "ADD #version :one, #linked :ids",
            LinkChange::Remove => "ADD #version :one DELETE #linked :ids",
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(raw_key(
                &keys::contact_pk(org, contact_id),
                keys::PROFILE_SK,
            )))
            .update_expression(expression)
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#linked", "linked")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":ids", AttributeValue::Ss(ids.to_vec()))
            .send()
            .await;
        unless_gone(result)
    }

    /// Sets a contact's match filing and links outright, if the contact still has
    /// `expected_version`. `Ok(false)` when it changed (or is gone) since it was read.
    pub async fn refile_contact(
        &self,
        org: &OrgId,
        contact_id: &str,
        expected_version: u64,
        generation: u64,
        hash: Option<&str>,
        linked: &[String],
    ) -> Result<bool, ApiError> {
        let mut set = vec!["#gen = :gen"];
        let mut remove = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(raw_key(
                &keys::contact_pk(org, contact_id),
                keys::PROFILE_SK,
            )))
            .condition_expression("#version = :expected")
            .expression_attribute_values(
                ":expected",
                AttributeValue::N(expected_version.to_string()),
            )
            .expression_attribute_names("#gen", "match_generation")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_names("#hash", "match_hash")
            .expression_attribute_names("#linked", "linked")
            .expression_attribute_values(":gen", AttributeValue::N(generation.to_string()));
        match hash {
            Some(hash) => {
                set.push("#hash = :hash");
                request = request
                    .expression_attribute_values(":hash", AttributeValue::S(hash.to_owned()));
            }
            None => remove.push("#hash"),
        }
        if linked.is_empty() {
            remove.push("#linked");
        } else {
            set.push("#linked = :linked");
            request =
                request.expression_attribute_values(":linked", AttributeValue::Ss(linked.to_vec()));
        }
        let mut expression = format!("SET {} ADD #version :one", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let result = request.update_expression(expression).send().await;
        Ok(conditional(result)?.is_some())
    }

    /// Files a contact under a match group (the org-wide re-match writes these in bulk).
    pub async fn put_match_links(
        &self,
        org: &OrgId,
        generation: u64,
        links: &[(String, String)],
        now: &str,
    ) -> Result<(), ApiError> {
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
    ) -> Result<(), ApiError> {
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

    /// Every contact of an org, page by page through the listing index.
    pub async fn for_each_contact_page<F>(&self, org: &OrgId, mut visit: F) -> Result<(), ApiError>
    where
        F: FnMut(Vec<Contact>),
    {
        let mut start = None;
        loop {
            let page = PageRequest { limit: 100, start };
            let (contacts, next) = self.list_contacts(org, page, false).await?;
            visit(contacts);
            start = next;
            if start.is_none() {
                return Ok(());
            }
        }
    }
}

/// An update conditioned on the item existing: an item that is gone stays gone, and that is
/// not an error for the caller.
fn unless_gone<T>(
    result: Result<
        T,
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::update_item::UpdateItemError,
        >,
    >,
) -> Result<(), ApiError> {
    conditional(result).map(drop)
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

pub(crate) fn raw_key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (keys::PK.to_owned(), AttributeValue::S(pk.to_owned())),
        (keys::SK.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}
