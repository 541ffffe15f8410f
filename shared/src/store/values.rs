//! Custom values on a contact's profile, written field by field with who set them and their
//! CRM write-back state: agents' edits, CRM lookups and settled write-backs.

use aws_sdk_dynamodb::types::AttributeValue;

use super::profile::{contact_from_item, set_outbox};
use super::{Store, conditional, failed};
use crate::contacts::{Contact, SyncState, ValueChange};
use crate::crm::ContactCrm;
use crate::error::DomainError;
use crate::events::Event;
use crate::ids::OrgId;

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
        self.send_value_update(request, changes, set, false).await
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
        self.send_value_update(request, changes, set, true).await
    }

    /// One `UpdateItem` writing each change's value, source and write-back state. With
    /// `spare_pending`, a change to a value whose agent change is still pending fails the whole
    /// update (`None`), so a CRM lookup never overwrites what an agent is writing back.
    async fn send_value_update(
        &self,
        mut request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        changes: &[ValueChange],
        mut set: Vec<String>,
        spare_pending: bool,
    ) -> Result<Option<Contact>, DomainError> {
        set.push("#updated = :now".to_owned());
        let mut remove = Vec::new();
        let mut spared = Vec::new();
        for (n, change) in changes.iter().enumerate() {
            request = request.expression_attribute_names(format!("#d{n}"), &change.definition_id);
            match &change.value {
                Some(value) => {
                    set.push(format!("#values.#d{n} = :d{n}, #sources.#d{n} = :s{n}"));
                    let source = serde_dynamo::to_attribute_value(change.source).map_err(failed)?;
                    request = request
                        .expression_attribute_values(
                            format!(":d{n}"),
                            AttributeValue::S(value.clone()),
                        )
                        .expression_attribute_values(format!(":s{n}"), source);
                }
                None => remove.push(format!("#values.#d{n}, #sources.#d{n}")),
            }
            match change.sync {
                Some(state) => {
                    set.push(format!("#sync.#d{n} = :y{n}"));
                    let state = serde_dynamo::to_attribute_value(state).map_err(failed)?;
                    request = request.expression_attribute_values(format!(":y{n}"), state);
                }
                None => remove.push(format!("#sync.#d{n}")),
            }
            if spare_pending {
                spared.push(format!(
                    "(attribute_not_exists(#sync.#d{n}) OR #sync.#d{n} <> :pending)"
                ));
            }
        }
        if !spared.is_empty() {
            request = request
                .condition_expression(format!("attribute_exists(PK) AND {}", spared.join(" AND ")))
                .expression_attribute_values(
                    ":pending",
                    serde_dynamo::to_attribute_value(SyncState::Pending).map_err(failed)?,
                );
        }
        let mut expression = format!("SET {} ADD #version :one", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        if !changes.is_empty() {
            request = request
                .expression_attribute_names("#values", "values")
                .expression_attribute_names("#sources", "sources")
                .expression_attribute_names("#sync", "sync");
        }
        let result = request.update_expression(expression).send().await;
        conditional(result)?
            .and_then(|out| out.attributes)
            .map(contact_from_item)
            .transpose()
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
