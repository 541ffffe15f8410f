//! Jobs a committed change asks of the workers: written on the contact's profile in the same
//! write as the change (`Contact::pending_jobs`), queued after it, then removed. A function
//! that dies between its commit and its sends leaves them there; its retry (even one that finds
//! nothing left to change) or the contact's next change queues them. Every job is safe to run
//! twice: the match job refiles from what is stored, a lookup reads the CRM again, a
//! write-back repeats its `webhook-id` with the same body.

use crate::contacts::{Contact, PendingJob};
use crate::error::DomainError;
use crate::ids::OrgId;
use crate::queue::Queue;
use crate::store::Store;

/// The queues pending jobs go to.
pub struct JobQueues<'a> {
    pub crm: &'a Queue,
    pub matching: &'a Queue,
}

/// Queues every job waiting on `contact` (as it was written or read) and removes them from it.
pub async fn queue_pending(
    store: &Store,
    queues: JobQueues<'_>,
    org: &OrgId,
    contact: &Contact,
) -> Result<(), DomainError> {
    if contact.pending_jobs.is_empty() {
        return Ok(());
    }
    for job in &contact.pending_jobs {
        match job {
            PendingJob::Crm(job) => queues.crm.send(job).await?,
            PendingJob::Match(job) => queues.matching.send(job).await?,
        }
    }
    store
        .clear_pending_jobs(org, &contact.id, &contact.pending_jobs)
        .await
}
