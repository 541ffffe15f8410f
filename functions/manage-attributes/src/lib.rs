//! `manage-attributes`: org settings and contact attribute definitions (the admin screen).

use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};

use shared::ApiError;
use shared::attributes::{
    AttributeChange, CustomType, Definition, DropdownOptions, Label, NewAttribute,
};
use shared::auth::{Caller, Capability};
use shared::http::{HttpResult, Matched, Patch, json, json_body, no_content, non_null, ok};
use shared::idempotency;
use shared::ids::AttributeKey;
use shared::matching::MatchJob;
use shared::serve::HttpFunction;
use shared::settings::{self, MatchingAttribute};
use shared::store::{SaveError, retry_on_conflict};

shared::routes! {
    binary = "manage-attributes";
    "/settings" { GET => GetSettings: Read, PATCH => PatchSettings: ManageSettings }
    "/attributes" { GET => ListAttributes: Read, POST => CreateAttribute: ManageSettings }
    "/attributes/order" { PUT => ReorderAttributes: ManageSettings }
    "/attributes/{key}" {
        PATCH => PatchAttribute: ManageSettings, DELETE => DeleteAttribute: ManageSettings
    }
}

shared::app!(pub struct App { store, matching });

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsPatch {
    #[serde(default)]
    matching_attribute: Patch<String>,
    #[serde(default, deserialize_with = "non_null")]
    crm_edit_enabled: Option<bool>,
    #[serde(default)]
    vip_routing_team: Patch<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum RequestedType {
    Text,
    Dropdown,
    Boolean,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAttributeBody {
    label: String,
    #[serde(rename = "type")]
    ty: RequestedType,
    #[serde(default, deserialize_with = "non_null")]
    options: Option<Vec<String>>,
    #[serde(default, deserialize_with = "non_null")]
    key: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "non_null")]
    crm_managed: Option<bool>,
    #[serde(default, deserialize_with = "non_null")]
    lookup: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttributePatchBody {
    #[serde(default, deserialize_with = "non_null")]
    label: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    options: Option<Vec<String>>,
    #[serde(default, deserialize_with = "non_null")]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "non_null")]
    crm_managed: Option<bool>,
    #[serde(default, deserialize_with = "non_null")]
    lookup: Option<bool>,
}

/// Every definition, in display order.
#[derive(Serialize)]
struct Definitions {
    items: Vec<Definition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    keys: Vec<String>,
}

impl CreateAttributeBody {
    fn validate(self) -> Result<NewAttribute, ApiError> {
        let label = Label::parse(&self.label)?;
        let key = match &self.key {
            Some(raw) => AttributeKey::parse(raw).map_err(|_| {
                ApiError::validation(
                    "key",
                    "key must match ^[a-z][a-z0-9_]{0,39}$ and not be order",
                )
            })?,
            None => AttributeKey::derive_from_label(label.as_str()).ok_or_else(|| {
                ApiError::validation(
                    "key",
                    "no key can be derived from this label (or it is order); give a key",
                )
            })?,
        };
        let ty = match (self.ty, self.options) {
            (RequestedType::Boolean, _) => {
                return Err(ApiError::validation(
                    "type",
                    "custom attributes are text or dropdown",
                ));
            }
            (RequestedType::Text, Some(_)) => {
                return Err(ApiError::validation(
                    "options",
                    "a text attribute takes no options",
                ));
            }
            (RequestedType::Text, None) => CustomType::Text,
            (RequestedType::Dropdown, None) => {
                return Err(ApiError::validation("options", "a dropdown needs options"));
            }
            (RequestedType::Dropdown, Some(raw)) => {
                CustomType::Dropdown(DropdownOptions::parse(&raw)?)
            }
        };
        Ok(NewAttribute {
            key,
            label,
            ty,
            enabled: self.enabled.unwrap_or(true),
            crm_managed: self.crm_managed.unwrap_or(false),
            lookup: self.lookup.unwrap_or(false),
        })
    }
}

impl App {
    #[tracing::instrument(skip_all, fields(org = %caller.org))]
    async fn get_settings(&self, caller: &Caller) -> HttpResult {
        let (settings, _) = self.store.org_config(&caller.org).await?;
        Ok(ok(&settings.value.view(caller.plan)))
    }

    #[tracing::instrument(skip_all, fields(org = %caller.org, user = %caller.user_id))]
    async fn patch_settings(&self, caller: &Caller, req: &Request) -> HttpResult {
        let patch: SettingsPatch = json_body(req)?;
        if patch.crm_edit_enabled.is_some() {
            caller.require(Capability::Crm)?;
        }
        let team = match &patch.vip_routing_team {
            Patch::Set(raw) => Patch::Set(settings::routing_team(raw)?),
            Patch::Clear => Patch::Clear,
            Patch::Keep => Patch::Keep,
        };
        let saved = retry_on_conflict(|| async {
            let (mut stored, attributes) = self.store.org_config(&caller.org).await?;
            let before = stored.value.matching_attribute.clone();
            let mut custom_guard = None;
            match &patch.matching_attribute {
                Patch::Keep => {}
                Patch::Clear => stored.value.matching_attribute = None,
                Patch::Set(key) => {
                    match settings::matching_attribute(key, &attributes.value)? {
                        MatchingAttribute::Custom(k) => custom_guard = Some(k),
                        MatchingAttribute::Platform(_) => {}
                    }
                    stored.value.matching_attribute = Some(key.clone());
                }
            }
            if stored.value.matching_attribute != before {
                stored.value.match_generation += 1;
            }
            if let Some(enabled) = patch.crm_edit_enabled {
                stored.value.crm_edit_enabled = enabled;
            }
            match &team {
                Patch::Keep => {}
                Patch::Clear => stored.value.vip_routing_team = None,
                Patch::Set(name) => stored.value.vip_routing_team = Some(name.clone()),
            }
            self.store
                .save_settings(
                    &caller.org,
                    &stored,
                    self.env.now(),
                    custom_guard.as_deref(),
                )
                .await?;
            Ok::<_, SaveError<ApiError>>(stored.value)
        })
        .await?;
        // Sent whenever the matching attribute is named, changed or not: re-sending the same
        // value repairs links if an earlier job was lost.
        if patch.matching_attribute != Patch::Keep {
            self.matching
                .send(&MatchJob::Org {
                    org_id: caller.org.clone(),
                    generation: saved.match_generation,
                    progress: None,
                })
                .await?;
        }
        tracing::info!("settings changed");
        Ok(ok(&saved.view(caller.plan)))
    }

    #[tracing::instrument(skip_all, fields(org = %caller.org))]
    async fn list_attributes(&self, caller: &Caller) -> HttpResult {
        let (_, attributes) = self.store.org_config(&caller.org).await?;
        Ok(ok(&Definitions {
            items: attributes.value.definitions(),
        }))
    }

    #[tracing::instrument(skip_all, fields(org = %caller.org, user = %caller.user_id))]
    async fn create_attribute(&self, caller: &Caller, req: &Request) -> HttpResult {
        let body: CreateAttributeBody = json_body(req)?;
        if body.crm_managed == Some(true) || body.lookup == Some(true) {
            caller.require(Capability::Crm)?;
        }
        let new = body.validate()?;
        let id = self.env.ids.new_id();
        let created = retry_on_conflict(|| async {
            let (_, mut stored) = self.store.org_config(&caller.org).await?;
            let created = stored.value.create(new.clone(), id.clone())?;
            self.store
                .save_attribute_set(&caller.org, &stored, self.env.now(), None)
                .await?;
            Ok::<_, SaveError<ApiError>>(created)
        })
        .await?;
        tracing::info!(key = %created.key, "attribute created");
        Ok(json(StatusCode::CREATED, &created))
    }

    #[tracing::instrument(skip_all, fields(org = %caller.org, user = %caller.user_id))]
    async fn reorder_attributes(&self, caller: &Caller, req: &Request) -> HttpResult {
        let body: OrderBody = json_body(req)?;
        let definitions = retry_on_conflict(|| async {
            let (_, mut stored) = self.store.org_config(&caller.org).await?;
            stored.value.reorder(&body.keys)?;
            self.store
                .save_attribute_set(&caller.org, &stored, self.env.now(), None)
                .await?;
            Ok::<_, SaveError<ApiError>>(stored.value.definitions())
        })
        .await?;
        Ok(ok(&Definitions { items: definitions }))
    }

    #[tracing::instrument(skip(self, caller, req), fields(org = %caller.org, user = %caller.user_id))]
    async fn patch_attribute(&self, caller: &Caller, key: &str, req: &Request) -> HttpResult {
        let body: AttributePatchBody = json_body(req)?;
        if body.crm_managed.is_some() || body.lookup.is_some() {
            caller.require(Capability::Crm)?;
        }
        let change = AttributeChange {
            label: body.label.as_deref().map(Label::parse).transpose()?,
            options: body.options,
            enabled: body.enabled,
            crm_managed: body.crm_managed,
            lookup: body.lookup,
        };
        let changed = retry_on_conflict(|| async {
            let (_, mut stored) = self.store.org_config(&caller.org).await?;
            let changed = stored.value.change(key, change.clone())?;
            self.store
                .save_attribute_set(&caller.org, &stored, self.env.now(), None)
                .await?;
            Ok::<_, SaveError<ApiError>>(changed)
        })
        .await?;
        Ok(ok(&changed))
    }

    #[tracing::instrument(skip(self, caller), fields(org = %caller.org, user = %caller.user_id))]
    async fn delete_attribute(&self, caller: &Caller, key: &str) -> HttpResult {
        retry_on_conflict(|| async {
            let (settings, mut stored) = self.store.org_config(&caller.org).await?;
            stored.value.remove(key)?;
            if settings.value.matching_attribute.as_deref() == Some(key) {
                return Err(SaveError::Failed(ApiError::conflict(
                    Some("key"),
                    "this attribute is the matching attribute; choose another one first",
                )));
            }
            self.store
                .save_attribute_set(&caller.org, &stored, self.env.now(), Some(key))
                .await?;
            Ok(())
        })
        .await?;
        tracing::info!("attribute deleted");
        Ok(no_content())
    }
}

impl HttpFunction for App {
    type RouteId = RouteId;

    async fn dispatch(&self, route: Matched<RouteId>, req: &Request) -> HttpResult {
        let (caller, key) = (route.caller.clone(), route.param("key"));
        match route.id {
            RouteId::GetSettings => self.get_settings(&caller).await,
            RouteId::PatchSettings => self.patch_settings(&caller, req).await,
            RouteId::ListAttributes => self.list_attributes(&caller).await,
            RouteId::CreateAttribute => {
                idempotency::once(&self.store, &self.env, &caller, req, || {
                    self.create_attribute(&caller, req)
                })
                .await
            }
            RouteId::ReorderAttributes => self.reorder_attributes(&caller, req).await,
            RouteId::PatchAttribute => self.patch_attribute(&caller, key, req).await,
            RouteId::DeleteAttribute => self.delete_attribute(&caller, key).await,
        }
    }
}
