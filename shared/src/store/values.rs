//! Custom values on a contact's profile, written field by field with who set them and their
//! CRM write-back state: agents' edits, CRM lookups and settled write-backs.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::profile::{contact_from_item, set_outbox};
use super::{Store, conditional, failed};
use crate::contacts::{Contact, SyncState, ValueChange};
use crate::crm::ContactCrm;
use crate::error::DomainError;
use crate::events::Event;
use crate::ids::OrgId;
use crate::retry::Backoff;

impl Store {
    /// Sets and clears custom values one field at a time, so edits of different fields never
    /// wait for each other; with `expected`, only while the profile still has that version.
    /// `None` when the contact is gone or `expected` no longer holds.
    #[tracing::instrument(skip(self, changes, now, outbox), fields(org = %org))]
    pub async fn update_values(
        &self,
        org: &OrgId,
        contact_id: &str,
        changes: &[ValueChange],
        expected: Option<u64>,
        now: &str,
        outbox: &[Event],
    ) -> Result<Option<Contact>, DomainError> {
        let mut set = Vec::new();
        let request = self.profile_update(org, contact_id, expected, now);
        let request = set_outbox(request, &mut set, outbox)?;
        self.send_value_update(request, changes, set, expected, false)
            .await
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
        self.send_value_update(request, changes, set, None, true)
            .await
    }

    /// One `UpdateItem` writing each change's value, source and write-back state. With
    /// `spare_pending`, a change to a value whose agent change is still pending fails the whole
    /// update (`None`), so a CRM lookup never overwrites what an agent is writing back.
    /// Changes too many for DynamoDB's 4 KB expressions are written as whole maps instead.
    async fn send_value_update(
        &self,
        request: UpdateRequest,
        changes: &[ValueChange],
        set: Vec<String>,
        expected: Option<u64>,
        spare_pending: bool,
    ) -> Result<Option<Contact>, DomainError> {
        let fields = FieldByField::of(changes, spare_pending);
        let (expression, condition) = fields.expressions(set.clone());
        let limit = |text: &str| text.len() <= EXPRESSION_LIMIT;
        if !limit(&expression) || !condition.as_deref().is_none_or(limit) {
            return self
                .rewrite_value_maps(request, changes, set, expected, spare_pending)
                .await;
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

    /// The changes applied to the profile's `values`, `sources` and `sync` maps as read, each
    /// map written whole on the version read (read again after a concurrent write).
    async fn rewrite_value_maps(
        &self,
        request: UpdateRequest,
        changes: &[ValueChange],
        mut set: Vec<String>,
        expected: Option<u64>,
        spare_pending: bool,
    ) -> Result<Option<Contact>, DomainError> {
        let key = request
            .get_key()
            .clone()
            .ok_or_else(|| DomainError::failed("a profile update names its key"))?;
        set.push("#updated = :now, #v = :values, #s = :sources, #y = :sync".to_owned());
        let pending = pending()?;
        let mut backoff = Backoff::new();
        while backoff.next_try().await {
            let Some(item) = self.get_consistent(key.clone()).await? else {
                return Ok(None);
            };
            let version = item
                .get("version")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            if expected.is_some_and(|expected| expected != version) {
                return Ok(None);
            }
            let map = |name: &str| match item.get(name) {
                Some(AttributeValue::M(map)) => map.clone(),
                _ => HashMap::new(),
            };
            let (mut values, mut sources, mut sync) = (map("values"), map("sources"), map("sync"));
            for change in changes {
                let id = &change.definition_id;
                if spare_pending && sync.get(id) == Some(&pending) {
                    return Ok(None);
                }
                match &change.value {
                    Some(value) => {
                        values.insert(id.clone(), AttributeValue::S(value.clone()));
                        let source =
                            serde_dynamo::to_attribute_value(change.source).map_err(failed)?;
                        sources.insert(id.clone(), source);
                    }
                    None => {
                        values.remove(id);
                        sources.remove(id);
                    }
                }
                match change.sync {
                    Some(state) => {
                        let state = serde_dynamo::to_attribute_value(state).map_err(failed)?;
                        sync.insert(id.clone(), state);
                    }
                    None => {
                        sync.remove(id);
                    }
                }
            }
            let mut attempt = request
                .clone()
                .expression_attribute_names("#v", "values")
                .expression_attribute_names("#s", "sources")
                .expression_attribute_names("#y", "sync")
                .expression_attribute_values(":values", AttributeValue::M(values))
                .expression_attribute_values(":sources", AttributeValue::M(sources))
                .expression_attribute_values(":sync", AttributeValue::M(sync))
                .update_expression(format!("SET {} ADD #version :one", set.join(", ")));
            if expected.is_none() {
                // With `expected`, the profile update's own condition already names it.
                attempt = attempt
                    .condition_expression("#version = :read")
                    .expression_attribute_values(":read", AttributeValue::N(version.to_string()));
            }
            match conditional(attempt.send().await)? {
                Some(out) => return out.attributes.map(contact_from_item).transpose(),
                None if expected.is_some() => return Ok(None),
                None => {}
            }
        }
        Err(DomainError::Contended(
            "the contact is being changed by someone else; try again",
        ))
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
            .expression_attribute_values(
                ":pending",
                serde_dynamo::to_attribute_value(SyncState::Pending).map_err(failed)?,
            );
        if let Some(value) = sent {
            request = request.expression_attribute_values(":sent", AttributeValue::S(value.into()));
        }
        Ok(conditional(request.send().await)?.is_some())
    }
}

type UpdateRequest = aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;

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

fn pending() -> Result<AttributeValue, DomainError> {
    serde_dynamo::to_attribute_value(SyncState::Pending).map_err(failed)
}
