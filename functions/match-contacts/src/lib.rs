//! `match-contacts`: the queue worker that keeps `linked_contact_ids` right, for one contact
//! whose matching value changed or for a whole org whose matching attribute changed.

use std::collections::{BTreeSet, HashMap};

use aws_lambda_events::event::sqs::SqsMessage;
use shared::ApiError;
use shared::clock::{Env, rfc3339};
use shared::contacts::Contact;
use shared::ids::OrgId;
use shared::matching::{MatchJob, current_hash};
use shared::retry::Backoff;
use shared::serve::{Handled, QueueFunction};
use shared::store::{LinkChange, Store};

pub struct App {
    store: Store,
    env: Env,
}

impl App {
    pub async fn relink(&self, job: MatchJob) -> Result<(), ApiError> {
        match job {
            MatchJob::Contact {
                org_id,
                contact_id,
                generation,
                previously_linked,
            } => {
                let org = org_id;
                self.relink_contact(&org, &contact_id, generation, previously_linked)
                    .await
            }
            MatchJob::Org { org_id, generation } => {
                let org = org_id;
                self.rematch_org(&org, generation).await
            }
        }
    }

    /// Re-links one contact: its own set becomes its group, the group gains it, and contacts it
    /// was linked to outside the group lose it. A contact that changes meanwhile is read again.
    #[tracing::instrument(skip(self, previously_linked), fields(org = %org, contact = %contact_id))]
    async fn relink_contact(
        &self,
        org: &OrgId,
        contact_id: &str,
        generation: u64,
        previously_linked: Vec<String>,
    ) -> Result<(), ApiError> {
        let (settings, definitions) = self.store.org_config(org).await?;
        if settings.value.match_generation != generation {
            tracing::info!("a newer org-wide re-match supersedes this job");
            return Ok(());
        }
        let me = vec![contact_id.to_owned()];
        let now = rfc3339(self.env.now());
        let mut backoff = Backoff::new();
        while backoff.next_try().await {
            let Some(contact) = self.store.contact(org, contact_id).await? else {
                for other in &previously_linked {
                    self.store
                        .change_links(org, other, LinkChange::Remove, &me)
                        .await?;
                }
                return Ok(());
            };
            // A contact not yet filed under this generation is filed here, from its own values.
            let wanted = if contact.match_generation == generation {
                contact.match_hash.clone()
            } else {
                let hash = current_hash(&contact, &settings.value, &definitions.value);
                if let Some(hash) = &hash {
                    let link = [(hash.clone(), contact.id.clone())];
                    self.store
                        .put_match_links(org, generation, &link, &now)
                        .await?;
                }
                hash
            };
            let filed = wanted.as_deref();
            let group: BTreeSet<String> = match filed {
                Some(hash) => self
                    .store
                    .match_group(org, generation, hash)
                    .await?
                    .into_iter()
                    .collect(),
                None => BTreeSet::new(),
            };
            let members: Vec<String> = group
                .iter()
                .filter(|id| *id != contact_id)
                .cloned()
                .collect();
            let applied = self
                .store
                .refile_contact(
                    org,
                    contact_id,
                    contact.version,
                    generation,
                    filed,
                    &members,
                )
                .await?;
            if !applied {
                continue;
            }
            for member in &members {
                self.store
                    .change_links(org, member, LinkChange::Add, &me)
                    .await?;
            }
            let leaving: BTreeSet<&String> = previously_linked
                .iter()
                .chain(&contact.linked)
                .filter(|id| !group.contains(*id) && *id != contact_id)
                .collect();
            for other in leaving {
                self.store
                    .change_links(org, other, LinkChange::Remove, &me)
                    .await?;
            }
            return Ok(());
        }
        Err(ApiError::conflict(
            None,
            "the contact kept changing; the job will be retried",
        ))
    }

    /// Files every contact under the current matching attribute and sets every link set.
    #[tracing::instrument(skip(self), fields(org = %org))]
    async fn rematch_org(&self, org: &OrgId, generation: u64) -> Result<(), ApiError> {
        let (settings, definitions) = self.store.org_config(org).await?;
        if settings.value.match_generation != generation {
            tracing::info!("a newer re-match supersedes this one");
            return Ok(());
        }
        let started = std::time::Instant::now();
        let mut contacts: Vec<Contact> = Vec::new();
        self.store
            .for_each_contact_page(org, |page| contacts.extend(page))
            .await?;
        let hashes: Vec<Option<String>> = contacts
            .iter()
            .map(|c| current_hash(c, &settings.value, &definitions.value))
            .collect();
        let mut groups: HashMap<&str, Vec<&str>> = HashMap::new();
        for (contact, hash) in contacts.iter().zip(&hashes) {
            if let Some(hash) = hash {
                groups.entry(hash).or_default().push(&contact.id);
            }
        }
        let links: Vec<(String, String)> = contacts
            .iter()
            .zip(&hashes)
            .filter_map(|(c, h)| h.as_ref().map(|h| (h.clone(), c.id.clone())))
            .collect();
        let now = rfc3339(self.env.now());
        self.store
            .put_match_links(org, generation, &links, &now)
            .await?;
        let stale: Vec<(u64, String, String)> = contacts
            .iter()
            .filter(|c| c.match_generation != generation)
            .filter_map(|c| {
                c.match_hash
                    .clone()
                    .map(|h| (c.match_generation, h, c.id.clone()))
            })
            .collect();
        for (contact, hash) in contacts.iter().zip(&hashes) {
            let linked: Vec<String> = hash
                .as_deref()
                .and_then(|h| groups.get(h))
                .map(|group| {
                    group
                        .iter()
                        .filter(|id| **id != contact.id)
                        .map(|id| id.to_string())
                        .collect()
                })
                .unwrap_or_default();
            let mut current = contact.linked.clone();
            current.sort();
            let mut wanted = linked.clone();
            wanted.sort();
            let unchanged = contact.match_generation == generation
                && contact.match_hash == *hash
                && current == wanted;
            if !unchanged {
                let applied = self
                    .store
                    .refile_contact(
                        org,
                        &contact.id,
                        contact.version,
                        generation,
                        hash.as_deref(),
                        &linked,
                    )
                    .await?;
                if !applied {
                    // It changed since the walk read it: a change that moved its match filing
                    // queued its own job; anything else gets this contact re-linked on its own.
                    self.relink_contact(org, &contact.id, generation, contact.linked.clone())
                        .await?;
                }
            }
        }
        self.store.delete_match_links(org, &stale).await?;
        tracing::info!(
            contacts = contacts.len(),
            groups = groups.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "org re-matched"
        );
        Ok(())
    }
}

shared::build_from_services!(App { store });

impl QueueFunction for App {
    const BINARY: &'static str = "match-contacts";
    type Job = MatchJob;
    type Error = ApiError;

    async fn run(&self, job: MatchJob, _record: &SqsMessage) -> Result<Handled, ApiError> {
        self.relink(job).await.map(|()| Handled::Done)
    }
}
