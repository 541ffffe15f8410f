//! The org's singleton items: settings and attribute definitions, each saved on its version,
//! with a guard on the other where one rule spans both.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use super::{Head, Item, SaveError, Store, Stored, failed, key, put_on_version};
use crate::attributes::AttributeSet;
use crate::clock::rfc3339;
use crate::crm::CrmConnection;
use crate::error::DomainError;
use crate::ids::OrgId;
use crate::keys;
use crate::settings::Settings;

/// A singleton item of an org (settings, attribute definitions): the value under `data`.
#[derive(Serialize, serde::Deserialize)]
struct SingletonItem<T> {
    #[serde(flatten)]
    head: Head,
    version: u64,
    created_at: String,
    updated_at: String,
    data: T,
}

struct Singleton {
    sk: &'static str,
    entity: &'static str,
}

const SETTINGS: Singleton = Singleton {
    sk: keys::SETTINGS_SK,
    entity: "settings",
};
const ATTRIBUTE_DEFINITIONS: Singleton = Singleton {
    sk: keys::ATTRIBUTE_DEFINITIONS_SK,
    entity: "attribute_definitions",
};

impl Store {
    /// Settings and attribute definitions in one strongly consistent round trip.
    #[tracing::instrument(skip(self), fields(org = %org))]
    pub async fn org_config(
        &self,
        org: &OrgId,
    ) -> Result<(Stored<Settings>, Stored<AttributeSet>), DomainError> {
        let items = self
            .batch_get(vec![
                key(org, SETTINGS.sk),
                key(org, ATTRIBUTE_DEFINITIONS.sk),
            ])
            .await?;
        let (settings, definitions, _) = split_org_config(org, items)?;
        Ok((settings, definitions))
    }

    /// Saves settings if nobody changed them since they were read. With `custom_matching_key`,
    /// the same transaction checks that this custom text attribute still exists.
    #[tracing::instrument(skip(self, settings, now), fields(org = %org, version = settings.version))]
    pub async fn save_settings(
        &self,
        org: &OrgId,
        settings: &Stored<Settings>,
        now: OffsetDateTime,
        custom_matching_key: Option<&str>,
    ) -> Result<(), SaveError> {
        let guard = custom_matching_key.map(|k| {
            ConditionCheck::builder()
                .set_key(Some(key(org, ATTRIBUTE_DEFINITIONS.sk)))
                .condition_expression(
                    "attribute_exists(#data.#custom.#k) AND #data.#custom.#k.#type = :text",
                )
                .expression_attribute_names("#custom", "custom")
                .expression_attribute_names("#k", k)
                .expression_attribute_names("#type", "type")
                .expression_attribute_values(":text", AttributeValue::S("text".into()))
        });
        self.save(org, &SETTINGS, settings, now, guard).await
    }

    /// Saves attribute definitions if nobody changed them since they were read. With
    /// `unless_matching`, the same transaction checks that this key is not the org's matching
    /// attribute (used when deleting it).
    #[tracing::instrument(skip(self, set, now), fields(org = %org, version = set.version))]
    pub async fn save_attribute_set(
        &self,
        org: &OrgId,
        set: &Stored<AttributeSet>,
        now: OffsetDateTime,
        unless_matching: Option<&str>,
    ) -> Result<(), SaveError> {
        let guard = unless_matching.map(|k| {
            ConditionCheck::builder()
                .set_key(Some(key(org, SETTINGS.sk)))
                .condition_expression("attribute_not_exists(#data.#m) OR #data.#m <> :k")
                .expression_attribute_names("#m", "matching_attribute")
                .expression_attribute_values(":k", AttributeValue::S(k.to_owned()))
        });
        self.save(org, &ATTRIBUTE_DEFINITIONS, set, now, guard)
            .await
    }

    /// Puts a singleton on its version condition; with a guard, in one transaction with that
    /// condition check on the org's other item (its expression may use `#data`).
    async fn save<T: Serialize>(
        &self,
        org: &OrgId,
        singleton: &Singleton,
        stored: &Stored<T>,
        now: OffsetDateTime,
        guard: Option<aws_sdk_dynamodb::types::builders::ConditionCheckBuilder>,
    ) -> Result<(), SaveError> {
        let put = self.versioned_put(org, singleton, stored, now)?;
        let guard = guard
            .map(|check| {
                check
                    .table_name(&self.table)
                    .expression_attribute_names("#data", "data")
                    .build()
                    .map_err(failed)
            })
            .transpose()?;
        self.write(put, guard).await
    }

    fn versioned_put<T: Serialize>(
        &self,
        org: &OrgId,
        singleton: &Singleton,
        stored: &Stored<T>,
        now: OffsetDateTime,
    ) -> Result<Put, DomainError> {
        let now = rfc3339(now);
        let item = SingletonItem {
            head: Head::new(
                keys::org_pk(org),
                singleton.sk.to_owned(),
                singleton.entity.to_owned(),
            ),
            version: stored.version + 1,
            created_at: stored.created_at.clone().unwrap_or_else(|| now.clone()),
            updated_at: now,
            data: &stored.value,
        };
        let item = serde_dynamo::to_item(item).map_err(failed)?;
        let builder = Put::builder().table_name(&self.table).set_item(Some(item));
        put_on_version(builder, stored.version)
            .build()
            .map_err(failed)
    }
}

/// An org's settings and attribute definitions, and whatever else a batch read returned.
type OrgConfigAndRest = (Stored<Settings>, Stored<AttributeSet>, Vec<Item>);

/// An org's settings, attribute definitions and CRM connection, and the other items read
/// beside them.
type OrgContextAndRest = (
    Stored<Settings>,
    Stored<AttributeSet>,
    Option<CrmConnection>,
    Vec<Item>,
);

impl Store {
    /// What every decision about an org's contact starts from (settings, definitions, the CRM
    /// connection) and the `more` items the decision needs, in one strongly consistent round
    /// trip.
    pub(super) async fn org_context_with(
        &self,
        org: &OrgId,
        more: impl IntoIterator<Item = Item>,
    ) -> Result<OrgContextAndRest, DomainError> {
        let mut wanted = vec![
            key(org, keys::SETTINGS_SK),
            key(org, keys::ATTRIBUTE_DEFINITIONS_SK),
            key(org, keys::CRM_SK),
        ];
        wanted.extend(more);
        let (settings, definitions, mut rest) =
            split_org_config(org, self.batch_get(wanted).await?)?;
        let crm = super::crm::take_connection(&mut rest)?;
        Ok((settings, definitions, crm, rest))
    }
}

/// Picks settings and attribute definitions out of a batch read; the other items are returned.
fn split_org_config(org: &OrgId, items: Vec<Item>) -> Result<OrgConfigAndRest, DomainError> {
    let mut settings = Stored::default();
    let mut definitions = Stored::default();
    let mut rest = Vec::new();
    let org_pk = keys::org_pk(org);
    for item in items {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let (pk, sk) = (text(keys::PK), text(keys::SK));
        let org_singleton = pk.as_deref() == Some(org_pk.as_str());
        match (org_singleton, sk.as_deref()) {
            (true, Some(keys::SETTINGS_SK)) => settings = from_item(item)?,
            (true, Some(keys::ATTRIBUTE_DEFINITIONS_SK)) => definitions = from_item(item)?,
            _ => rest.push(item),
        }
    }
    Ok((settings, definitions, rest))
}

fn from_item<T: DeserializeOwned>(
    item: HashMap<String, AttributeValue>,
) -> Result<Stored<T>, DomainError> {
    let item: SingletonItem<T> = serde_dynamo::from_item(item).map_err(failed)?;
    Ok(Stored {
        value: item.data,
        version: item.version,
        created_at: Some(item.created_at),
    })
}
