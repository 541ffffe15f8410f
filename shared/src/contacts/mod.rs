//! Contacts: the stored profile, the view an agent sees, and the rules for editing values.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::attributes::{AttrType, AttributeSet, CustomType, Kind, VIP_KEY, platform_attribute};
use crate::auth::{Caller, Capability, Role};
use crate::channel::{Channel, Network};
use crate::error::ApiError;
use crate::settings::Settings;
use crate::text::{self, LineBreaks};

pub const TEXT_VALUE_MAX_CHARS: usize = 1000;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub channel: Channel,
    pub network: Network,
    pub user_id: String,
    pub handle: Option<String>,
}

crate::debug_showing!(Identity { channel, network });
crate::debug_showing!(Profile { network });
crate::debug_showing!(Contact {
    id,
    profile,
    vip,
    version
});

/// Who the person is on their channels: what their latest message said of them, the network
/// they were first seen on and every identity they wrote from. The stored contact and the
/// view an agent sees carry it alike.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub handle: Option<String>,
    pub avatar_url: Option<String>,
    pub profile_url: Option<String>,
    pub network: Network,
    pub identities: Vec<Identity>,
}

/// A job for one of the workers' queues, kept on a profile until it is queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "queue", content = "job", rename_all = "snake_case")]
pub enum PendingJob {
    Crm(crate::crm::CrmJob),
    Match(crate::matching::MatchJob),
}

/// A match link written ahead of the filing it belongs to (see [`Contact::match_pending`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLink {
    pub generation: u64,
    pub hash: String,
}

/// A contact as stored in its `PROFILE` item.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: String,
    #[serde(flatten)]
    pub profile: Profile,
    pub vip: bool,
    /// Platform attribute values by catalogue key; written only by ingest.
    #[serde(default)]
    pub platform: BTreeMap<String, String>,
    /// Custom attribute values by the definition's internal id, never by key.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// Hash of the normalised matching value this contact is filed under, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_hash: Option<String>,
    #[serde(default)]
    pub match_generation: u64,
    /// The link an org-wide re-match wrote for the contact ahead of filing it: until the
    /// re-match files it (or a change moves it first), the contact is in that group too, and
    /// whoever moves or deletes it removes that link as well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_pending: Option<PendingLink>,
    /// Who set each custom value, by definition id (values from before this was kept read as
    /// an agent's).
    #[serde(default)]
    pub sources: BTreeMap<String, ValueSource>,
    /// Where agents' changes to CRM-managed values stand with the CRM, by definition id.
    #[serde(default)]
    pub sync: BTreeMap<String, SyncState>,
    /// The last CRM lookup's outcome, under the connection it ran under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm: Option<crate::crm::ContactCrm>,
    /// Work a committed change asked of a worker and not yet known to be queued: written with
    /// the change, removed once queued, so a function that dies after its commit leaves it to
    /// its retry (or the next change) to queue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_jobs: Vec<PendingJob>,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

crate::debug_showing!(AttributeValueView { key, source, sync });

#[derive(Serialize)]
pub struct AttributeValueView {
    pub key: String,
    pub label: String,
    pub kind: Kind,
    #[serde(rename = "type")]
    pub ty: AttrType,
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    pub editable: bool,
    pub crm_managed: bool,
    pub lookup: bool,
    /// Who set the current value; `None` while it is empty.
    pub source: Option<ValueSource>,
    /// The CRM write-back state of an agent's change to a CRM-managed value; `None` for
    /// anything else.
    pub sync: Option<SyncState>,
}

/// A contact's standing with the org's CRM, as the contact view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrmView {
    pub status: LookupStatus,
    pub record_id: Option<String>,
    pub record_url: Option<String>,
    pub last_lookup_at: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupStatus {
    Never,
    Pending,
    Found,
    NotFound,
    Multiple,
    Error,
}

impl LookupStatus {
    /// The contract's name for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            LookupStatus::Never => "never",
            LookupStatus::Pending => "pending",
            LookupStatus::Found => "found",
            LookupStatus::NotFound => "not_found",
            LookupStatus::Multiple => "multiple",
            LookupStatus::Error => "error",
        }
    }
}

/// Who set an attribute's current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueSource {
    Channel,
    Agent,
    Automation,
    Crm,
}

/// Where an agent's change to a CRM-managed value stands with the CRM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncState {
    Pending,
    Synced,
    Failed,
}

crate::debug_showing!(ContactView { id, version });

#[derive(Serialize)]
pub struct ContactView {
    pub id: String,
    #[serde(flatten)]
    pub profile: Profile,
    pub validated: bool,
    pub vip: bool,
    /// The contact's CRM state; `null` while the org has no CRM connection.
    pub crm: Option<CrmView>,
    pub attributes: Vec<AttributeValueView>,
    /// At most [`Linked::PREVIEW`] of the contacts sharing its matching value.
    pub linked_contact_ids: Vec<String>,
    /// How many contacts share its matching value (`GET /contacts/{id}/linked` pages them).
    pub linked_count: usize,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

crate::debug_showing!(ContactSummary { id, vip, validated });

#[derive(Serialize)]
pub struct ContactSummary {
    pub id: String,
    pub name: String,
    pub handle: Option<String>,
    pub network: Network,
    pub vip: bool,
    pub validated: bool,
    pub updated_at: String,
}

crate::debug_showing!(ListedContact { id, vip });

/// A contact as the listing indexes project it: only what a list entry shows. Its attribute
/// names are the stored contact's, so a full profile item reads as one too; `template.yaml`'s
/// `NonKeyAttributes` of GSI1 name exactly these fields.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedContact {
    pub id: String,
    pub name: String,
    pub handle: Option<String>,
    pub network: Network,
    pub vip: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm: Option<crate::crm::ContactCrm>,
    pub updated_at: String,
}

impl ListedContact {
    /// The list entry; `validated` under the org's CRM connection, as in the view.
    pub fn summary(&self, crm: Option<&crate::crm::CrmConnection>) -> ContactSummary {
        ContactSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            handle: self.handle.clone(),
            network: self.network,
            vip: self.vip,
            validated: crate::crm::validated(self.crm.as_ref(), crm),
            updated_at: self.updated_at.clone(),
        }
    }
}

impl Contact {
    /// A contact first seen now on `network`: no identities, values or links yet, and version
    /// 0 until its first write.
    pub fn new(id: String, network: Network, now: &str) -> Self {
        Self {
            id,
            profile: Profile {
                name: String::new(),
                handle: None,
                avatar_url: None,
                profile_url: None,
                network,
                identities: Vec::new(),
            },
            vip: false,
            platform: BTreeMap::new(),
            values: BTreeMap::new(),
            match_hash: None,
            match_generation: 0,
            match_pending: None,
            crm: None,
            pending_jobs: Vec::new(),
            sources: BTreeMap::new(),
            sync: BTreeMap::new(),
            version: 0,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        }
    }

    /// The group the contact is in under `generation`: the one it is filed under, or the one a
    /// re-match linked it to ahead of filing it.
    pub fn linked_under(&self, generation: u64) -> Option<&String> {
        if self.match_generation == generation {
            return self.match_hash.as_ref();
        }
        self.match_pending
            .as_ref()
            .filter(|p| p.generation == generation)
            .map(|p| &p.hash)
    }

    /// Every match link the contact has: its filing's, and one written ahead of a filing.
    pub fn match_links(&self) -> Vec<(u64, String)> {
        let filed = self
            .match_hash
            .clone()
            .map(|hash| (self.match_generation, hash));
        let ahead = self
            .match_pending
            .as_ref()
            .map(|p| (p.generation, p.hash.clone()));
        let mut links: Vec<(u64, String)> = filed.into_iter().chain(ahead).collect();
        links.dedup();
        links
    }

    /// The id as the typed id queue messages carry; every stored contact has a UUID id.
    pub fn typed_id(&self) -> Result<crate::ids::ContactId, crate::DomainError> {
        crate::ids::ContactId::parse(&self.id)
            .map_err(|_| crate::DomainError::failed("a stored contact without a UUID id"))
    }

    pub fn channels(&self) -> impl Iterator<Item = Channel> + '_ {
        self.profile.identities.iter().map(|i| i.channel)
    }

    /// The list entry; `validated` under the org's CRM connection, as in the view.
    pub fn summary(&self, crm: Option<&crate::crm::CrmConnection>) -> ContactSummary {
        self.listed().summary(crm)
    }

    /// What the listing index holds of this contact.
    pub fn listed(&self) -> ListedContact {
        ListedContact {
            id: self.id.clone(),
            name: self.profile.name.clone(),
            handle: self.profile.handle.clone(),
            network: self.profile.network,
            vip: self.vip,
            crm: self.crm.clone(),
            updated_at: self.updated_at.clone(),
        }
    }

    /// Applies validated value changes, with who made them and their write-back state.
    pub fn apply(&mut self, changes: &[ValueChange]) {
        for change in changes {
            let id = change.definition_id.clone();
            match &change.value {
                Some(value) => {
                    self.values.insert(id.clone(), value.clone());
                    self.sources.insert(id.clone(), change.source);
                }
                None => {
                    self.values.remove(&id);
                    self.sources.remove(&id);
                }
            };
            match change.sync {
                Some(state) => self.sync.insert(id, state),
                None => self.sync.remove(&id),
            };
        }
    }

    /// The keys whose value these changes really change, in order.
    pub fn changed_keys(&self, changes: &[ValueChange]) -> Vec<String> {
        changes
            .iter()
            .filter(|c| self.values.get(&c.definition_id) != c.value.as_ref())
            .map(|c| c.key.clone())
            .collect()
    }

    /// The agents' changes to CRM-managed values not yet written back: `(definition id,
    /// value)`, `None` for a cleared value.
    pub fn pending_writes(&self) -> Vec<(String, Option<String>)> {
        self.sync
            .iter()
            .filter(|(_, state)| **state == SyncState::Pending)
            .map(|(id, _)| (id.clone(), self.values.get(id).cloned()))
            .collect()
    }

    /// The value of any attribute by key: platform values by key, custom ones by definition id.
    pub fn value_of(&self, key: &str, definitions: &AttributeSet) -> Option<&str> {
        if platform_attribute(key).is_some() {
            return self.platform.get(key).map(String::as_str);
        }
        let custom = definitions.custom.get(key)?;
        self.values.get(&custom.id).map(String::as_str)
    }

    /// The enabled, non-empty values by key (`vip` has its own field), as events carry them.
    pub fn present_values(&self, definitions: &AttributeSet) -> BTreeMap<String, String> {
        definitions
            .definitions()
            .into_iter()
            .filter(|d| d.enabled && d.key != VIP_KEY)
            .filter_map(|d| {
                let value = self.value_of(&d.key, definitions)?.to_owned();
                Some((d.key.to_string(), value))
            })
            .collect()
    }

    /// What the caller sees: enabled definitions in display order, platform ones only for this
    /// contact's channels, `vip` on its own field, and whether the caller may edit each now.
    pub fn view(
        &self,
        definitions: &AttributeSet,
        settings: &Settings,
        crm: Option<&crate::crm::CrmConnection>,
        caller: &Caller,
        linked: Linked,
    ) -> ContactView {
        let may_fill = caller.may(Capability::FillAttributes);
        let channels: Vec<Channel> = self.channels().collect();
        let attributes = definitions
            .definitions()
            .into_iter()
            .filter(|d| d.enabled && d.key != VIP_KEY)
            .filter(|d| match d.kind {
                Kind::Platform => d
                    .channels
                    .as_ref()
                    .is_some_and(|cs| cs.iter().any(|c| channels.contains(c))),
                _ => true,
            })
            .map(|d| {
                let editable = d.kind == Kind::Custom
                    && may_fill
                    && (!d.crm_managed || ValueSource::of(caller).may_change_crm_managed(settings));
                let value = self.value_of(&d.key, definitions).map(str::to_owned);
                let id = definitions.custom.get(&d.key).map(|c| c.id.as_str());
                let source = value.as_ref().map(|_| match (d.kind, id) {
                    (Kind::Platform, _) => ValueSource::Channel,
                    (_, Some(id)) => self.sources.get(id).copied().unwrap_or(ValueSource::Agent),
                    (_, None) => ValueSource::Agent,
                });
                let sync = id.and_then(|id| self.sync.get(id).copied());
                AttributeValueView {
                    value,
                    source,
                    sync,
                    lookup: d.lookup,
                    key: d.key,
                    label: d.label,
                    kind: d.kind,
                    ty: d.ty,
                    options: d.options,
                    editable,
                    crm_managed: d.crm_managed,
                }
            })
            .collect();
        ContactView {
            id: self.id.clone(),
            profile: self.profile.clone(),
            validated: self.validated_under(crm),
            vip: self.vip,
            crm: self.crm_view(crm),
            attributes,
            linked_contact_ids: linked.ids,
            linked_count: linked.count,
            version: self.version,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

/// The contacts a contact is linked to, as its view shows them: the first of its match group
/// and how many there are, so a value thousands of contacts share costs the view one small read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Linked {
    /// At most [`Linked::PREVIEW`] ids, the contact itself left out.
    pub ids: Vec<String>,
    /// The other members of its group.
    pub count: usize,
}

impl Linked {
    /// Linked ids a view carries.
    pub const PREVIEW: usize = 100;
}

/// A linked contact as `GET /contacts/{id}/linked` lists it.
#[derive(Serialize)]
pub struct LinkedContactView {
    pub id: String,
    pub name: String,
    pub network: Network,
}

crate::debug_showing!(LinkedContactView { id });

impl Contact {
    pub fn linked_view(&self) -> LinkedContactView {
        LinkedContactView {
            id: self.id.clone(),
            name: self.profile.name.clone(),
            network: self.profile.network,
        }
    }
}

crate::debug_showing!(ValueChange { key, definition_id });

/// One validated change to a custom value: set or clear, under the definition's id.

#[derive(Clone, PartialEq, Eq)]
pub struct ValueChange {
    pub key: String,
    pub definition_id: String,
    pub value: Option<String>,
    pub source: ValueSource,
    /// The value's write-back state after the change (`None`: nothing to write back).
    pub sync: Option<SyncState>,
}

impl ValueSource {
    /// Who a caller writes values as: a machine client as `automation`, a person as `agent`.
    pub fn of(caller: &Caller) -> Self {
        match caller.role {
            Role::Automation => Self::Automation,
            Role::Admin | Role::Agent => Self::Agent,
        }
    }

    /// Whether values from this source may change a CRM-managed attribute under `settings`:
    /// the CRM always, people only while the admin allows it, automation never.
    fn may_change_crm_managed(self, settings: &Settings) -> bool {
        match self {
            Self::Crm => true,
            Self::Agent => settings.crm_edit_enabled,
            Self::Automation | Self::Channel => false,
        }
    }
}

/// Checks an edit of attribute values from `source` against the definitions and settings, all
/// or nothing. Keys are checked in sorted order so the reported field does not depend on JSON
/// key order.
pub fn validate_edit(
    requested: &HashMap<String, Option<String>>,
    definitions: &AttributeSet,
    settings: &Settings,
    source: ValueSource,
) -> Result<Vec<ValueChange>, ApiError> {
    let mut keys: Vec<&String> = requested.keys().collect();
    keys.sort();
    let mut changes = Vec::with_capacity(keys.len());
    for key in keys {
        let field = format!("attributes.{key}");
        let invalid = |message: &str| ApiError::validation(field.clone(), message.to_owned());
        if key == VIP_KEY {
            return Err(invalid("vip is set with PUT/DELETE /contacts/{id}/vip"));
        }
        if platform_attribute(key).is_some() {
            return Err(invalid(
                "platform attributes are filled by the channel and are read-only",
            ));
        }
        let Some(definition) = definitions.custom.get(key.as_str()) else {
            return Err(invalid("no such attribute"));
        };
        if !definition.enabled {
            return Err(invalid("this attribute is disabled"));
        }
        if definition.crm_managed && !source.may_change_crm_managed(settings) {
            return Err(ApiError::Forbidden(match source {
                ValueSource::Automation => {
                    format!("{key} is managed by the CRM; automation clients may not change it")
                }
                _ => format!(
                    "{key} is managed by the CRM; an admin has not allowed agents to edit it"
                ),
            }));
        }
        let value = match &requested[key] {
            None => None,
            Some(raw) => {
                let value = text::typed(raw, &field, LineBreaks::Refused)?;
                match &definition.ty {
                    CustomType::Dropdown(options) => {
                        if !options.contains(value) {
                            return Err(invalid("the value is not one of the attribute's options"));
                        }
                    }
                    CustomType::Text => {
                        if value.chars().count() > TEXT_VALUE_MAX_CHARS {
                            return Err(invalid("text values are at most 1000 characters"));
                        }
                    }
                }
                // An empty text value is the same as no value.
                (!value.is_empty()).then(|| value.to_owned())
            }
        };
        changes.push(ValueChange {
            key: key.clone(),
            definition_id: definition.id.clone(),
            value,
            source,
            // An agent's change to a CRM-managed value waits to be written back.
            sync: (definition.crm_managed && source == ValueSource::Agent)
                .then_some(SyncState::Pending),
        });
    }
    Ok(changes)
}

/// The key a matching value is filed under: trimmed, case-folded, hashed.
pub fn match_hash(value: &str) -> Option<String> {
    let normalised = value.trim().to_lowercase();
    if normalised.is_empty() {
        return None;
    }
    let digest = Sha256::digest(normalised.as_bytes());
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests;
