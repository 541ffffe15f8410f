//! `delete-contact`: an admin deletes a contact — gone for every reader in one transaction,
//! with exactly one audit record — and lists deleted contacts. `purge-contact` (the same crate's
//! queue worker) then removes the notes, conversations, messages and attachments, idempotently.

use lambda_http::Request;
use shared::auth::Caller;
use shared::clock::rfc3339;
use shared::cursor::LastEvaluatedKey;
use shared::deletion::{DeletionRecord, PurgeJob, contact_hint};
use shared::http::{HttpResult, Matched, Page, if_match, no_content, ok};
use shared::ids::{ContactId, OrgId};
use shared::invocation::{Budget, BudgetPolicy};
use shared::keys;
use shared::metrics::{self, Metric};
use shared::notes::Person;
use shared::retry::Backoff;
use shared::serve::{Delivery, Handled, HttpFunction, QueueFunction};
use shared::store::{PurgeEntry, PurgeScope, SaveError};
use shared::{ApiError, DomainError};

/// The purge is queued twice: delayed before the transaction, so a function that dies right
/// after committing still gets its purge, and immediately after it.
pub const SAFETY_NET_DELAY_SECONDS: i32 = 300;

shared::routes! {
    binary = "delete-contact";
    "/contacts/{id}" { DELETE => DeleteContact: DeleteContacts }
    "/deleted-contacts" { GET => ListDeleted: DeleteContacts }
}

shared::app!(pub struct App { store, blobs, purge } tuning: PurgeTuning);

impl App {
    #[tracing::instrument(skip(self, caller), fields(org = %caller.org, user = %caller.user_id))]
    async fn delete(&self, caller: &Caller, id: &ContactId, expected: Option<u64>) -> HttpResult {
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
            let job = PurgeJob {
                org_id: caller.org.clone(),
                contact_id: id.clone(),
                // The newest group it is in: one a re-match linked it to ahead of filing it
                // is of a later generation than its filing.
                left_group: contact.match_links().pop(),
            };
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
                platform: contact.profile.network.as_str().to_owned(),
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
                Err(SaveError::Failed(err)) => return Err(err.into()),
            }
        }
        Err(ApiError::conflict(
            None,
            "the contact kept changing; try again",
        ))
    }

    /// Removes everything under a deleted contact, a page of items a step while `budget`
    /// lasts. Safe to run any number of times and to stop anywhere: each step deletes what is
    /// left, a conversation's entry goes only once its items are gone, and the marker goes last.
    #[tracing::instrument(skip(self, job, budget), fields(org = %job.org_id, contact = %job.contact_id))]
    pub async fn purge(&self, job: &PurgeJob, budget: &mut Budget) -> Result<Purged, DomainError> {
        let mut deleted = 0;
        let purged = self.purge_steps(job, budget, &mut deleted).await;
        if deleted > 0 {
            metrics::record(Metric::PurgedItems(deleted), &job.org_id);
        }
        purged
    }

    /// The purge; `deleted` counts the items and objects it removed, whatever stopped it.
    async fn purge_steps(
        &self,
        job: &PurgeJob,
        budget: &mut Budget,
        deleted: &mut u64,
    ) -> Result<Purged, DomainError> {
        let org = &job.org_id;
        let contact_id = job.contact_id.as_str();
        // The attachments first: a reader who sees the conversation gone finds its files gone.
        // Swept on every pass, the one queued 5 minutes on too, whatever the marker says: an
        // ingest that read the contact before its deletion may upload until its 30 s timeout
        // and die before it can take the file back.
        let objects = self
            .blobs
            .delete_prefix(&keys::attachment_prefix(org, contact_id))
            .await?;
        *deleted += objects as u64;
        if !self.store.purge_pending(org, contact_id).await? {
            return Ok(Purged::Done);
        }
        loop {
            let (conversations, _) = self
                .store
                .purge_page(org, PurgeScope::ConversationsOf(contact_id), None, 25)
                .await?;
            if conversations.is_empty() {
                break;
            }
            for entry in conversations {
                let Some(conversation) = entry.conversation_id() else {
                    continue;
                };
                if !self
                    .purge_conversation(org, contact_id, conversation, budget, deleted)
                    .await?
                {
                    return Ok(Purged::OutOfTime);
                }
                self.store.batch_delete(vec![entry.key]).await?;
                *deleted += 1;
            }
        }
        let records = self.store.idempotency_records_of(org, contact_id).await?;
        *deleted += records.len() as u64;
        self.store.batch_delete(records).await?;
        loop {
            if !budget.next_step() {
                return Ok(Purged::OutOfTime);
            }
            let (page, _) = self
                .tuned_page(org, PurgeScope::Contact(contact_id), None)
                .await?;
            if page.is_empty() {
                break;
            }
            *deleted += page.len() as u64;
            self.store
                .batch_delete(page.into_iter().map(|e| e.key).collect())
                .await?;
        }
        if let Some((generation, hash)) = &job.left_group {
            let now = rfc3339(self.env.now());
            self.store
                .recount_match_group(org, *generation, hash, &now)
                .await?;
        }
        self.store.finish_purge(org, contact_id).await?;
        tracing::info!(objects, "deleted contact purged");
        Ok(Purged::Done)
    }

    /// One page of what the purge removes next, as large as the tuning allows.
    async fn tuned_page(
        &self,
        org: &OrgId,
        scope: PurgeScope<'_>,
        start: Option<LastEvaluatedKey>,
    ) -> Result<(Vec<PurgeEntry>, Option<LastEvaluatedKey>), DomainError> {
        let limit = self.tuning.page_size;
        self.store.purge_page(org, scope, start, limit).await
    }

    /// Removes a conversation's items of the deleted contact, a page a step; `false` when the
    /// budget ran out first. A returning sender may already write to a reused conversation id:
    /// only the old contact's messages go, and the conversation's notes and owner only if it
    /// still belongs to the old contact.
    async fn purge_conversation(
        &self,
        org: &OrgId,
        contact_id: &str,
        conversation: &str,
        budget: &mut Budget,
        deleted: &mut u64,
    ) -> Result<bool, DomainError> {
        let (owner, _) = self
            .store
            .purge_page(org, PurgeScope::ConversationOwner(conversation), None, 1)
            .await?;
        let owner = owner.into_iter().find(PurgeEntry::is_conversation_owner);
        let still_ours = owner
            .as_ref()
            .and_then(|o| o.contact_id.as_deref())
            .is_none_or(|o| o == contact_id);
        if let Some(hold) = &self.tuning.hold_after_owner_read {
            hold.hold().await;
        }
        let mut start = None;
        loop {
            if !budget.next_step() {
                return Ok(false);
            }
            let (page, next) = self
                .tuned_page(org, PurgeScope::Conversation(conversation), start)
                .await?;
            // Messages and notes name their contact; only notes written before notes did are
            // judged by the owner read at the start.
            let doomed = page
                .into_iter()
                .filter(|e| !e.is_conversation_owner())
                .filter(|e| match &e.contact_id {
                    Some(c) => c == contact_id,
                    None => still_ours,
                })
                .map(|e| e.key)
                .collect::<Vec<_>>();
            *deleted += doomed.len() as u64;
            self.store.batch_delete(doomed).await?;
            start = next;
            if start.is_none() {
                break;
            }
        }
        // The owner goes last, so a purge that stops before knows whose the conversation is;
        // and only while it is still this contact's.
        if owner.is_some()
            && still_ours
            && self
                .store
                .delete_conversation_owner(org, conversation, contact_id)
                .await?
        {
            *deleted += 1;
        }
        Ok(true)
    }
}

/// How far one invocation of the purge got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purged {
    Done,
    /// The budget ran out: the job is queued again and goes on from what is left.
    OutOfTime,
}

/// How the purge spends an invocation; tests shrink both to watch it span invocations.
#[derive(Debug, Clone)]
pub struct PurgeTuning {
    /// Items read (and deleted) a step.
    pub page_size: i32,
    pub budget: BudgetPolicy,
    /// Where the purge stops once, after it read whose a conversation is and before it lists
    /// the conversation's items (handler tests only).
    pub hold_after_owner_read: Option<shared::invocation::HoldPoint>,
}

impl Default for PurgeTuning {
    fn default() -> Self {
        Self {
            page_size: 100,
            budget: BudgetPolicy::UntilDeadline,
            hold_after_owner_read: None,
        }
    }
}

impl HttpFunction for App {
    type RouteId = RouteId;

    async fn dispatch(&self, route: Matched<RouteId>, req: &Request) -> HttpResult {
        match route.id {
            RouteId::DeleteContact => {
                let contact: ContactId = route.id("id")?;
                self.delete(&route.caller, &contact, if_match(req)?).await
            }
            RouteId::ListDeleted => {
                let (scope, page) = route.page(req, "")?;
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
    type Error = DomainError;

    async fn run(&self, job: PurgeJob, delivery: Delivery<'_>) -> Result<Handled, DomainError> {
        let mut budget = Budget::new(self.tuning.budget, delivery.deadline);
        if Box::pin(self.purge(&job, &mut budget)).await? == Purged::OutOfTime {
            self.purge.send(&job).await?;
            tracing::info!(org = %job.org_id, "the purge continues in another invocation");
        }
        Ok(Handled::Done)
    }
}
