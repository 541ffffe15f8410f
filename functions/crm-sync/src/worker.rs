//! The CRM queue's worker: lookups and write-backs, one job per record.

use std::collections::HashMap;

use shared::DomainError;
use shared::attributes::AttributeSet;
use shared::clock::{Timestamp, rfc3339};
use shared::contacts::{Contact, LookupStatus, SyncState, ValueChange, ValueSource, validate_edit};
use shared::crm::{
    BREAKER_PAUSE_SECONDS, CallError, ContactCrm, CrmConnection, CrmJob, LookupCall, LookupContact,
    LookupIdentity, LookupReply, ReplyStatus, WRITEBACK_MAX_DELAY_SECONDS, WRITEBACK_RETRY_SECONDS,
    WriteBackCall, WriteBackContact, lookup_values,
};
use shared::events::Outbox;
use shared::ids::{ContactId, OrgId};
use shared::matching::MatchJob;
use shared::metrics::{self, Metric};
use shared::serve::{Delivery, Handled, QueueFunction};
use shared::settings::Settings;
use shared::store::{CallOutcome, SaveError, Stored, retry_on_conflict};
use shared::text::LineBreaks;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::App;
use crate::client::CallFailure;

/// How a call counts for the breaker.
pub(crate) fn breaker_outcome<T>(
    outcome: &Result<T, CallFailure>,
    now: OffsetDateTime,
) -> CallOutcome {
    match outcome {
        Ok(_) => CallOutcome::Succeeded,
        Err(failure) => CallOutcome::Failed {
            error: CallError {
                at: rfc3339(now),
                message: failure.to_string(),
            },
            pause_until: Timestamp::at(now + time::Duration::seconds(BREAKER_PAUSE_SECONDS)),
        },
    }
}

/// A write-back job's fields beside its org and contact.
pub struct WriteBack {
    conversation: shared::crm::ConversationRef,
    changed_by: shared::crm::ChangedBy,
    webhook_id: String,
    first_tried_at: String,
    attempt: u32,
}

impl App {
    /// The contact and its org's CRM connection, or `None` when either is gone: a job for
    /// them has nothing left to do.
    async fn connected(
        &self,
        org: &OrgId,
        contact_id: &ContactId,
    ) -> Result<Option<(CrmConnection, Contact, Stored<AttributeSet>, Settings)>, DomainError> {
        let context = self.store.contact_context(org, contact_id).await?;
        let (definitions, settings) = (context.definitions, context.settings.value);
        Ok(context
            .crm
            .zip(context.contact)
            .map(|(connection, contact)| (connection, contact, definitions, settings)))
    }

    /// Runs one lookup and records what it found; a failure is recorded on the contact and
    /// counted by the breaker, never retried blindly (the next trigger looks up again).
    #[tracing::instrument(skip(self), fields(org = %org, contact = %contact_id))]
    pub async fn lookup(&self, org: &OrgId, contact_id: &ContactId) -> Result<(), DomainError> {
        let Some((connection, contact, definitions, settings)) =
            self.connected(org, contact_id).await?
        else {
            return Ok(());
        };
        let now = self.now();
        let outcome = if connection.paused_at(self.env.now()) {
            Err(crate::PAUSED.to_owned())
        } else {
            self.call_lookup(org, &connection, &contact, &definitions.value)
                .await?
        };
        // Values with an agent's change pending write-back are left alone; an agent who edits
        // one meanwhile makes the write fail its condition, and it is worked out again.
        // The first attempt uses the profile read with the context; a retry reads it again.
        let (outcome, connection, now) = (&outcome, &connection, &now);
        let definitions = &definitions.value;
        let mut known = Some(contact);
        let matching = settings.matching_attribute.as_deref();
        let (crm, written, refiles) = retry_on_conflict(|| {
            let known = known.take();
            async move {
                let contact = match known {
                    Some(contact) => contact,
                    None => match self.store.contact(org, contact_id).await? {
                        Some(contact) => contact,
                        None => return Ok((None, 0, false)),
                    },
                };
                let (crm, changes) = match outcome {
                    Ok(reply) => found(connection, reply, definitions, &contact, now),
                    Err(error) => (
                        ContactCrm {
                            connection_id: connection.connection_id.clone(),
                            status: LookupStatus::Error,
                            error: Some(error.clone()),
                            last_lookup_at: Some(now.clone()),
                            ..contact
                                .crm
                                .clone()
                                .filter(|c| c.connection_id == connection.connection_id)
                                .unwrap_or_else(|| never(connection))
                        },
                        vec![],
                    ),
                };
                let mut outbox = Outbox::new(org, &self.env);
                outbox.lookup_recorded(&contact, &crm, &changes, connection);
                match self
                    .store
                    .record_lookup(org, contact_id, &crm, &changes, now, outbox.events())
                    .await?
                {
                    Some(_) => {
                        let changed = contact.changed_keys(&changes);
                        let refiles = changed.iter().any(|k| Some(k.as_str()) == matching);
                        Ok((Some(crm), changes.len(), refiles))
                    }
                    None => Err(SaveError::Conflict),
                }
            }
        })
        .await?;
        let Some(crm) = crm else {
            return Ok(());
        };
        // A CRM value of the matching attribute moves the contact as an agent's edit does:
        // the match worker files it anew, relinks it and moves its history.
        if refiles {
            self.matching
                .send(&MatchJob::Contact {
                    org_id: org.clone(),
                    contact_id: contact_id.clone(),
                    generation: settings.match_generation,
                    groups: Vec::new(),
                })
                .await?;
        }
        tracing::info!(status = ?crm.status, values = written, "crm lookup recorded");
        metrics::record(
            Metric::CrmLookup {
                result: crm.status.as_str(),
            },
            org,
        );
        Ok(())
    }

    /// Calls the lookup URL; `Err` holds what the contact view says went wrong.
    async fn call_lookup(
        &self,
        org: &OrgId,
        connection: &CrmConnection,
        contact: &Contact,
        definitions: &shared::attributes::AttributeSet,
    ) -> Result<Result<LookupReply, String>, DomainError> {
        let values = lookup_values(contact, definitions);
        let call = LookupCall {
            kind: "contact.lookup",
            contact: LookupContact {
                id: &contact.id,
                network: Some(contact.profile.network),
                identities: contact
                    .profile
                    .identities
                    .iter()
                    .map(|i| LookupIdentity {
                        channel: i.channel,
                        user_id: &i.user_id,
                        handle: i.handle.as_deref(),
                    })
                    .collect(),
            },
            lookup: values
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        };
        let reply = self.send_lookup(org, connection, &call).await?;
        let parsed = reply.outcome.and_then(|json| {
            serde_json::from_value::<LookupReply>(json).map_err(|_| CallFailure::NotJson)
        });
        let parsed = parsed.and_then(shown_record);
        let breaker = breaker_outcome(&parsed, self.env.now());
        self.store.record_crm_call(org, connection, breaker).await?;
        Ok(parsed.map_err(|f| f.to_string()))
    }

    /// Sends the contact's pending CRM-managed values to the write-back URL. A 2xx makes them
    /// `synced`, a `409` `failed`; timeouts, `429`, `5xx` and a paused connection are tried
    /// again later with the same `webhook-id`, until a day has passed (then `failed`). Nothing
    /// is sent for a deleted contact, or without a write-back URL (values stay `pending`).
    #[tracing::instrument(skip(self, job), fields(org = %org, contact = %contact_id))]
    pub async fn write_back(
        &self,
        org: &OrgId,
        contact_id: &ContactId,
        job: WriteBack,
    ) -> Result<(), DomainError> {
        let Some((connection, contact, definitions, _)) = self.connected(org, contact_id).await?
        else {
            return Ok(());
        };
        let Some(url) = connection.writeback_url.clone() else {
            return Ok(());
        };
        let pending = contact.pending_writes();
        let keyed: Vec<(&str, &str, Option<&str>)> = pending
            .iter()
            .filter_map(|(id, value)| {
                let key = definitions
                    .value
                    .custom
                    .iter()
                    .find(|(_, d)| d.id == *id)?
                    .0;
                Some((key.as_str(), id.as_str(), value.as_deref()))
            })
            .collect();
        if keyed.is_empty() {
            return Ok(());
        }
        let now = self.env.now();
        let settled = if connection.paused_at(now) {
            if self
                .retry_later(org, contact_id, &job, now, "paused")
                .await?
            {
                return Ok(());
            }
            SyncState::Failed
        } else {
            let call = WriteBackCall {
                kind: "contact.updated",
                contact: WriteBackContact {
                    id: &contact.id,
                    crm_record_id: contact
                        .crm
                        .as_ref()
                        .filter(|c| c.connection_id == connection.connection_id)
                        .and_then(|c| c.record_id.as_deref()),
                },
                attributes: keyed.iter().map(|(key, _, value)| (*key, *value)).collect(),
                conversation: &job.conversation,
                changed_by: &job.changed_by,
            };
            let secrets = self.signing_secrets(org, &connection).await?;
            let webhook_id = webhook_id_for(&job.webhook_id, &call)?;
            let reply = self
                .client
                .call(&url, &secrets, &webhook_id, now.unix_timestamp(), &call)
                .await?;
            let retryable = match &reply.outcome {
                Ok(_) => false,
                Err(CallFailure::Status(409)) => false,
                Err(CallFailure::Status(code)) => *code == 429 || *code >= 500,
                Err(_) => true,
            };
            // A 409 is the CRM refusing the change: the endpoint itself is healthy.
            let health = match &reply.outcome {
                Err(CallFailure::Status(409)) => Ok(()),
                Err(failure) => Err(failure.clone()),
                Ok(_) => Ok(()),
            };
            self.store
                .record_crm_call(org, &connection, breaker_outcome(&health, now))
                .await?;
            match reply.outcome {
                Ok(_) => SyncState::Synced,
                Err(failure) if retryable => {
                    if self
                        .retry_later(org, contact_id, &job, now, &failure.to_string())
                        .await?
                    {
                        return Ok(());
                    }
                    SyncState::Failed
                }
                Err(_) => SyncState::Failed,
            }
        };
        let stamp = rfc3339(now);
        for (_, definition_id, sent) in &keyed {
            self.store
                .settle_write(org, contact_id, definition_id, *sent, settled, &stamp)
                .await?;
        }
        tracing::info!(state = ?settled, values = keyed.len(), "write-back settled");
        Ok(())
    }

    /// Queues the write-back again with a growing delay, unless a day has passed since its
    /// first try (`false`: give up).
    async fn retry_later(
        &self,
        org: &OrgId,
        contact_id: &ContactId,
        job: &WriteBack,
        now: OffsetDateTime,
        outcome: &str,
    ) -> Result<bool, DomainError> {
        let first =
            OffsetDateTime::parse(&job.first_tried_at, &Rfc3339).map_err(DomainError::failed)?;
        if (now - first).whole_seconds() >= WRITEBACK_RETRY_SECONDS {
            return Ok(false);
        }
        let delay = (30_i32 << job.attempt.min(5)).min(WRITEBACK_MAX_DELAY_SECONDS);
        self.crm
            .send_delayed(
                &CrmJob::WriteBack {
                    org_id: org.clone(),
                    contact_id: contact_id.clone(),
                    conversation: job.conversation.clone(),
                    changed_by: job.changed_by.clone(),
                    webhook_id: job.webhook_id.clone(),
                    first_tried_at: job.first_tried_at.clone(),
                    attempt: job.attempt + 1,
                },
                delay,
            )
            .await?;
        tracing::info!(
            outcome,
            delay,
            attempt = job.attempt + 1,
            "write-back retried later"
        );
        Ok(true)
    }
}

/// The `webhook-id` of a write-back: the job's id with a digest of the body. A retry of the
/// same body repeats it, so a receiver drops the repeat; an agent's later edit sends another
/// body, which must never look like a repeat of the first.
fn webhook_id_for(job_id: &str, call: &WriteBackCall<'_>) -> Result<String, DomainError> {
    use sha2::Digest;
    let body = serde_json::to_vec(call).map_err(DomainError::failed)?;
    let digest = sha2::Sha256::digest(&body);
    let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{job_id}_{short}"))
}

/// The reply, if its found record's id and link may be shown to every agent and put in
/// events: an id of 1..256 characters of plain text, a link that is an `https` URL.
fn shown_record(reply: LookupReply) -> Result<LookupReply, CallFailure> {
    let Some(record) = reply.record.as_ref() else {
        return Ok(reply);
    };
    let id_ok = shared::text::bounded(&record.id, "id", LineBreaks::Refused, 256, "id")
        .is_ok_and(|id| id == record.id);
    if !id_ok {
        return Err(CallFailure::BadRecord(
            "id is not 1..256 characters of plain text",
        ));
    }
    if record
        .url
        .as_deref()
        .is_some_and(|url| shared::text::https_url(url) != Some(url))
    {
        return Err(CallFailure::BadRecord(
            "url is not an https URL of at most 2,048 characters",
        ));
    }
    Ok(reply)
}

fn never(connection: &CrmConnection) -> ContactCrm {
    ContactCrm {
        connection_id: connection.connection_id.clone(),
        status: LookupStatus::Never,
        record_id: None,
        record_url: None,
        last_lookup_at: None,
        error: None,
    }
}

/// The contact's CRM standing after an answered lookup, and the CRM-managed values a found
/// record fills (keys that are not CRM-managed and values a definition refuses are ignored).
fn found(
    connection: &CrmConnection,
    reply: &LookupReply,
    definitions: &shared::attributes::AttributeSet,
    contact: &Contact,
    now: &str,
) -> (ContactCrm, Vec<ValueChange>) {
    let status = match reply.status {
        ReplyStatus::Found => LookupStatus::Found,
        ReplyStatus::NotFound => LookupStatus::NotFound,
        ReplyStatus::Multiple => LookupStatus::Multiple,
    };
    let record = reply
        .record
        .as_ref()
        .filter(|_| reply.status == ReplyStatus::Found);
    let changes = record
        .map(|r| {
            r.attributes
                .iter()
                .filter(|(key, _)| {
                    definitions
                        .custom
                        .get(key.as_str())
                        .is_some_and(|d| d.crm_managed && d.enabled)
                })
                .filter_map(|(key, value)| {
                    let one = HashMap::from([(key.clone(), value.clone())]);
                    validate_edit(&one, definitions, &Settings::default(), ValueSource::Crm)
                        .ok()
                        .and_then(|mut c| c.pop())
                })
                .filter(|c| contact.sync.get(&c.definition_id) != Some(&SyncState::Pending))
                .collect()
        })
        .unwrap_or_default();
    let crm = ContactCrm {
        connection_id: connection.connection_id.clone(),
        status,
        record_id: record.map(|r| r.id.clone()),
        record_url: record.and_then(|r| r.url.clone()),
        last_lookup_at: Some(now.to_owned()),
        error: None,
    };
    (crm, changes)
}

/// Lookups from the CRM queue, one per record.
impl QueueFunction for App {
    const BINARY: &'static str = "crm-worker";
    type Job = CrmJob;
    type Error = DomainError;

    async fn run(&self, job: CrmJob, _delivery: Delivery<'_>) -> Result<Handled, DomainError> {
        match job {
            CrmJob::Lookup { org_id, contact_id } => {
                self.lookup(&org_id, &contact_id).await?;
            }
            CrmJob::WriteBack {
                org_id,
                contact_id,
                conversation,
                changed_by,
                webhook_id,
                first_tried_at,
                attempt,
            } => {
                let job = WriteBack {
                    conversation,
                    changed_by,
                    webhook_id,
                    first_tried_at,
                    attempt,
                };
                self.write_back(&org_id, &contact_id, job).await?;
            }
        }
        Ok(Handled::Done)
    }
}
