//! `match-contacts`: the queue worker that keeps match groups filed and counted, for one
//! contact that moved between groups or for a whole org whose matching attribute changed.

use std::collections::BTreeSet;

use shared::DomainError;
use shared::attributes::AttributeSet;
use shared::clock::rfc3339;
use shared::contacts::Contact;
use shared::cursor::Position;
use shared::ids::OrgId;
use shared::invocation::{Budget, BudgetPolicy, Deadline};
use shared::matching::{MatchJob, RematchPhase, RematchProgress, current_hash};
use shared::retry::Backoff;
use shared::serve::{Delivery, Handled, QueueFunction};
use shared::settings::Settings;
use shared::store::retry_on_conflict;

/// How many contacts' histories a re-match page moves at once.
const RELISTS_AT_ONCE: usize = 16;

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
                groups,
            } => {
                self.file_contact(&org_id, &contact_id, generation, groups)
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

    /// Files one contact under `generation` if it is not filed there yet, then recounts the
    /// groups it left and joined. A move costs its own writes and one count, never a write per
    /// member. The link goes first and the filing on the version read second, so a death in
    /// between leaves a link the redelivery files; a link left by a lost race is removed.
    #[tracing::instrument(skip(self, groups), fields(org = %org, contact = %contact_id))]
    async fn file_contact(
        &self,
        org: &OrgId,
        contact_id: &str,
        generation: u64,
        groups: Vec<String>,
    ) -> Result<(), DomainError> {
        let (settings, definitions) = self.store.org_config(org).await?;
        if settings.value.match_generation != generation {
            tracing::info!("a newer org-wide re-match supersedes this job");
            return Ok(());
        }
        let config = (&settings.value, &definitions.value);
        self.file_and_count(org, contact_id, generation, groups, config)
            .await?;
        // Its conversations follow it into its group's history, also when a death after its
        // filing left them behind.
        self.store.relist_history(org, contact_id).await
    }

    /// [`App::file_contact`] under the org's current settings and definitions: the groups it
    /// counted.
    async fn file_and_count(
        &self,
        org: &OrgId,
        contact_id: &str,
        generation: u64,
        groups: Vec<String>,
        (settings, definitions): (&Settings, &AttributeSet),
    ) -> Result<BTreeSet<String>, DomainError> {
        let now = rfc3339(self.env.now());
        let mut recount: BTreeSet<String> = groups.into_iter().collect();
        let mut linked_here = BTreeSet::new();
        let mut unlinked_here = BTreeSet::new();
        let mut backoff = Backoff::new();
        let filed = loop {
            if !backoff.next_try().await {
                return Err(DomainError::Contended(
                    "the contact kept changing; the job will be retried",
                ));
            }
            let Some(contact) = self.store.contact(org, contact_id).await? else {
                break None;
            };
            let hash = current_hash(&contact, settings, definitions);
            let filed_here = contact.linked_under(generation).cloned();
            if contact.match_generation == generation && filed_here == hash {
                // An edit meanwhile filed it back under a value whose link this job removed.
                if let Some(hash) = hash.as_ref().filter(|h| unlinked_here.contains(*h)) {
                    let link = [(hash.clone(), contact.id.clone())];
                    self.store
                        .put_match_links(org, generation, &link, &now)
                        .await?;
                }
                break hash;
            }
            if let Some(hash) = &hash {
                let link = [(hash.clone(), contact.id.clone())];
                self.store
                    .put_match_links(org, generation, &link, &now)
                    .await?;
                linked_here.insert(hash.clone());
            }
            // Filed in this generation under a value it no longer has (a CRM record changed
            // it): its old link goes first, so a death before the filing leaves it to redo.
            if let Some(old) = filed_here.filter(|old| Some(old) != hash.as_ref()) {
                let stale = [(generation, old.clone(), contact.id.clone())];
                self.store.delete_match_links(org, &stale).await?;
                unlinked_here.insert(old.clone());
                recount.insert(old);
            }
            let applied = self
                .store
                .refile_contact(
                    org,
                    contact_id,
                    contact.version,
                    generation,
                    hash.as_deref(),
                )
                .await?;
            if applied {
                break hash;
            }
        };
        let stale: Vec<(u64, String, String)> = linked_here
            .iter()
            .filter(|hash| filed.as_ref() != Some(*hash))
            .map(|hash| (generation, hash.clone(), contact_id.to_owned()))
            .collect();
        self.store.delete_match_links(org, &stale).await?;
        recount.extend(linked_here);
        recount.extend(filed);
        // Begun after the link is written, so a recount that began earlier, and may have
        // missed it, never stands over this one.
        let began = rfc3339(self.env.now());
        for hash in &recount {
            self.store
                .recount_match_group(org, generation, hash, &began)
                .await?;
        }
        Ok(recount)
    }

    /// Files every contact under the current matching attribute (one walk of the listing),
    /// then records each contact's filing and counts each group (a second walk), a page of
    /// contacts a step while `budget` lasts. Returns where to continue when it ran out; a
    /// newer re-match supersedes this one at its next invocation.
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
        let (mut phase, mut start, mut linking_since) = match progress {
            Some(p) => (p.phase, p.position.map(|p| p.key()), p.linking_since),
            None => (RematchPhase::File, None, None),
        };
        let config = (&settings.value, &definitions.value);
        let mut contacts_seen = 0usize;
        while budget.next_step() {
            let (contacts, next) = self
                .store
                .contacts_walk_page(org, false, Some(self.tuning.page_size), start)
                .await?;
            contacts_seen += contacts.len();
            match phase {
                RematchPhase::File => {
                    let now = rfc3339(self.env.now());
                    for chunk in contacts.chunks(RELISTS_AT_ONCE) {
                        let linked = chunk
                            .iter()
                            .map(|c| self.link_ahead(org, generation, c, config, &now));
                        futures::future::try_join_all(linked).await?;
                    }
                }
                RematchPhase::Link => {
                    let since = linking_since.get_or_insert_with(|| rfc3339(self.env.now()));
                    self.link_page(org, generation, &contacts, config, since)
                        .await?;
                }
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
            linking_since,
        }))
    }

    /// Links a contact to its group under `generation` ahead of filing it, recorded on its
    /// profile, unless it is in that group already (filed by a change since the re-match began,
    /// or linked by an earlier delivery). A contact that changed since the walk read it is
    /// read again; one that is gone needs nothing.
    async fn link_ahead(
        &self,
        org: &OrgId,
        generation: u64,
        read: &Contact,
        config: (&Settings, &AttributeSet),
        now: &str,
    ) -> Result<(), DomainError> {
        let hash = current_hash(read, config.0, config.1);
        let mut known = Some((read.clone(), hash));
        retry_on_conflict(|| {
            let known = known.take();
            async move {
                let (contact, hash) = match known {
                    Some(known) => known,
                    None => match self.store.contact(org, &read.id).await? {
                        Some(contact) => {
                            let hash = current_hash(&contact, config.0, config.1);
                            (contact, hash)
                        }
                        None => return Ok(()),
                    },
                };
                let Some(hash) = hash else {
                    return Ok(());
                };
                if contact.match_generation == generation
                    || contact.linked_under(generation) == Some(&hash)
                {
                    return Ok(());
                }
                self.store
                    .link_ahead(org, &contact, generation, &hash, now)
                    .await
            }
        })
        .await
    }

    /// Records a page of contacts' filing under `generation`, counts each group none has
    /// counted since the link walk began (every member was filed before it), and drops their
    /// links of earlier generations.
    async fn link_page(
        &self,
        org: &OrgId,
        generation: u64,
        contacts: &[Contact],
        config: (&Settings, &AttributeSet),
        linking_since: &str,
    ) -> Result<(), DomainError> {
        // A link written ahead under a value the contact has no more (a CRM record changed it
        // since) goes first, and its group is counted with the others.
        let stale_ahead: Vec<(u64, String, String)> = contacts
            .iter()
            .filter(|c| c.match_generation != generation)
            .filter_map(|c| {
                let ahead = c.linked_under(generation)?;
                (Some(ahead) != current_hash(c, config.0, config.1).as_ref())
                    .then(|| (generation, ahead.clone(), c.id.clone()))
            })
            .collect();
        self.store.delete_match_links(org, &stale_ahead).await?;
        let mut groups: BTreeSet<String> = stale_ahead.into_iter().map(|(_, h, _)| h).collect();
        let mut counted = BTreeSet::new();
        for contact in contacts {
            let hash = current_hash(contact, config.0, config.1);
            groups.extend(hash.clone());
            if contact.match_generation == generation && contact.match_hash == hash {
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
                )
                .await?;
            if !applied {
                // It changed since the walk read it: filed on its own, from what it is now.
                counted.extend(
                    self.file_and_count(org, &contact.id, generation, Vec::new(), config)
                        .await?,
                );
            }
        }
        for hash in groups.difference(&counted) {
            let counted = self
                .store
                .match_group_counted_at(org, generation, hash)
                .await?;
            if counted.as_deref().is_none_or(|at| at < linking_since) {
                self.store
                    .recount_match_group(org, generation, hash, linking_since)
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

        self.store.delete_match_links(org, &stale).await?;
        // The heads of those groups of earlier generations go with them.
        let heads: BTreeSet<(u64, String)> = stale.into_iter().map(|(g, h, _)| (g, h)).collect();
        self.store.delete_match_group_heads(org, &heads).await?;
        // Every contact of the page, filed here or before a death: its conversations follow.
        for chunk in contacts.chunks(RELISTS_AT_ONCE) {
            let ids: Vec<&str> = chunk.iter().map(|c| c.id.as_str()).collect();
            futures::future::try_join_all(
                ids.into_iter().map(|id| self.store.relist_history(org, id)),
            )
            .await?;
        }
        Ok(())
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
