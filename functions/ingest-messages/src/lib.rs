//! `ingest-messages`: inbound messages from the channels' queue become contacts, conversations
//! and messages. A malformed message is a batch item failure and never blocks the others.

mod crm;
mod message;

pub use message::*;

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use shared::DomainError;
use shared::attributes::platform_attribute;
use shared::clock::{Env, Timestamp, rfc3339};
use shared::contacts::{Contact, Identity, ValueSource};
use shared::events::Outbox;
use shared::ids::{self, OrgId};
use shared::keys;
use shared::matching::{MatchJob, refile};
use shared::metrics::{self, Metric};
use shared::retry::Backoff;
use shared::serve::{Delivery, Handled, QueueFunction};
use shared::store::{
    Conversation, IngestContext, IngestOutcome, IngestWrite, Message, ProfileWrite, SaveError,
    StoredAttachment,
};
use shared::text;

/// Why a message was not ingested. `Malformed` goes to the dead-letter queue after retries;
/// `Failed` is transient.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Not the contract's shape. Its message can quote the offending value, so logs get only
    /// the category and position.
    #[error("malformed message: {0}")]
    Undecodable(serde_json::Error),
    #[error("ingest failed")]
    Failed(#[from] DomainError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ingested {
    pub contact_id: String,
    pub conversation_id: String,
}

// `crm` is `crm-sync`'s queue: lookups and write-backs a message asks for.
shared::app!(pub struct App { store, blobs, matching, crm } tuning: IngestTuning);

/// Faults handler tests inject; never set outside them.
#[derive(Debug, Clone, Default)]
pub struct IngestTuning {
    /// The function dies right after its transaction commits, before any follow-up: the
    /// message's delivery fails and SQS hands it over again.
    pub die_after_commit: bool,
    /// Where the function stops once, after it read the contact and before it uploads the
    /// message's attachments.
    pub hold_before_upload: Option<shared::invocation::HoldPoint>,
}

fn malformed(why: impl Into<String>) -> IngestError {
    IngestError::Malformed(why.into())
}

fn check_id(what: &str, value: &str) -> Result<(), IngestError> {
    ids::is_channel_id(value).then_some(()).ok_or_else(|| {
        malformed(format!(
            "{what} must be 1..{} characters without '/'",
            ids::ConversationId::MAX_LEN
        ))
    })
}

fn attribute_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl App {
    /// Runs an SQS batch: every record independently, failures reported per record.
    pub async fn ingest_body(&self, body: &str) -> Result<Ingested, IngestError> {
        let message: InboundMessage =
            serde_json::from_str(body).map_err(IngestError::Undecodable)?;
        // Boxed: the whole ingest is a deep future, and callers nest it further.
        Box::pin(self.ingest(message)).await
    }

    /// A sender's first message, `m-1` in an open conversation `conv-1`, ingested over
    /// `services`: where other functions' handler tests get a contact to work on. Answers the
    /// new contact's id.
    #[cfg(feature = "test-support")]
    pub async fn first_contact(
        services: &shared::services::Services,
        org: &str,
        channel: &str,
        sender: serde_json::Value,
    ) -> Result<String, IngestError> {
        let message = serde_json::json!({"org_id": org, "channel": channel, "sender": sender,
            "conversation": {"id": "conv-1", "status": "open"},
            "message": {"id": "m-1", "text": "hello", "sent_at": "2026-01-01T10:00:00Z"}});
        use shared::serve::Build;
        let app = Self::build(services, &Env::system());
        Ok(app.ingest_body(&message.to_string()).await?.contact_id)
    }

    #[tracing::instrument(skip_all, fields(org = %inbound.org_id, channel = inbound.channel.as_str(), message = %inbound.message.id))]
    pub async fn ingest(&self, inbound: InboundMessage) -> Result<Ingested, IngestError> {
        let org = &inbound.org_id;
        check_id("sender.user_id", &inbound.sender.user_id)?;
        check_id("conversation.id", &inbound.conversation.id)?;
        check_id("message.id", &inbound.message.id)?;
        let status = inbound.conversation.status.trim();
        if status.is_empty() || status.len() > 32 {
            return Err(malformed("conversation.status must be 1..32 characters"));
        }
        // Messages sort by `sent_at` in their keys: one form per instant keeps that order true.
        let sent_at = Timestamp::parse(&inbound.message.sent_at)
            .map_err(|_| malformed("message.sent_at must be an RFC 3339 time"))?;
        let attachments = self.decode_attachments(org, &inbound.message.attachments)?;

        let channel = inbound.channel;
        let network = channel.network();
        let claim_pk = keys::identity_pk(org, channel.identity_scope(), &inbound.sender.user_id);

        let mut backoff = Backoff::new();
        while backoff.next_try().await {
            let now = rfc3339(self.env.now());
            let context = self
                .store
                .ingest_context(org, &claim_pk, &inbound.conversation.id)
                .await?;
            let before = match &context.owner {
                Some(id) => match self.store.contact(org, id).await? {
                    Some(contact) => Some(contact),
                    // The claim outlives its profile only while a deletion finishes.
                    None => continue,
                },
                None => None,
            };
            // A conversation belongs to the contact who started it: another sender naming it
            // is refused. One whose contact was deleted waits for the purge to remove it.
            if let Some(owner) = context.conversation.as_ref().map(|c| &c.contact_id)
                && before.as_ref().is_none_or(|c| c.id != *owner)
            {
                if self.store.contact(org, owner).await?.is_some() {
                    return Err(malformed(
                        "conversation.id names another sender's conversation",
                    ));
                }
                return Err(DomainError::Contended(
                    "the conversation's deleted contact is still being purged",
                )
                .into());
            }
            let is_new = before.is_none();
            let mut contact = before
                .clone()
                .unwrap_or_else(|| Contact::new(self.env.ids.new_id(), network, &now));
            // A message older than the last one applied (a late redelivery) is stored, but
            // rolls back neither the profile nor the conversation's status or time.
            let read = context.conversation.as_ref();
            let late = read.filter(|head| head.is_after(sent_at.as_str()));
            if late.is_none() {
                refresh_profile(&mut contact, &inbound);
            }

            let settings = &context.settings.value;
            let match_move = refile(&mut contact, settings, &context.definitions.value);
            let expected_version = before.as_ref().map_or(0, |c| c.version);
            let changed = before.as_ref() != Some(&contact);
            if changed {
                contact.version = expected_version + 1;
                contact.updated_at = now.clone();
            }

            if let Some(hold) = &self.tuning.hold_before_upload {
                hold.hold().await;
            }
            let stored_attachments = self
                .store_attachments(org, &contact.id, &inbound.message.id, &attachments)
                .await?;
            let conversation = match late {
                None => Conversation {
                    id: inbound.conversation.id.clone(),
                    channel,
                    status: status.to_owned(),
                    contact_id: contact.id.clone(),
                    last_message_at: sent_at.clone(),
                },
                Some(head) => Conversation {
                    id: inbound.conversation.id.clone(),
                    channel,
                    status: head.status.clone().unwrap_or_else(|| status.to_owned()),
                    contact_id: contact.id.clone(),
                    last_message_at: head
                        .last_message_at
                        .as_deref()
                        .and_then(|at| Timestamp::parse(at).ok())
                        .unwrap_or_else(|| sent_at.clone()),
                },
            };
            let message = Message {
                id: inbound.message.id.clone(),
                conversation_id: conversation.id.clone(),
                contact_id: contact.id.clone(),
                text: inbound.message.text.clone(),
                sent_at: sent_at.clone(),
                attachments: stored_attachments.clone(),
            };
            let outbox = message_events(
                org,
                &self.env,
                &context,
                before.as_ref(),
                &contact,
                &conversation,
            );
            let write = IngestWrite {
                org,
                profile: if is_new {
                    ProfileWrite::New {
                        contact: &contact,
                        claim_pk: &claim_pk,
                    }
                } else if changed {
                    ProfileWrite::Changed {
                        contact: &contact,
                        expected: expected_version,
                    }
                } else {
                    ProfileWrite::Unchanged { contact: &contact }
                },
                conversation: &conversation,
                conversation_read: read,
                message: &message,
                match_move: match_move.clone(),
                now: &now,
                outbox: outbox.events(),
            };
            let ingested = Ingested {
                contact_id: contact.id.clone(),
                conversation_id: conversation.id.clone(),
            };
            match self.store.ingest(write).await {
                Ok(IngestOutcome::Written) => {
                    if self.tuning.die_after_commit {
                        return Err(DomainError::failed("injected: died after the commit").into());
                    }
                    if is_new {
                        metrics::record(Metric::ContactCreated, org);
                    }
                    self.store.advance_conversation(org, &conversation).await?;
                    if let Some(moved) = &match_move {
                        self.matching
                            .send(&moved.job(org, contact.typed_id()?))
                            .await?;
                    }
                    let message = inbound.message.id.as_str();
                    self.follow_up_with_crm(
                        org,
                        &context,
                        before.as_ref(),
                        (&contact, &conversation),
                        message,
                    )
                    .await?;
                    tracing::info!(contact = %contact.id, new_contact = is_new, "message ingested");
                    return Ok(ingested);
                }
                Ok(IngestOutcome::Duplicate) => {
                    // The first delivery may have died after its commit: what follows one is
                    // done again, each step idempotent and from what was committed. The
                    // conversation's time moves forward only, to the time its `OWNER` holds
                    // (not this delivery's `sent_at`, which a re-sent message may change), and
                    // the match job files, counts and relists what is committed.
                    let committed = read
                        .and_then(|head| head.last_message_at.as_deref())
                        .and_then(|at| Timestamp::parse(at).ok());
                    if let Some(at) = committed {
                        let conversation = Conversation {
                            last_message_at: at,
                            ..conversation.clone()
                        };
                        self.store.advance_conversation(org, &conversation).await?;
                    }
                    if let Some(hash) = &contact.match_hash {
                        self.matching
                            .send(&MatchJob::Contact {
                                org_id: org.clone(),
                                contact_id: contact.typed_id()?,
                                generation: contact.match_generation,
                                groups: vec![hash.clone()],
                            })
                            .await?;
                    }
                    let message = inbound.message.id.as_str();
                    self.redo_crm_follow_ups(org, &context, (&contact, &conversation), message)
                        .await?;
                    tracing::info!(contact = %contact.id, "redelivered message: follow-ups again");
                    return Ok(ingested);
                }
                Err(SaveError::Conflict) => {
                    // Files under a contact no other message can name (a new one), or under
                    // one deleted meanwhile, whose purge may be past its files already: they
                    // go now, and the next attempt uploads again wherever it files the message.
                    let orphaned = is_new || self.store.contact(org, &contact.id).await?.is_none();
                    if orphaned {
                        for attachment in &stored_attachments {
                            self.blobs.delete(&attachment.s3_key).await?;
                        }
                    }
                }
                Err(SaveError::Failed(err)) => return Err(err.into()),
            }
        }
        Err(
            DomainError::Contended("the contact kept changing while the message was ingested")
                .into(),
        )
    }

    fn decode_attachments<'a>(
        &self,
        org: &OrgId,
        attachments: &'a [InboundAttachment],
    ) -> Result<Vec<(&'a InboundAttachment, AttachmentSource)>, IngestError> {
        attachments
            .iter()
            .map(|a| {
                check_id("attachment id", &a.id)?;
                if a.content_type.trim().is_empty() || a.content_type.len() > 255 {
                    return Err(malformed("attachment content_type is required"));
                }
                let source = match (&a.content_base64, &a.s3_key) {
                    (Some(data), None) => {
                        let bytes = STANDARD
                            .decode(data)
                            .map_err(|_| malformed("attachment content_base64 is not base64"))?;
                        if bytes.len() > MAX_ATTACHMENT_BYTES {
                            return Err(malformed(
                                "attachments carried inline are at most 256 KiB",
                            ));
                        }
                        AttachmentSource::Bytes(bytes)
                    }
                    (None, Some(key)) => {
                        // Only objects the messaging layer uploaded for this org.
                        if !keys::is_incoming_object(org, key) {
                            return Err(malformed("attachment s3_key is not an upload location"));
                        }
                        AttachmentSource::Object(key.clone())
                    }
                    _ => {
                        return Err(malformed(
                            "an attachment needs exactly one of content_base64 and s3_key",
                        ));
                    }
                };
                Ok((a, source))
            })
            .collect()
    }

    async fn store_attachments(
        &self,
        org: &OrgId,
        contact_id: &str,
        message_id: &str,
        attachments: &[(&InboundAttachment, AttachmentSource)],
    ) -> Result<Vec<StoredAttachment>, IngestError> {
        let mut stored = Vec::with_capacity(attachments.len());
        for (attachment, source) in attachments {
            let key = format!(
                "{}{message_id}/{}",
                keys::attachment_prefix(org, contact_id),
                attachment.id
            );
            let size = match source {
                AttachmentSource::Bytes(bytes) => {
                    // Stored as nothing a browser renders unless its type may be shown.
                    let stored_as = shared::blobs::shown_inline(&attachment.content_type)
                        .unwrap_or(shared::blobs::AS_FILE);
                    self.blobs.put(&key, bytes.clone(), stored_as).await?;
                    bytes.len() as u64
                }
                AttachmentSource::Object(from) => self
                    .blobs
                    .copy(from, &key)
                    .await?
                    .ok_or_else(|| malformed("attachment s3_key does not exist"))?,
            };
            stored.push(StoredAttachment {
                id: attachment.id.clone(),
                content_type: attachment.content_type.clone(),
                size,
                s3_key: key,
            });
        }
        Ok(stored)
    }
}

/// What a message tells the bus: a new contact or the platform values it changed, and a
/// conversation that starts or changes status.
fn message_events<'a>(
    org: &'a OrgId,
    env: &'a Env,
    context: &IngestContext,
    before: Option<&Contact>,
    contact: &Contact,
    conversation: &Conversation,
) -> Outbox<'a> {
    let mut outbox = Outbox::new(org, env);
    let crm = context.crm.as_ref();
    match before {
        None => outbox.contact_created(contact, crm),
        Some(before) => {
            let keys: BTreeSet<&String> = before
                .platform
                .keys()
                .chain(contact.platform.keys())
                .collect();
            let changed = keys
                .into_iter()
                .filter(|k| before.platform.get(*k) != contact.platform.get(*k))
                .cloned()
                .collect();
            outbox.contact_updated(&contact.id, changed, ValueSource::Channel);
        }
    }
    let previous = context
        .conversation
        .as_ref()
        .filter(|c| c.contact_id == contact.id);
    match previous.map(|p| p.status.as_deref()) {
        None => outbox.conversation_started(
            (&conversation.id, conversation.channel, &conversation.status),
            contact,
            (&context.definitions.value, &context.settings.value, crm),
        ),
        Some(Some(from)) if from != conversation.status => {
            outbox.status_changed(&conversation.id, &contact.id, from, &conversation.status);
        }
        Some(_) => {}
    }
    outbox
}

enum AttachmentSource {
    Bytes(Vec<u8>),
    Object(String),
}

/// Name, handle and avatar follow the latest message; platform values are the channel's own.
/// The longest name or handle kept from a channel.
const PROFILE_TEXT_MAX_CHARS: usize = 200;

fn refresh_profile(contact: &mut Contact, inbound: &InboundMessage) {
    let sender = &inbound.sender;
    let profile = &mut contact.profile;
    // What a channel says of a person is shown to agents and sent on in events: it gets the
    // text rules, and a link that is not https is dropped.
    let clean = |v: &Option<String>| text::from_channel(v.as_deref()?, PROFILE_TEXT_MAX_CHARS);
    let link = |v: &Option<String>| text::https_url(v.as_deref()?).map(str::to_owned);
    if let Some(name) = clean(&sender.name) {
        profile.name = name;
    }
    if profile.name.is_empty() {
        profile.name = clean(&sender.handle)
            .or_else(|| text::from_channel(&sender.user_id, PROFILE_TEXT_MAX_CHARS))
            .unwrap_or_default();
    }
    if let Some(handle) = clean(&sender.handle) {
        profile.handle = Some(handle);
    }
    if let Some(avatar) = link(&sender.avatar_url) {
        profile.avatar_url = Some(avatar);
    }
    if let Some(url) = link(&sender.profile_url) {
        profile.profile_url = Some(url);
    }
    for (key, value) in &sender.attributes {
        let for_this_channel =
            platform_attribute(key).is_some_and(|p| p.channels.contains(&inbound.channel));
        let value = attribute_text(value)
            .and_then(|t| text::from_channel(&t, shared::contacts::TEXT_VALUE_MAX_CHARS));
        if let (true, Some(value)) = (for_this_channel, value) {
            contact.platform.insert(key.clone(), value);
        }
    }
    let identity = Identity {
        channel: inbound.channel,
        network: inbound.channel.network(),
        user_id: sender.user_id.clone(),
        handle: clean(&sender.handle),
    };
    match profile
        .identities
        .iter_mut()
        .find(|i| i.channel == identity.channel)
    {
        Some(existing) => *existing = identity,
        None => profile.identities.push(identity),
    }
}

/// `function` over `org` and its first contact, made from `sender` as
/// [`App::first_contact`] makes one: where other functions' handler tests run their sample
/// events from.
#[cfg(feature = "test-support")]
#[allow(clippy::expect_used)] // a test fails by panicking
pub async fn over_first_contact<F>(
    function: F,
    services: &shared::services::Services,
    org: &str,
    channel: &str,
    sender: serde_json::Value,
) -> shared::testing::OverContact<F> {
    let contact_id = App::first_contact(services, org, channel, sender)
        .await
        .expect("the first message is ingested");
    shared::testing::OverContact {
        app: function,
        org: org.to_owned(),
        contact_id,
    }
}

/// Inbound messages from the channels' queue; a malformed one fails alone and, after the
/// queue's `maxReceiveCount`, rests in the dead-letter queue.
impl QueueFunction for App {
    const BINARY: &'static str = "ingest-messages";
    type Job = InboundMessage;
    type Error = IngestError;

    async fn run(
        &self,
        message: InboundMessage,
        _delivery: Delivery<'_>,
    ) -> Result<Handled, IngestError> {
        Box::pin(self.ingest(message)).await.map(|_| Handled::Done)
    }
}
