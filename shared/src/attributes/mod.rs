//! Attribute definitions: the platform catalogue, the built-in `vip`, an org's custom attributes,
//! and the rules for changing them. Pure: the store loads and saves an [`AttributeSet`].

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::error::ApiError;
use crate::ids::AttributeKey;
use crate::text::{self, LineBreaks};

mod catalogue;

pub use catalogue::{CATALOGUE, PlatformAttribute, platform_attribute};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Platform,
    Custom,
    Builtin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttrType {
    Text,
    Dropdown,
    Boolean,
}

/// An attribute the system fills from channel metadata; read-only to people.
pub const VIP_KEY: &str = "vip";
const VIP_LABEL: &str = "VIP";

pub const LABEL_MAX_CHARS: usize = 64;
pub const OPTIONS_MIN: usize = 2;
pub const OPTIONS_MAX: usize = 100;
pub const OPTION_MAX_CHARS: usize = 100;

/// A display label: trimmed, 1..64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Label(String);

impl Label {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        text::bounded(raw, "label", LineBreaks::Refused, LABEL_MAX_CHARS, "label").map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The choices of a dropdown: 2..100 distinct (ignoring case), non-empty, at most 100 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DropdownOptions(Vec<String>);

impl DropdownOptions {
    pub fn parse(raw: &[String]) -> Result<Self, ApiError> {
        let invalid = |message: String| ApiError::validation("options", message);
        if !(OPTIONS_MIN..=OPTIONS_MAX).contains(&raw.len()) {
            return Err(invalid(format!(
                "a dropdown needs {OPTIONS_MIN}..{OPTIONS_MAX} options"
            )));
        }
        let mut seen = HashSet::new();
        let mut options = Vec::with_capacity(raw.len());
        for option in raw {
            let option = text::bounded(
                option,
                "options",
                LineBreaks::Refused,
                OPTION_MAX_CHARS,
                "each option",
            )?;
            if !seen.insert(option.to_lowercase()) {
                return Err(invalid(format!("option {option:?} is listed twice")));
            }
            options.push(option);
        }
        Ok(Self(options))
    }

    pub fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|o| o == value)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// The per-org switches of a platform attribute or of `vip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toggle {
    pub enabled: bool,
    pub lookup: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Self {
            enabled: true,
            lookup: false,
        }
    }
}

/// What a custom attribute holds: free text, or one of a dropdown's options (a dropdown always
/// has them). Stored as `{"type": "text"}` or `{"type": "dropdown", "options": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "options", rename_all = "lowercase")]
pub enum CustomType {
    Text,
    Dropdown(DropdownOptions),
}

impl CustomType {
    pub fn attr_type(&self) -> AttrType {
        match self {
            Self::Text => AttrType::Text,
            Self::Dropdown(_) => AttrType::Dropdown,
        }
    }

    pub fn options(&self) -> Option<&DropdownOptions> {
        match self {
            Self::Text => None,
            Self::Dropdown(options) => Some(options),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomAttribute {
    /// Internal and never reused: contact values are stored under it, so values of a deleted
    /// attribute never reappear under a new attribute with the same key.
    pub id: String,
    pub label: Label,
    #[serde(flatten)]
    pub ty: CustomType,
    pub enabled: bool,
    pub crm_managed: bool,
    pub lookup: bool,
}

/// An org's attribute definitions as stored: one item, so one read serves every edit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeSet {
    /// Keys in display order as last saved; [`AttributeSet::display_keys`] reconciles it with
    /// the catalogue of this release.
    #[serde(default)]
    pub order: Vec<String>,
    #[serde(default)]
    pub toggles: BTreeMap<String, Toggle>,
    #[serde(default)]
    pub custom: BTreeMap<String, CustomAttribute>,
}

/// A definition as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Definition {
    pub key: String,
    pub label: String,
    pub kind: Kind,
    #[serde(rename = "type")]
    pub ty: AttrType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<Channel>>,
    pub enabled: bool,
    pub position: usize,
    pub crm_managed: bool,
    pub lookup: bool,
}

/// A validated request to create a custom attribute.
#[derive(Debug, Clone)]
pub struct NewAttribute {
    pub key: AttributeKey,
    pub label: Label,
    pub ty: CustomType,
    pub enabled: bool,
    pub crm_managed: bool,
    pub lookup: bool,
}

/// A validated partial update; which fields apply depends on the attribute's kind.
#[derive(Debug, Clone, Default)]
pub struct AttributeChange {
    pub label: Option<Label>,
    pub options: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub crm_managed: Option<bool>,
    pub lookup: Option<bool>,
}

impl AttributeSet {
    fn exists(&self, key: &str) -> bool {
        key == VIP_KEY || platform_attribute(key).is_some() || self.custom.contains_key(key)
    }

    /// Every current key in display order: the saved order first, then anything new (catalogue
    /// attributes added by a later release, then `vip`, then custom ones) at the end.
    pub fn display_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        let defaults = CATALOGUE
            .iter()
            .map(|p| p.key.to_owned())
            .chain([VIP_KEY.to_owned()])
            .chain(self.custom.keys().cloned());
        for key in self.order.iter().cloned().chain(defaults) {
            if self.exists(&key) && seen.insert(key.clone()) {
                keys.push(key);
            }
        }
        keys
    }

    pub fn definitions(&self) -> Vec<Definition> {
        self.display_keys()
            .iter()
            .enumerate()
            .map(|(position, key)| self.definition_at(key, position))
            .collect()
    }

    pub fn definition(&self, key: &str) -> Option<Definition> {
        let position = self.display_keys().iter().position(|k| k == key)?;
        Some(self.definition_at(key, position))
    }

    fn toggle(&self, key: &str) -> Toggle {
        self.toggles.get(key).copied().unwrap_or_default()
    }

    fn definition_at(&self, key: &str, position: usize) -> Definition {
        if let Some(custom) = self.custom.get(key) {
            return Definition {
                key: key.to_owned(),
                label: custom.label.as_str().to_owned(),
                kind: Kind::Custom,
                ty: custom.ty.attr_type(),
                options: custom.ty.options().map(|o| o.as_slice().to_vec()),
                channels: None,
                enabled: custom.enabled,
                position,
                crm_managed: custom.crm_managed,
                lookup: custom.lookup,
            };
        }
        let toggle = self.toggle(key);
        if let Some(platform) = platform_attribute(key) {
            return Definition {
                key: key.to_owned(),
                label: platform.label.to_owned(),
                kind: Kind::Platform,
                ty: platform.ty,
                options: None,
                channels: Some(platform.channels.to_vec()),
                enabled: toggle.enabled,
                position,
                crm_managed: false,
                lookup: toggle.lookup,
            };
        }
        debug_assert_eq!(key, VIP_KEY);
        Definition {
            key: VIP_KEY.to_owned(),
            label: VIP_LABEL.to_owned(),
            kind: Kind::Builtin,
            ty: AttrType::Boolean,
            options: None,
            channels: None,
            enabled: toggle.enabled,
            position,
            crm_managed: false,
            lookup: false,
        }
    }

    pub fn vip_enabled(&self) -> bool {
        self.toggle(VIP_KEY).enabled
    }

    pub fn custom_text(&self, key: &str) -> bool {
        self.custom
            .get(key)
            .is_some_and(|c| c.ty == CustomType::Text)
    }

    /// Adds a custom attribute at the end of the display order.
    pub fn create(&mut self, new: NewAttribute, id: String) -> Result<Definition, ApiError> {
        let key = new.key.as_str();
        if self.exists(key) {
            return Err(ApiError::conflict(
                Some("key"),
                format!("an attribute with key {key:?} already exists"),
            ));
        }
        let mut order = self.display_keys();
        order.push(key.to_owned());
        self.order = order;
        self.custom.insert(
            key.to_owned(),
            CustomAttribute {
                id,
                label: new.label,
                ty: new.ty,
                enabled: new.enabled,
                crm_managed: new.crm_managed,
                lookup: new.lookup,
            },
        );
        self.definition(key).ok_or(ApiError::NotFound("attribute"))
    }

    /// Applies a partial update. Fields that do not apply to the attribute's kind are refused
    /// whole, before anything changes.
    pub fn change(&mut self, key: &str, change: AttributeChange) -> Result<Definition, ApiError> {
        let not_for = |field: &str, what: &str| {
            ApiError::validation(field, format!("{field} cannot be changed on {what}"))
        };
        if let Some(custom) = self.custom.get_mut(key) {
            let options = match (change.options, &custom.ty) {
                (Some(_), CustomType::Text) => {
                    return Err(ApiError::validation(
                        "options",
                        "a text attribute takes no options",
                    ));
                }
                (Some(raw), CustomType::Dropdown(_)) => Some(DropdownOptions::parse(&raw)?),
                (None, _) => None,
            };
            if let Some(label) = change.label {
                custom.label = label;
            }
            if let Some(options) = options {
                custom.ty = CustomType::Dropdown(options);
            }
            custom.enabled = change.enabled.unwrap_or(custom.enabled);
            custom.crm_managed = change.crm_managed.unwrap_or(custom.crm_managed);
            custom.lookup = change.lookup.unwrap_or(custom.lookup);
        } else if platform_attribute(key).is_some() {
            if change.label.is_some() {
                return Err(not_for("label", "a platform attribute"));
            }
            if change.options.is_some() {
                return Err(not_for("options", "a platform attribute"));
            }
            if change.crm_managed.is_some() {
                return Err(not_for("crm_managed", "a platform attribute"));
            }
            self.set_toggle(key, change.enabled, change.lookup);
        } else if key == VIP_KEY {
            for (field, present) in [
                ("label", change.label.is_some()),
                ("options", change.options.is_some()),
                ("crm_managed", change.crm_managed.is_some()),
                ("lookup", change.lookup.is_some()),
            ] {
                if present {
                    return Err(not_for(field, "the built-in vip attribute"));
                }
            }
            self.set_toggle(key, change.enabled, None);
        } else {
            return Err(ApiError::NotFound("attribute"));
        }
        self.definition(key).ok_or(ApiError::NotFound("attribute"))
    }

    fn set_toggle(&mut self, key: &str, enabled: Option<bool>, lookup: Option<bool>) {
        let toggle = self.toggles.entry(key.to_owned()).or_default();
        toggle.enabled = enabled.unwrap_or(toggle.enabled);
        toggle.lookup = lookup.unwrap_or(toggle.lookup);
    }

    /// Sets the display order: exactly the current keys, each once.
    pub fn reorder(&mut self, keys: &[String]) -> Result<(), ApiError> {
        let current = self.display_keys();
        let mut seen = HashSet::new();
        for key in keys {
            if !self.exists(key) {
                return Err(ApiError::validation(
                    "keys",
                    format!("unknown attribute {key:?}"),
                ));
            }
            if !seen.insert(key.as_str()) {
                return Err(ApiError::validation(
                    "keys",
                    format!("{key:?} is listed twice"),
                ));
            }
        }
        if keys.len() != current.len() {
            let missing: Vec<&str> = current
                .iter()
                .map(String::as_str)
                .filter(|k| !seen.contains(k))
                .collect();
            return Err(ApiError::validation(
                "keys",
                format!(
                    "every attribute must be listed once; missing: {}",
                    missing.join(", ")
                ),
            ));
        }
        self.order = keys.to_vec();
        Ok(())
    }

    /// Removes a custom attribute. The caller has checked it is not the matching attribute.
    pub fn remove(&mut self, key: &str) -> Result<(), ApiError> {
        if self.custom.remove(key).is_some() {
            self.order.retain(|k| k != key);
            return Ok(());
        }
        if self.exists(key) {
            return Err(ApiError::validation(
                "key",
                "only custom attributes can be deleted; disable this one instead",
            ));
        }
        Err(ApiError::NotFound("attribute"))
    }
}

#[cfg(test)]
mod tests;
