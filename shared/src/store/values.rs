//! Custom values on a contact's profile, written field by field with who set them and their
//! CRM write-back state: agents' edits, CRM lookups and settled write-backs.

use aws_sdk_dynamodb::types::AttributeValue;

use super::profile::{contact_from_item, set_outbox};
use super::{SaveError, Store, conditional, failed, retry_on_conflict};
use crate::contacts::{Contact, SyncState, ValueChange};
use crate::crm::ContactCrm;
use crate::error::DomainError;
use crate::events::Event;
use crate::ids::OrgId;

impl Store {
    /// Sets and clears custom values one field at a time, so edits of different fields never
    /// wait for each other; with `expected`, only while the profile still has that version. The
    /// change's events and the jobs it asks of workers (kept on the profile until queued) go in
    /// the same write. `None` when the contact is gone or `expected` no longer holds.
    #[tracing::instrument(skip(self, changes, now, told), fields(org = %org))]
    pub async fn update_values(
        &self,
        org: &OrgId,
        contact_id: &str,
        changes: &[ValueChange],
        expected: Option<u64>,
        now: &str,
        told: (&[Event], &[crate::contacts::PendingJob]),
    ) -> Result<Option<Contact>, DomainError> {
        let (outbox, jobs) = told;
        let mut set = Vec::new();
        let request = self.profile_update(org, contact_id, expected, now);
        let request = set_outbox(request, &mut set, outbox)?;
        let request = super::profile::add_pending_jobs(request, &mut set, jobs)?;
        let write = ValueWrite {
            org,
            contact_id,
            changes,
            expected,
            spare_pending: false,
        };
        self.send_value_update(request, &write, set).await
    }

    /// Records a CRM lookup's outcome on the profile, with the CRM-managed values it brought,
    /// field by field (an agent's edit of another field meanwhile is kept). `None` when the
    /// contact is gone or one of the values has an agent's change pending write-back.
    #[tracing::instrument(skip(self, crm, changes, now, outbox), fields(org = %org))]
    pub async fn record_lookup(
        &self,
        org: &OrgId,
        contact_id: &str,
        crm: &ContactCrm,
        changes: &[ValueChange],
        now: &str,
        outbox: &[Event],
    ) -> Result<Option<Contact>, DomainError> {
        let mut set = vec!["#crm = :crm".to_owned()];
        let request = self
            .profile_update(org, contact_id, None, now)
            .expression_attribute_names("#crm", "crm")
            .expression_attribute_values(
                ":crm",
                serde_dynamo::to_attribute_value(crm).map_err(failed)?,
            );
        let request = set_outbox(request, &mut set, outbox)?;
        let write = ValueWrite {
            org,
            contact_id,
            changes,
            expected: None,
            spare_pending: true,
        };
        self.send_value_update(request, &write, set).await
    }

    /// One `UpdateItem` writing each change's value, source and write-back state. With
    /// `spare_pending`, a change to a value whose agent change is still pending fails the whole
    /// update (`None`), so a CRM lookup never overwrites what an agent is writing back.
    /// Changes too many for DynamoDB's 4 KB expressions are written as whole maps instead.
    async fn send_value_update(
        &self,
        request: UpdateRequest,
        write: &ValueWrite<'_>,
        set: Vec<String>,
    ) -> Result<Option<Contact>, DomainError> {
        let changes = write.changes;
        let fields = FieldByField::of(changes, write.spare_pending);
        let (expression, condition) = fields.expressions(set.clone());
        let limit = |text: &str| text.len() <= EXPRESSION_LIMIT;
        if !limit(&expression) || !condition.as_deref().is_none_or(limit) {
            return self.rewrite_value_maps(request, write, set).await;
        }
        let mut request = request;
        for (n, change) in changes.iter().enumerate() {
            request = request.expression_attribute_names(format!("#{n}"), &change.definition_id);
            if let Some(value) = &change.value {
                let source = serde_dynamo::to_attribute_value(change.source).map_err(failed)?;
                request = request
                    .expression_attribute_values(format!(":v{n}"), AttributeValue::S(value.clone()))
                    .expression_attribute_values(format!(":s{n}"), source);
            }
            if let Some(state) = change.sync {
                let state = serde_dynamo::to_attribute_value(state).map_err(failed)?;
                request = request.expression_attribute_values(format!(":y{n}"), state);
            }
        }
        if let Some(condition) = condition {
            request = request
                .condition_expression(condition)
                .expression_attribute_values(":pending", pending()?);
        }
        if !changes.is_empty() {
            request = request
                .expression_attribute_names("#v", "values")
                .expression_attribute_names("#s", "sources")
                .expression_attribute_names("#y", "sync");
        }
        let result = request.update_expression(expression).send().await;
        conditional(result)?
            .and_then(|out| out.attributes)
            .map(contact_from_item)
            .transpose()
    }

    /// The changes applied to the profile as read, its `values`, `sources` and `sync` maps each
    /// written whole on the version read (read again after a concurrent write).
    async fn rewrite_value_maps(
        &self,
        request: UpdateRequest,
        write: &ValueWrite<'_>,
        mut set: Vec<String>,
    ) -> Result<Option<Contact>, DomainError> {
        set.push("#updated = :now, #v = :values, #s = :sources, #y = :sync".to_owned());
        let expression = format!("SET {} ADD #version :one", set.join(", "));
        retry_on_conflict(|| async {
            let Some(mut contact) = self.contact(write.org, write.contact_id).await? else {
                return Ok(None);
            };
            let pending =
                |c: &ValueChange| contact.sync.get(&c.definition_id) == Some(&SyncState::Pending);
            if write
                .expected
                .is_some_and(|expected| expected != contact.version)
                || (write.spare_pending && write.changes.iter().any(pending))
            {
                return Ok(None);
            }
            let read = contact.version;
            contact.apply(write.changes);
            let mut attempt = request
                .clone()
                .expression_attribute_names("#v", "values")
                .expression_attribute_names("#s", "sources")
                .expression_attribute_names("#y", "sync")
                .expression_attribute_values(":values", as_map(&contact.values)?)
                .expression_attribute_values(":sources", as_map(&contact.sources)?)
                .expression_attribute_values(":sync", as_map(&contact.sync)?)
                .update_expression(&expression);
            if write.expected.is_none() {
                // With `expected`, the profile update's own condition already names it.
                attempt = attempt
                    .condition_expression("#version = :read")
                    .expression_attribute_values(":read", AttributeValue::N(read.to_string()));
            }
            match conditional(attempt.send().await)? {
                Some(out) => Ok(out.attributes.map(contact_from_item).transpose()?),
                None if write.expected.is_some() => Ok(None),
                None => Err(SaveError::Conflict),
            }
        })
        .await
    }

    /// Settles one written-back value: its `sync` becomes `state` if it is still pending with
    /// the value that was sent (an agent who changed it meanwhile has a newer change pending).
    /// `false` when it was not.
    #[tracing::instrument(skip(self, sent, now), fields(org = %org))]
    pub async fn settle_write(
        &self,
        org: &OrgId,
        contact_id: &str,
        definition_id: &str,
        sent: Option<&str>,
        state: SyncState,
        now: &str,
    ) -> Result<bool, DomainError> {
        let same_value = match sent {
            Some(_) => "#values.#d = :sent",
            None => "attribute_not_exists(#values.#d)",
        };
        let mut request = self
            .profile_update(org, contact_id, None, now)
            .update_expression("SET #sync.#d = :state, #updated = :now ADD #version :one")
            .condition_expression(format!(
                "attribute_exists(PK) AND #sync.#d = :pending AND {same_value}"
            ))
            .expression_attribute_names("#sync", "sync")
            .expression_attribute_names("#values", "values")
            .expression_attribute_names("#d", definition_id)
            .expression_attribute_values(
                ":state",
                serde_dynamo::to_attribute_value(state).map_err(failed)?,
            )
            .expression_attribute_values(":pending", pending()?);
        if let Some(value) = sent {
            request = request.expression_attribute_values(":sent", AttributeValue::S(value.into()));
        }
        Ok(conditional(request.send().await)?.is_some())
    }
}

type UpdateRequest = aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;

/// Value changes for one contact's profile, and what they must not overwrite.
struct ValueWrite<'a> {
    org: &'a OrgId,
    contact_id: &'a str,
    changes: &'a [ValueChange],
    /// The version the caller read (`If-Match`).
    expected: Option<u64>,
    /// A value whose agent change is pending write-back fails the whole write.
    spare_pending: bool,
}

/// DynamoDB's limit on each expression of a request, in bytes.
const EXPRESSION_LIMIT: usize = 4096;

/// A field-by-field update of the changes: `#v.#n` is change n's value, `#s.#n` its source,
/// `#y.#n` its write-back state (short names, so some hundred changes fit in 4 KB).
struct FieldByField {
    set: Vec<String>,
    remove: Vec<String>,
    /// With `spare_pending`: no change touches a value pending write-back.
    condition: Option<String>,
}

impl FieldByField {
    fn of(changes: &[ValueChange], spare_pending: bool) -> Self {
        let (mut set, mut remove, mut pending) = (Vec::new(), Vec::new(), Vec::new());
        for (n, change) in changes.iter().enumerate() {
            match change.value {
                Some(_) => set.push(format!("#v.#{n}=:v{n},#s.#{n}=:s{n}")),
                None => remove.push(format!("#v.#{n},#s.#{n}")),
            }
            match change.sync {
                Some(_) => set.push(format!("#y.#{n}=:y{n}")),
                None => remove.push(format!("#y.#{n}")),
            }
            // A missing value compares unequal, so no `attribute_not_exists` is needed.
            pending.push(format!("#y.#{n}=:pending"));
        }
        let condition = (spare_pending && !pending.is_empty())
            .then(|| format!("NOT ({})", pending.join(" OR ")));
        Self {
            set,
            remove,
            condition,
        }
    }

    /// The update expression, after the profile update's own clauses in `set`, and the
    /// condition.
    fn expressions(&self, mut set: Vec<String>) -> (String, Option<String>) {
        set.push("#updated = :now".to_owned());
        set.extend(self.set.iter().cloned());
        let mut expression = format!("SET {} ADD #version :one", set.join(","));
        if !self.remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", self.remove.join(",")));
        }
        let condition = self
            .condition
            .as_ref()
            .map(|spared| format!("attribute_exists(PK) AND {spared}"));
        (expression, condition)
    }
}

fn as_map(map: &impl serde::Serialize) -> Result<AttributeValue, DomainError> {
    serde_dynamo::to_attribute_value(map).map_err(failed)
}

fn pending() -> Result<AttributeValue, DomainError> {
    serde_dynamo::to_attribute_value(SyncState::Pending).map_err(failed)
}
