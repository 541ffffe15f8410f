//! `match-contacts`: the queue worker that keeps `linked_contact_ids` right, for one contact
//! whose matching value changed or for a whole org whose matching attribute changed.

use std::collections::{BTreeSet, HashMap};

use shared::DomainError;
use shared::clock::rfc3339;
use shared::contacts::Contact;
use shared::cursor::Position;
use shared::ids::OrgId;
use shared::invocation::{Budget, BudgetPolicy, Deadline};
use shared::matching::{MatchJob, RematchPhase, RematchProgress, current_hash};
use shared::retry::Backoff;
use shared::serve::{Delivery, Handled, QueueFunction};
use shared::store::LinkChange;

shared::app!(pub struct App { store, matching } tuning: MatchTuning);

/// How an org-wide re-match spends an invocation; tests shrink both to watch it continue.
#[derive(Debug, Clone, Copy)]
pub struct MatchTuning {
    /// Contacts a step.
    pub page_size: i32,
    pub budget: BudgetPolicy,
}

impl Default for MatchTuning {
    fn default() -> Self {
        Self {
            page_size: 20,
            budget: BudgetPolicy::UntilDeadline,
        }
    }
}

impl App {
    pub async fn relink(&self, job: MatchJob, deadline: Deadline) -> Result<(), DomainError> {
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
            MatchJob::Org {
                org_id,
                generation,
                progress,
            } => {
                let budget = Budget::new(self.tuning.budget, deadline);
                let Some(progress) = self
                    .rematch_org(&org_id, generation, progress, budget)
                    .await?
                else {
                    return Ok(());
                };
                // Should this send fail, the delivery is retried from where it began.
                self.matching
                    .send(&MatchJob::Org {
                        org_id,
                        generation,
                        progress: Some(progress),
                    })
                    .await?;
                tracing::info!("the re-match continues in another invocation");
                Ok(())
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
    ) -> Result<(), DomainError> {
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
        Err(DomainError::Contended(
            "the contact kept changing; the job will be retried",
        ))
    }

    /// Files every contact under the current matching attribute, then sets every contact's
    /// links from the groups, a page of contacts a step while `budget` lasts. Returns where to
    /// continue when it ran out; a newer re-match supersedes this one at its next invocation.
    #[tracing::instrument(skip(self, progress, budget), fields(org = %org))]
    async fn rematch_org(
        &self,
        org: &OrgId,
        generation: u64,
        progress: Option<RematchProgress>,
        mut budget: Budget,
    ) -> Result<Option<RematchProgress>, DomainError> {
        let (settings, definitions) = self.store.org_config(org).await?;
        if settings.value.match_generation != generation {
            tracing::info!("a newer re-match supersedes this one");
            return Ok(None);
        }
        let (mut phase, mut start) = match progress {
            Some(p) => (p.phase, p.position.map(|p| p.key())),
            None => (RematchPhase::File, None),
        };
        let hash_of = |c: &Contact| current_hash(c, &settings.value, &definitions.value);
        let mut contacts_seen = 0usize;
        while budget.next_step() {
            let (contacts, next) = self
                .store
                .contacts_page(org, false, Some(self.tuning.page_size), start)
                .await?;
            contacts_seen += contacts.len();
            match phase {
                RematchPhase::File => {
                    let links: Vec<(String, String)> = contacts
                        .iter()
                        .filter_map(|c| hash_of(c).map(|h| (h, c.id.clone())))
                        .collect();
                    let now = rfc3339(self.env.now());
                    self.store
                        .put_match_links(org, generation, &links, &now)
                        .await?;
                }
                RematchPhase::Link => self.link_page(org, generation, &contacts, hash_of).await?,
            }
            start = next;
            if start.is_none() {
                match phase {
                    RematchPhase::File => phase = RematchPhase::Link,
                    RematchPhase::Link => {
                        tracing::info!(contacts = contacts_seen, "org re-matched");
                        return Ok(None);
                    }
                }
            }
        }
        Ok(Some(RematchProgress {
            phase,
            position: start.as_ref().map(Position::of),
        }))
    }

    /// Sets the links of a page of contacts from the groups they are filed under, and drops
    /// their links of earlier generations.
    async fn link_page(
        &self,
        org: &OrgId,
        generation: u64,
        contacts: &[Contact],
        hash_of: impl Fn(&Contact) -> Option<String>,
    ) -> Result<(), DomainError> {
        let hashes: Vec<Option<String>> = contacts.iter().map(&hash_of).collect();
        let mut groups: HashMap<&str, Vec<String>> = HashMap::new();
        for hash in hashes.iter().flatten() {
            if !groups.contains_key(hash.as_str()) {
                let group = self.store.match_group(org, generation, hash).await?;
                groups.insert(hash, group);
            }
        }
        for (contact, hash) in contacts.iter().zip(&hashes) {
            let mut wanted: Vec<String> = hash
                .as_deref()
                .and_then(|h| groups.get(h))
                .map(|group| {
                    group
                        .iter()
                        .filter(|id| **id != contact.id)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            wanted.sort();
            let mut current = contact.linked.clone();
            current.sort();
            let unchanged = contact.match_generation == generation
                && contact.match_hash == *hash
                && current == wanted;
            if unchanged {
                continue;
            }
            let applied = self
                .store
                .refile_contact(
                    org,
                    &contact.id,
                    contact.version,
                    generation,
                    hash.as_deref(),
                    &wanted,
                )
                .await?;
            if !applied {
                // It changed since the walk read it: a change that moved its match filing
                // queued its own job; anything else gets this contact re-linked on its own.
                self.relink_contact(org, &contact.id, generation, contact.linked.clone())
                    .await?;
            }
        }
        let stale: Vec<(u64, String, String)> = contacts
            .iter()
            .filter(|c| c.match_generation != generation)
            .filter_map(|c| {
                c.match_hash
                    .clone()
                    .map(|h| (c.match_generation, h, c.id.clone()))
            })
            .collect();
        self.store.delete_match_links(org, &stale).await
    }
}

impl QueueFunction for App {
    const BINARY: &'static str = "match-contacts";
    type Job = MatchJob;
    type Error = DomainError;

    async fn run(&self, job: MatchJob, delivery: Delivery<'_>) -> Result<Handled, DomainError> {
        self.relink(job, delivery.deadline)
            .await
            .map(|()| Handled::Done)
    }
}
