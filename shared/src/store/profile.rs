//! The contact's `PROFILE` item: keys, item, reads, listings (GSI1, and the sparse VIP index
//! GSI2), field-level and versioned writes, match filing and links.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::Head;
use super::*;
use super::{SaveError, Store, Stored, conditional, failed};
use crate::attributes::AttributeSet;
use crate::contacts::{Contact, ListedContact};
use crate::cursor::{KeyPart, LastEvaluatedKey, PageRequest, check_start};
use crate::error::DomainError;
use crate::events::Event;
use crate::ids::OrgId;
use crate::keys;
pub use crate::matching::MatchMove;
use crate::settings::Settings;

pub const CONTACTS_INDEX: &str = "GSI1";

pub const SPARSE_INDEX: &str = "GSI2";

const GSI1SK: &str = "GSI1SK";

/// Contacts a walk's page holds when it names no limit.
const WALK_PAGE: i32 = 100;

/// One listing shard as a page reads it: what it read and has not handed out yet, and where its
/// next batch starts.
struct ShardReader {
    pk: String,
    /// Newest first, with each contact's index sort key.
    buffer: std::collections::VecDeque<(String, ListedContact)>,
    next: Option<LastEvaluatedKey>,
    /// No more of it below where the page began.
    done: bool,
}

impl ShardReader {
    fn new(pk: String) -> Self {
        Self {
            pk,
            buffer: Default::default(),
            next: None,
            done: false,
        }
    }

    /// Holds nothing to hand out, but has more to read.
    fn is_dry(&self) -> bool {
        self.buffer.is_empty() && !self.done
    }
}

#[derive(Serialize, Deserialize)]
struct ContactItem {
    #[serde(flatten)]
    head: Head,
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
    /// The events of the write that put this item, relayed from the table's stream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    outbox: Vec<Event>,
}

pub fn contact_item(
    org: &OrgId,
    contact: &Contact,
) -> Result<HashMap<String, AttributeValue>, DomainError> {
    contact_item_with(org, contact, &[])
}

fn contact_item_with(
    org: &OrgId,
    contact: &Contact,
    outbox: &[Event],
) -> Result<HashMap<String, AttributeValue>, DomainError> {
    serde_dynamo::to_item(ContactItem {
        head: Head::new(
            keys::contact_pk(org, &contact.id),
            keys::PROFILE_SK.to_owned(),
            "contact".to_owned(),
        ),
        gsi1pk: keys::contacts_index_pk(org, keys::contact_index_shard(&contact.id)),
        gsi1sk: keys::contacts_index_sk(&contact.id),
        gsi2pk: contact.vip.then(|| keys::vip_index_pk(org)),
        gsi2sk: contact.vip.then(|| keys::contacts_index_sk(&contact.id)),
        contact: contact.clone(),
        outbox: outbox.to_vec(),
    })
    .map_err(failed)
}

/// Adds `SET #outbox = :outbox` for a write's events; a write without events leaves the
/// outbox as it was, which the relay reads as nothing new.
pub(super) fn set_outbox(
    request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    set: &mut Vec<String>,
    outbox: &[Event],
) -> Result<aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder, DomainError>
{
    if outbox.is_empty() {
        return Ok(request);
    }
    set.push("#outbox = :outbox".to_owned());
    Ok(request
        .expression_attribute_names("#outbox", OUTBOX)
        .expression_attribute_values(":outbox", outbox_value(outbox)?))
}

pub(super) const OUTBOX: &str = "outbox";

/// Adds `jobs` to the profile's pending jobs, after any still waiting there.
pub(super) fn add_pending_jobs(
    request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    set: &mut Vec<String>,
    jobs: &[crate::contacts::PendingJob],
) -> Result<aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder, DomainError>
{
    if jobs.is_empty() {
        return Ok(request);
    }
    set.push(PENDING_JOBS_APPENDED.to_owned());
    Ok(request
        .expression_attribute_names("#jobs", PENDING_JOBS)
        .expression_attribute_values(":jobs", pending_jobs_value(jobs)?)
        .expression_attribute_values(":no_jobs", AttributeValue::L(Vec::new())))
}

pub(super) const PENDING_JOBS: &str = "pending_jobs";
pub(super) const PENDING_JOBS_APPENDED: &str =
    "#jobs = list_append(if_not_exists(#jobs, :no_jobs), :jobs)";

pub(super) fn pending_jobs_value(
    jobs: &[crate::contacts::PendingJob],
) -> Result<AttributeValue, DomainError> {
    serde_dynamo::to_attribute_value(jobs).map_err(failed)
}

pub(super) fn outbox_value(outbox: &[Event]) -> Result<AttributeValue, DomainError> {
    serde_dynamo::to_attribute_value(outbox).map_err(failed)
}

pub(super) fn contact_from_item(
    item: HashMap<String, AttributeValue>,
) -> Result<Contact, DomainError> {
    let item: ContactItem = serde_dynamo::from_item(item).map_err(failed)?;
    Ok(item.contact)
}

impl Store {
    /// A transaction's check that a contact's profile is still at the version read.
    pub(super) fn profile_unchanged(
        &self,
        org: &OrgId,
        contact: &Contact,
    ) -> Result<TransactWriteItem, DomainError> {
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(profile_key(org, &contact.id)))
            .condition_expression("#version = :version")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":version", AttributeValue::N(contact.version.to_string()))
            .build()
            .map_err(failed)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }
}

/// A contact as a listing index holds it (or as its whole profile item, read as one).
fn listed_from_item(item: HashMap<String, AttributeValue>) -> Result<ListedContact, DomainError> {
    serde_dynamo::from_item(item).map_err(failed)
}

/// Everything a contact view or edit needs, read in one round trip.
pub struct ContactContext {
    pub settings: Stored<Settings>,
    pub definitions: Stored<AttributeSet>,
    pub crm: Option<crate::crm::CrmConnection>,
    pub contact: Option<Contact>,
}

/// A contact the caller named and that exists, with what its view or edit needs.
pub struct ExistingContact {
    pub settings: Stored<Settings>,
    pub definitions: Stored<AttributeSet>,
    pub crm: Option<crate::crm::CrmConnection>,
    pub contact: Contact,
}

/// An update conditioned on the item existing: an item that is gone stays gone, and that is
/// not an error for the caller.
pub(super) fn unless_gone<T>(
    result: Result<
        T,
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::update_item::UpdateItemError,
        >,
    >,
) -> Result<(), DomainError> {
    conditional(result).map(drop)
}

impl Store {
    /// Settings, definitions, the CRM connection and a contact in one strongly consistent
    /// round trip.
    #[tracing::instrument(skip(self), fields(org = %org))]
    pub async fn contact_context(
        &self,
        org: &OrgId,
        contact_id: &str,
    ) -> Result<ContactContext, DomainError> {
        let profile_pk = keys::contact_pk(org, contact_id);
        let profile = raw_key(&profile_pk, keys::PROFILE_SK);
        let (settings, definitions, crm, mut rest) = self.org_context_with(org, [profile]).await?;
        let contact = rest
            .iter()
            .position(|i| i.get(keys::PK).and_then(|v| v.as_s().ok()) == Some(&profile_pk))
            .map(|at| contact_from_item(rest.swap_remove(at)))
            .transpose()?;
        Ok(ContactContext {
            settings,
            definitions,
            crm,
            contact,
        })
    }

    /// The contact a caller names: a missing one is `NotFound`, one at another version than
    /// the caller's `If-Match` is `PreconditionFailed`.
    pub async fn existing_contact(
        &self,
        org: &OrgId,
        contact_id: &str,
        expected: Option<u64>,
    ) -> Result<ExistingContact, DomainError> {
        let ContactContext {
            settings,
            definitions,
            crm,
            contact,
        } = self.contact_context(org, contact_id).await?;
        let contact = contact.ok_or(DomainError::NotFound("contact"))?;
        if expected.is_some_and(|v| v != contact.version) {
            return Err(DomainError::Stale("contact"));
        }
        Ok(ExistingContact {
            settings,
            definitions,
            crm,
            contact,
        })
    }

    #[tracing::instrument(skip(self), fields(org = %org))]
    pub async fn contact(
        &self,
        org: &OrgId,
        contact_id: &str,
    ) -> Result<Option<Contact>, DomainError> {
        self.get_consistent(profile_key(org, contact_id))
            .await?
            .map(contact_from_item)
            .transpose()
    }

    /// A page of an org's contacts, newest first; with `vip_only`, from the sparse VIP index.
    #[tracing::instrument(skip(self, page), fields(org = %org))]
    pub async fn list_contacts(
        &self,
        org: &OrgId,
        page: PageRequest,
        vip_only: bool,
    ) -> Result<(Vec<ListedContact>, Option<LastEvaluatedKey>), DomainError> {
        self.contacts_page(org, vip_only, Some(page.limit), page.start)
            .await
    }

    /// A page of a walk over every contact (an export, a re-match): [`Store::contacts_page`],
    /// then the whole profiles, as the listing indexes hold only what a list shows. A contact
    /// deleted in between is left out.
    pub async fn contacts_walk_page(
        &self,
        org: &OrgId,
        vip_only: bool,
        limit: Option<i32>,
        start: Option<LastEvaluatedKey>,
    ) -> Result<(Vec<Contact>, Option<LastEvaluatedKey>), DomainError> {
        let (listed, next) = self.contacts_page(org, vip_only, limit, start).await?;
        let keys: Vec<_> = listed.iter().map(|c| profile_key(org, &c.id)).collect();
        let mut by_id = HashMap::with_capacity(keys.len());
        for item in self.batch_get(keys).await? {
            let contact = contact_from_item(item)?;
            by_id.insert(contact.id.clone(), contact);
        }
        let contacts = listed.iter().filter_map(|c| by_id.remove(&c.id)).collect();
        Ok((contacts, next))
    }

    /// One page of an org's contacts, newest first: `limit` of them (a walk's default without
    /// one). The VIP group is one sparse index key; every contact is spread over
    /// [`keys::CONTACT_INDEX_SHARDS`] listing keys, merged here. The page's key is the last
    /// contact's index sort key: every shard goes on below it.
    pub async fn contacts_page(
        &self,
        org: &OrgId,
        vip_only: bool,
        limit: Option<i32>,
        start: Option<LastEvaluatedKey>,
    ) -> Result<(Vec<ListedContact>, Option<LastEvaluatedKey>), DomainError> {
        if vip_only {
            return self.vip_page(org, limit, start).await;
        }
        check_start(
            start.as_ref(),
            &[KeyPart::Prefix(GSI1SK, keys::CONTACT_INDEX_SK_PREFIX)],
        )?;
        let below = start
            .as_ref()
            .and_then(|key| key.get(GSI1SK)?.as_s().ok().cloned());
        let limit = usize::try_from(limit.unwrap_or(WALK_PAGE))
            .unwrap_or(1)
            .max(1);
        // Evenly spread, each shard gives about limit / shards; a little more spares a refill.
        let batch = limit.div_ceil(keys::CONTACT_INDEX_SHARDS as usize) + 2;
        let mut shards: Vec<ShardReader> = (0..keys::CONTACT_INDEX_SHARDS)
            .map(|shard| ShardReader::new(keys::contacts_index_pk(org, shard)))
            .collect();
        let mut page: Vec<(String, ListedContact)> = Vec::with_capacity(limit);
        while page.len() < limit {
            let dry = shards.iter_mut().filter(|s| s.is_dry());
            futures::future::try_join_all(
                dry.map(|shard| self.read_shard(shard, below.as_deref(), batch)),
            )
            .await?;
            let newest = shards
                .iter_mut()
                .filter_map(|s| Some((s.buffer.front()?.0.clone(), s)))
                .max_by(|a, b| a.0.cmp(&b.0));
            let Some((_, shard)) = newest else { break };
            page.extend(shard.buffer.pop_front());
        }
        let more = shards.iter().any(|s| !s.buffer.is_empty() || !s.done);
        let next = page
            .last()
            .filter(|_| more)
            .map(|(sk, _)| HashMap::from([(GSI1SK.to_owned(), AttributeValue::S(sk.clone()))]));
        Ok((page.into_iter().map(|(_, c)| c).collect(), next))
    }

    /// The next batch of one listing shard, newest first, below `below` when a page starts
    /// there.
    async fn read_shard(
        &self,
        shard: &mut ShardReader,
        below: Option<&str>,
        batch: usize,
    ) -> Result<(), DomainError> {
        let mut query = self
            .index_query(CONTACTS_INDEX, "GSI1PK", shard.pk.clone())
            .scan_index_forward(false)
            .limit(i32::try_from(batch).unwrap_or(i32::MAX))
            .set_exclusive_start_key(shard.next.take());
        if let Some(below) = below {
            query = query
                .key_condition_expression("#pk = :pk AND #sk < :below")
                .expression_attribute_names("#sk", GSI1SK)
                .expression_attribute_values(":below", AttributeValue::S(below.to_owned()));
        }
        let out = query.send().await.map_err(failed)?;
        for item in out.items.unwrap_or_default() {
            let sk = item
                .get(GSI1SK)
                .and_then(|v| v.as_s().ok().cloned())
                .ok_or_else(|| DomainError::failed("a listed contact has no GSI1SK"))?;
            shard.buffer.push_back((sk, listed_from_item(item)?));
        }
        shard.next = out.last_evaluated_key.filter(|k| !k.is_empty());
        shard.done = shard.next.is_none();
        Ok(())
    }

    /// One page of the sparse VIP index, newest first.
    async fn vip_page(
        &self,
        org: &OrgId,
        limit: Option<i32>,
        start: Option<LastEvaluatedKey>,
    ) -> Result<(Vec<ListedContact>, Option<LastEvaluatedKey>), DomainError> {
        let pk = keys::vip_index_pk(org);
        let contact_pk_prefix = keys::contact_pk(org, "");
        check_start(
            start.as_ref(),
            &[
                KeyPart::Exactly("GSI2PK", pk.clone()),
                KeyPart::Prefix("GSI2SK", keys::CONTACT_INDEX_SK_PREFIX),
                KeyPart::Prefix(keys::PK, &contact_pk_prefix),
                KeyPart::Exactly(keys::SK, keys::PROFILE_SK.to_owned()),
            ],
        )?;
        let out = self
            .index_query(SPARSE_INDEX, "GSI2PK", pk)
            .scan_index_forward(false)
            .set_limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(failed)?;
        let contacts = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(listed_from_item)
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
        outbox: &[Event],
    ) -> Result<(), SaveError> {
        let put = self.contact_put(org, contact, expected_version, outbox)?;
        let Some(moved) = match_move else {
            return self.put_conditionally(put).await;
        };
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        items.extend(self.match_link_writes(org, &contact.id, moved, &contact.updated_at)?);
        self.transact(items).await
    }

    /// Sets the VIP flag and with it the sparse VIP index keys; with `expected`, only while the
    /// profile still has that version. `None` when the contact is gone or `expected` fails.
    /// The flag must differ from `vip`, so a repeat (or a concurrent twin) writes nothing and
    /// tells nothing twice.
    #[tracing::instrument(skip(self, now, outbox), fields(org = %org))]
    pub async fn set_vip(
        &self,
        org: &OrgId,
        contact_id: &str,
        vip: bool,
        expected: Option<u64>,
        now: &str,
        outbox: &[Event],
    ) -> Result<Option<Contact>, DomainError> {
        let mut set = vec!["#vip = :vip".to_owned()];
        let request = self.profile_update(org, contact_id, expected, now);
        let request = set_outbox(request, &mut set, outbox)?;
        let condition = match expected {
            None => "attribute_exists(PK) AND #vip <> :vip",
            Some(_) => "attribute_exists(PK) AND #version = :expected AND #vip <> :vip",
        };
        let request = request
            .condition_expression(condition)
            .expression_attribute_names("#vip", "vip")
            .expression_attribute_names("#g2pk", "GSI2PK")
            .expression_attribute_names("#g2sk", "GSI2SK")
            .expression_attribute_values(":vip", AttributeValue::Bool(vip));
        set.push("#updated = :now".to_owned());
        let set = set.join(", ");
        let request = if vip {
            request
                .update_expression(format!(
                    "SET {set}, #g2pk = :g2pk, #g2sk = :g2sk ADD #version :one"
                ))
                .expression_attribute_values(":g2pk", AttributeValue::S(keys::vip_index_pk(org)))
                .expression_attribute_values(
                    ":g2sk",
                    AttributeValue::S(keys::contacts_index_sk(contact_id)),
                )
        } else {
            request.update_expression(format!("SET {set} ADD #version :one REMOVE #g2pk, #g2sk"))
        };
        conditional(request.send().await)?
            .and_then(|out| out.attributes)
            .map(contact_from_item)
            .transpose()
    }

    /// Why a conditional profile update wrote nothing: the contact is gone (`404`), or it
    /// exists and so the caller's `If-Match` no longer holds (`412`).
    pub async fn why_not_written(&self, org: &OrgId, contact_id: &str) -> DomainError {
        let profile = profile_key(org, contact_id);
        self.gone_or_stale(profile, "contact").await
    }

    /// An update of a contact's profile that never creates it and, with `expected`, checks
    /// its version; it answers with the profile as written.
    pub(super) fn profile_update(
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
            .set_key(Some(profile_key(org, contact_id)))
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
        self.put_conditionally(self.contact_put(org, contact, expected_version, &[])?)
            .await
    }

    pub(super) fn contact_put(
        &self,
        org: &OrgId,
        contact: &Contact,
        expected_version: u64,
        outbox: &[Event],
    ) -> Result<Put, DomainError> {
        let builder = Put::builder()
            .table_name(&self.table)
            .set_item(Some(contact_item_with(org, contact, outbox)?));
        put_on_version(builder, expected_version)
            .build()
            .map_err(failed)
    }

    /// Removes the pending jobs once `queued` were sent, unless others were added meanwhile
    /// (whoever added them queues them all again; every job is safe to run twice).
    pub async fn clear_pending_jobs(
        &self,
        org: &OrgId,
        contact_id: &str,
        queued: &[crate::contacts::PendingJob],
    ) -> Result<(), DomainError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(org, contact_id)))
            .condition_expression("#jobs = :queued")
            .update_expression("REMOVE #jobs")
            .expression_attribute_names("#jobs", PENDING_JOBS)
            .expression_attribute_values(":queued", pending_jobs_value(queued)?)
            .send()
            .await;
        conditional(result)?;
        Ok(())
    }

    /// Sets a contact's match filing outright, if the contact still has `expected_version`; a
    /// link a re-match wrote ahead is the filing's from then on.
    /// `Ok(false)` when it changed (or is gone) since it was read.
    pub async fn refile_contact(
        &self,
        org: &OrgId,
        contact_id: &str,
        expected_version: u64,
        generation: u64,
        hash: Option<&str>,
    ) -> Result<bool, DomainError> {
        let mut set = vec!["#gen = :gen"];
        // A link written ahead of this filing is now the filing's own.
        let mut remove = vec!["match_pending"];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(org, contact_id)))
            .condition_expression("#version = :expected")
            .expression_attribute_values(
                ":expected",
                AttributeValue::N(expected_version.to_string()),
            )
            .expression_attribute_names("#gen", "match_generation")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_names("#hash", "match_hash")
            .expression_attribute_values(":gen", AttributeValue::N(generation.to_string()));
        match hash {
            Some(hash) => {
                set.push("#hash = :hash");
                request = request
                    .expression_attribute_values(":hash", AttributeValue::S(hash.to_owned()));
            }
            None => remove.push("#hash"),
        }
        let mut expression = format!("SET {} ADD #version :one", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let result = request.update_expression(expression).send().await;
        Ok(conditional(result)?.is_some())
    }

    /// Every contact of an org, whole, page by page through the listing index.
    pub async fn for_each_contact_page<F>(
        &self,
        org: &OrgId,
        mut visit: F,
    ) -> Result<(), DomainError>
    where
        F: FnMut(Vec<Contact>),
    {
        let mut start = None;
        loop {
            let (contacts, next) = self
                .contacts_walk_page(org, false, Some(100), start)
                .await?;
            visit(contacts);
            start = next;
            if start.is_none() {
                return Ok(());
            }
        }
    }
}
