//! `delete-contact`: an admin deletes a contact — gone for every reader in one transaction,
//! with exactly one audit record — and lists deleted contacts. `purge-contact` (the same crate's
//! queue worker) then removes the notes, conversations, messages and attachments, idempotently.

use aws_lambda_events::event::sqs::SqsMessage;
use lambda_http::{Body, Request, Response};
use shared::ApiError;
use shared::auth::Caller;
use shared::blobs::Blobs;
use shared::clock::{Env, rfc3339};
use shared::deletion::{DeletionRecord, PurgeJob, contact_hint};
use shared::http::{HttpResult, Matched, Page, if_match, no_content, ok, page_request};
use shared::ids::ContactId;
use shared::keys;
use shared::notes::Person;
use shared::queue::Queue;
use shared::retry::Backoff;
use shared::serve::{Handled, HttpFunction, QueueFunction};
use shared::store::{SaveError, Store};

/// The purge is queued twice: delayed before the transaction, so a function that dies right
/// after committing still gets its purge, and immediately after it.
pub const SAFETY_NET_DELAY_SECONDS: i32 = 300;

shared::routes! {
    DELETE "/contacts/{id}" => DeleteContact, DeleteContacts;
    GET "/deleted-contacts" => ListDeleted, DeleteContacts;
}

pub struct App {
    store: Store,
    blobs: Blobs,
    purge: Queue,
    env: Env,
}

impl App {
    #[tracing::instrument(skip(self, caller), fields(org = %caller.org, user = %caller.user_id))]
    async fn delete(
        &self,
        caller: &Caller,
        id: &ContactId,
        expected: Option<u64>,
    ) -> Result<Response<Body>, ApiError> {
        let job = PurgeJob {
            org_id: caller.org.clone(),
            contact_id: id.clone(),
        };
        let mut backoff = Backoff::new();
        let mut safety_net_queued = false;
        while backoff.next_try().await {
            let contact = self
                .store
                .contact(&caller.org, id)
                .await?
                .ok_or(ApiError::NotFound("contact"))?;
            if expected.is_some_and(|v| v != contact.version) {
                return Err(ApiError::PreconditionFailed);
            }
            if !safety_net_queued {
                self.purge
                    .send_delayed(&job, SAFETY_NET_DELAY_SECONDS)
                    .await?;
                safety_net_queued = true;
            }
            let record = DeletionRecord {
                id: self.env.ids.new_id(),
                contact_id: contact.id.clone(),
                contact_hint: contact_hint(&contact),
                platform: contact.network.as_str().to_owned(),
                deleted_at: rfc3339(self.env.now()),
                deleted_by: Person::from(caller),
            };
            match self
                .store
                .delete_contact(&caller.org, &contact, &record)
                .await
            {
                Ok(()) => {
                    tracing::info!(contact = %contact.id, audit = %record.id, "contact deleted");
                    self.purge.send(&job).await?;
                    return Ok(no_content());
                }
                // Changed or deleted meanwhile: read again (a concurrent delete makes this 404).
                Err(SaveError::Conflict) => continue,
                Err(SaveError::Failed(err)) => return Err(err),
            }
        }
        Err(ApiError::conflict(
            None,
            "the contact kept changing; try again",
        ))
    }

    /// Removes everything under a deleted contact. Safe to run any number of times and to stop
    /// anywhere: each step deletes what is left, and the marker goes last.
    #[tracing::instrument(skip(self, job), fields(org = %job.org_id, contact = %job.contact_id))]
    pub async fn purge(&self, job: &PurgeJob) -> Result<(), ApiError> {
        let org = job.org_id.clone();
        let contact_id = job.contact_id.as_str();
        if !self.store.purge_pending(&org, contact_id).await? {
            return Ok(());
        }
        let contact_items = self
            .store
            .partition(&keys::contact_pk(&org, contact_id))
            .await?;
        let mut removed = 0usize;
        for (key, _) in &contact_items {
            let Some(conversation) = key
                .get(keys::SK)
                .and_then(|v| v.as_s().ok())
                .and_then(|sk| sk.strip_prefix(keys::CONVERSATION_SK_PREFIX))
            else {
                continue;
            };
            let items = self
                .store
                .partition(&keys::conversation_pk(&org, conversation))
                .await?;
            // A returning sender may already write to a reused conversation id: only the old
            // contact's messages go, and the conversation's notes and owner only if it still
            // belongs to the old contact.
            let owner = items
                .iter()
                .find(|(k, _)| {
                    k.get(keys::SK)
                        .and_then(|v| v.as_s().ok())
                        .map(String::as_str)
                        == Some(keys::CONVERSATION_OWNER_SK)
                })
                .and_then(|(_, c)| c.clone());
            let still_ours = owner.as_deref().is_none_or(|o| o == contact_id);
            let doomed: Vec<_> = items
                .into_iter()
                .filter(|(_, owner_of_item)| match owner_of_item {
                    Some(c) => c == contact_id,
                    None => still_ours,
                })
                .map(|(k, _)| k)
                .collect();
            removed += doomed.len();
            self.store.batch_delete(doomed).await?;
        }
        let objects = self
            .blobs
            .delete_prefix(&keys::attachment_prefix(&org, contact_id))
            .await?;
        let records = self.store.idempotency_records_of(&org, contact_id).await?;
        removed += contact_items.len() + records.len();
        self.store.batch_delete(records).await?;
        self.store
            .batch_delete(contact_items.into_iter().map(|(k, _)| k).collect())
            .await?;
        self.store.finish_purge(&org, contact_id).await?;
        tracing::info!(items = removed, objects, "deleted contact purged");
        Ok(())
    }
}

shared::build_from_services!(App {
    store,
    blobs,
    purge
});

impl HttpFunction for App {
    type RouteId = RouteId;
    const BINARY: &'static str = "delete-contact";

    async fn dispatch(&self, route: Matched<RouteId>, req: &Request) -> HttpResult {
        match route.id {
            RouteId::DeleteContact => {
                let contact: ContactId = route.id("id")?;
                self.delete(&route.caller, &contact, if_match(req)?).await
            }
            RouteId::ListDeleted => {
                let scope = route.list_scope("");
                let page = page_request(req, &scope)?;
                let (items, next) = self.store.list_deletions(&route.caller.org, page).await?;
                Ok(ok(&Page::new(items, &scope, next)))
            }
        }
    }
}

/// `purge-contact`: each job purges one deleted contact.
impl QueueFunction for App {
    const BINARY: &'static str = "purge-contact";
    type Job = PurgeJob;
    type Error = ApiError;

    async fn run(&self, job: PurgeJob, _record: &SqsMessage) -> Result<Handled, ApiError> {
        Box::pin(self.purge(&job)).await.map(|()| Handled::Done)
    }
}
