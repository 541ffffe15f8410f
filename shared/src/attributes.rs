//! Attribute definitions: the platform catalogue, the built-in `vip`, an org's custom attributes,
//! and the rules for changing them. Pure: the store loads and saves an [`AttributeSet`].

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::error::ApiError;
use crate::ids::AttributeKey;
use crate::text::{self, LineBreaks};

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
#[derive(Debug)]
pub struct PlatformAttribute {
    pub key: &'static str,
    pub label: &'static str,
    pub ty: AttrType,
    pub channels: &'static [Channel],
}

const X: &[Channel] = &[Channel::XDm, Channel::XPublic];
const X_AND_INSTAGRAM: &[Channel] = &[
    Channel::XDm,
    Channel::XPublic,
    Channel::InstagramDm,
    Channel::InstagramComment,
];
const INSTAGRAM: &[Channel] = &[Channel::InstagramDm, Channel::InstagramComment];
const MESSENGER: &[Channel] = &[Channel::FacebookMessenger];
const PHONE_CHANNELS: &[Channel] = &[Channel::Whatsapp, Channel::Sms];

/// What each network's APIs actually tell about a sender (X user object, Instagram messaging
/// user profile, Messenger user profile, WhatsApp/SMS sender number, email headers, the web
/// chat widget's page context).
pub const CATALOGUE: &[PlatformAttribute] = &[
    PlatformAttribute {
        key: "followers",
        label: "Followers",
        ty: AttrType::Text,
        channels: X_AND_INSTAGRAM,
    },
    PlatformAttribute {
        key: "following",
        label: "Following",
        ty: AttrType::Text,
        channels: X,
    },
    PlatformAttribute {
        key: "bio",
        label: "Bio",
        ty: AttrType::Text,
        channels: X,
    },
    PlatformAttribute {
        key: "location",
        label: "Location",
        ty: AttrType::Text,
        channels: X,
    },
    PlatformAttribute {
        key: "website",
        label: "Website",
        ty: AttrType::Text,
        channels: X,
    },
    PlatformAttribute {
        key: "verified",
        label: "Verified",
        ty: AttrType::Boolean,
        channels: X_AND_INSTAGRAM,
    },
    PlatformAttribute {
        key: "account_created_at",
        label: "Account created",
        ty: AttrType::Text,
        channels: X,
    },
    PlatformAttribute {
        key: "follows_business",
        label: "Follows your account",
        ty: AttrType::Boolean,
        channels: INSTAGRAM,
    },
    PlatformAttribute {
        key: "locale",
        label: "Locale",
        ty: AttrType::Text,
        channels: MESSENGER,
    },
    PlatformAttribute {
        key: "timezone",
        label: "Time zone",
        ty: AttrType::Text,
        channels: MESSENGER,
    },
    PlatformAttribute {
        key: "phone",
        label: "Phone",
        ty: AttrType::Text,
        channels: PHONE_CHANNELS,
    },
    PlatformAttribute {
        key: "email_address",
        label: "Email address",
        ty: AttrType::Text,
        channels: &[Channel::Email],
    },
    PlatformAttribute {
        key: "browser",
        label: "Browser",
        ty: AttrType::Text,
        channels: &[Channel::Webchat],
    },
    PlatformAttribute {
        key: "page_url",
        label: "Page",
        ty: AttrType::Text,
        channels: &[Channel::Webchat],
    },
];

pub const VIP_KEY: &str = "vip";
const VIP_LABEL: &str = "VIP";

pub const LABEL_MAX_CHARS: usize = 64;
pub const OPTIONS_MIN: usize = 2;
pub const OPTIONS_MAX: usize = 100;
pub const OPTION_MAX_CHARS: usize = 100;

pub fn platform_attribute(key: &str) -> Option<&'static PlatformAttribute> {
    CATALOGUE.iter().find(|p| p.key == key)
}

/// A display label: trimmed, 1..64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Label(String);

impl Label {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let label = text::typed(raw, "label", LineBreaks::Refused)?;
        let chars = label.chars().count();
        if chars == 0 || chars > LABEL_MAX_CHARS {
            return Err(ApiError::validation(
                "label",
                format!("label must be 1..{LABEL_MAX_CHARS} characters"),
            ));
        }
        Ok(Self(label.to_owned()))
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
            let option = text::typed(option, "options", LineBreaks::Refused)?;
            if option.is_empty() || option.chars().count() > OPTION_MAX_CHARS {
                return Err(invalid(format!(
                    "each option must be 1..{OPTION_MAX_CHARS} characters"
                )));
            }
            if !seen.insert(option.to_lowercase()) {
                return Err(invalid(format!("option {option:?} is listed twice")));
            }
            options.push(option.to_owned());
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
mod tests {
    use super::*;

    /// A text attribute, or a dropdown of `options`.
    fn new_attr(key: &str, options: Option<&[&str]>) -> NewAttribute {
        NewAttribute {
            key: AttributeKey::parse(key).unwrap(),
            label: Label::parse(key).unwrap(),
            ty: match options {
                None => CustomType::Text,
                Some(o) => CustomType::Dropdown(
                    DropdownOptions::parse(&o.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                        .unwrap(),
                ),
            },
            enabled: true,
            crm_managed: false,
            lookup: false,
        }
    }

    fn with_custom(keys: &[&str]) -> AttributeSet {
        let mut set = AttributeSet::default();
        for (i, key) in keys.iter().enumerate() {
            set.create(new_attr(key, None), format!("id-{i}")).unwrap();
        }
        set
    }

    #[test]
    fn a_new_org_sees_the_catalogue_then_vip() {
        let defs = AttributeSet::default().definitions();
        assert_eq!(defs.len(), CATALOGUE.len() + 1);
        assert_eq!(defs[0].key, "followers");
        let vip = defs.last().unwrap();
        assert_eq!(
            (vip.key.as_str(), vip.kind, vip.ty, vip.enabled),
            ("vip", Kind::Builtin, AttrType::Boolean, true)
        );
        assert!(defs.iter().enumerate().all(|(i, d)| d.position == i));
        for required in [
            "followers",
            "bio",
            "location",
            "verified",
            "phone",
            "email_address",
        ] {
            assert!(platform_attribute(required).is_some(), "{required}");
        }
        let followers = &defs[0];
        assert!(
            followers
                .channels
                .as_ref()
                .unwrap()
                .contains(&Channel::InstagramDm)
        );
    }

    #[test]
    fn custom_attributes_are_placed_last_and_keys_are_unique() {
        let mut set = with_custom(&["tier"]);
        assert_eq!(set.definitions().last().unwrap().key, "tier");
        let dup = set.create(new_attr("tier", None), "x".into());
        assert_eq!(dup.unwrap_err().code(), "conflict");
        let clash = set.create(new_attr("phone", None), "x".into());
        assert_eq!(clash.unwrap_err().code(), "conflict");
        let vip = set.create(new_attr("vip", None), "x".into());
        assert_eq!(vip.unwrap_err().code(), "conflict");
    }

    #[test]
    fn labels_and_options_are_checked() {
        assert!(Label::parse(&"é".repeat(64)).is_ok());
        assert_eq!(
            Label::parse(&"é".repeat(65)).unwrap_err().code(),
            "validation_failed"
        );
        assert!(Label::parse("   ").is_err());
        assert_eq!(Label::parse("  Tier ").unwrap().as_str(), "Tier");
        let opts = |v: &[&str]| {
            DropdownOptions::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert!(opts(&["a", "b"]).is_ok());
        assert!(opts(&["a"]).is_err());
        assert!(opts(&["a", "A"]).is_err());
        assert!(opts(&["a", " "]).is_err());
        assert!(opts(&["a", &"x".repeat(101)]).is_err());
        let hundred: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        assert!(DropdownOptions::parse(&hundred).is_ok());
        let too_many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
        assert!(DropdownOptions::parse(&too_many).is_err());
    }

    #[test]
    fn platform_attributes_only_take_enabled_and_lookup() {
        let mut set = AttributeSet::default();
        let def = set
            .change(
                "bio",
                AttributeChange {
                    enabled: Some(false),
                    lookup: Some(true),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(!def.enabled && def.lookup);
        let err = set
            .change(
                "bio",
                AttributeChange {
                    label: Some(Label::parse("x").unwrap()),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(err.to_body()["error"]["field"], "label");
        let err = set
            .change(
                "bio",
                AttributeChange {
                    crm_managed: Some(true),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(err.code(), "validation_failed");
    }

    #[test]
    fn vip_only_takes_enabled() {
        let mut set = AttributeSet::default();
        assert!(
            !set.change(
                "vip",
                AttributeChange {
                    enabled: Some(false),
                    ..Default::default()
                }
            )
            .unwrap()
            .enabled
        );
        assert!(!set.vip_enabled());
        let err = set
            .change(
                "vip",
                AttributeChange {
                    lookup: Some(true),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(err.to_body()["error"]["field"], "lookup");
    }

    #[test]
    fn a_refused_change_changes_nothing() {
        let mut set = with_custom(&["tier"]);
        let before = set.clone();
        let err = set.change(
            "tier",
            AttributeChange {
                enabled: Some(false),
                options: Some(vec!["a".into(), "b".into()]),
                ..Default::default()
            },
        );
        assert_eq!(err.unwrap_err().to_body()["error"]["field"], "options");
        assert_eq!(set, before);
    }

    #[test]
    fn dropdown_options_can_be_replaced() {
        let mut set = AttributeSet::default();
        set.create(new_attr("size", Some(&["S", "M"])), "1".into())
            .unwrap();
        let def = set
            .change(
                "size",
                AttributeChange {
                    options: Some(vec!["S".into(), "M".into(), "L".into()]),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(def.options.unwrap(), ["S", "M", "L"]);
        let bad = set.change(
            "size",
            AttributeChange {
                options: Some(vec!["S".into()]),
                ..Default::default()
            },
        );
        assert_eq!(bad.unwrap_err().code(), "validation_failed");
    }

    #[test]
    fn reorder_needs_an_exact_permutation() {
        let mut set = with_custom(&["a", "b"]);
        let mut keys = set.display_keys();
        keys.reverse();
        set.reorder(&keys).unwrap();
        assert_eq!(set.definitions()[0].key, "b");
        assert_eq!(set.definition("b").unwrap().position, 0);

        let missing = &keys[1..];
        assert_eq!(
            set.reorder(missing).unwrap_err().code(),
            "validation_failed"
        );
        let mut twice = keys.clone();
        twice[0] = twice[1].clone();
        assert!(set.reorder(&twice).is_err());
        let mut unknown = keys.clone();
        unknown.push("nope".into());
        assert!(set.reorder(&unknown).is_err());
        assert_eq!(set.display_keys(), keys);
    }

    #[test]
    fn only_custom_attributes_can_be_removed() {
        let mut set = with_custom(&["a"]);
        assert_eq!(set.remove("bio").unwrap_err().code(), "validation_failed");
        assert_eq!(set.remove("vip").unwrap_err().code(), "validation_failed");
        assert_eq!(set.remove("zzz").unwrap_err().code(), "not_found");
        set.remove("a").unwrap();
        assert!(set.definition("a").is_none());
        assert!(!set.order.contains(&"a".to_string()));
    }

    #[test]
    fn attributes_added_to_the_catalogue_later_appear_at_the_end() {
        let mut set = with_custom(&["a"]);
        set.order.retain(|k| k != "page_url");
        let keys = set.display_keys();
        assert_eq!(keys.last().unwrap(), "page_url");
        assert_eq!(keys.len(), CATALOGUE.len() + 2);
    }
}
