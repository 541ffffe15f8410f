//! Org settings and their rules.

use serde::{Deserialize, Serialize};

use crate::attributes::{AttrType, AttributeSet, VIP_KEY, platform_attribute};
use crate::auth::Plan;
use crate::error::ApiError;
use crate::text::{self, LineBreaks};

pub const TEAM_NAME_MAX_CHARS: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching_attribute: Option<String>,
    #[serde(default)]
    pub crm_edit_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip_routing_team: Option<String>,
    /// Bumped whenever the matching attribute changes: match links are filed under it, so links
    /// made under an earlier attribute are simply no longer read.
    #[serde(default)]
    pub match_generation: u64,
}

#[derive(Debug, Serialize)]
pub struct SettingsView<'a> {
    pub plan: &'static str,
    pub matching_attribute: Option<&'a str>,
    pub crm_edit_enabled: bool,
    pub vip_routing_team: Option<&'a str>,
}

impl Settings {
    pub fn view(&self, plan: Plan) -> SettingsView<'_> {
        SettingsView {
            plan: plan.as_str(),
            matching_attribute: self.matching_attribute.as_deref(),
            crm_edit_enabled: self.crm_edit_enabled,
            vip_routing_team: self.vip_routing_team.as_deref(),
        }
    }
}

/// Where a matching attribute's definition lives, which decides what a save must re-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchingAttribute {
    /// A catalogue attribute: it can never be deleted.
    Platform(String),
    /// A custom text attribute: the save must check it still exists and is text.
    Custom(String),
}

/// Checks that `key` may identify a person across channels: a custom text attribute or a
/// platform text attribute. Yes/no values and dropdowns would link unrelated people.
pub fn matching_attribute(key: &str, set: &AttributeSet) -> Result<MatchingAttribute, ApiError> {
    let refuse = |why: &str| ApiError::validation("matching_attribute", why.to_owned());
    if let Some(platform) = platform_attribute(key) {
        return match platform.ty {
            AttrType::Text => Ok(MatchingAttribute::Platform(key.to_owned())),
            _ => Err(refuse("a yes/no attribute cannot identify a person")),
        };
    }
    if set.custom_text(key) {
        return Ok(MatchingAttribute::Custom(key.to_owned()));
    }
    if key == VIP_KEY || set.custom.contains_key(key) {
        return Err(refuse("the matching attribute must be a text attribute"));
    }
    Err(refuse("no such attribute"))
}

/// A routing team name: trimmed, 1..100 characters.
pub fn routing_team(raw: &str) -> Result<String, ApiError> {
    text::bounded(
        raw,
        "vip_routing_team",
        LineBreaks::Refused,
        TEAM_NAME_MAX_CHARS,
        "the team name",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::{CustomAttribute, CustomType, DropdownOptions, Label};

    fn set_with(key: &str, dropdown: bool) -> AttributeSet {
        let mut set = AttributeSet::default();
        let ty = if dropdown {
            CustomType::Dropdown(
                DropdownOptions::parse(&["a".to_string(), "b".to_string()]).unwrap(),
            )
        } else {
            CustomType::Text
        };
        set.custom.insert(
            key.into(),
            CustomAttribute {
                id: "1".into(),
                label: Label::parse(key).unwrap(),
                ty,
                enabled: true,
                crm_managed: false,
                lookup: false,
            },
        );
        set
    }

    #[test]
    fn matching_attribute_is_custom_text_or_platform_text() {
        let set = set_with("customer_id", false);
        assert_eq!(
            matching_attribute("customer_id", &set).unwrap(),
            MatchingAttribute::Custom("customer_id".into())
        );
        assert_eq!(
            matching_attribute("email_address", &set).unwrap(),
            MatchingAttribute::Platform("email_address".into())
        );
        for bad in ["vip", "verified", "nope"] {
            let err = matching_attribute(bad, &set).unwrap_err();
            assert_eq!(
                err.to_body()["error"]["field"],
                "matching_attribute",
                "{bad}"
            );
        }
        let dropdown = set_with("tier", true);
        assert!(matching_attribute("tier", &dropdown).is_err());
    }

    #[test]
    fn fresh_settings_view() {
        let view = serde_json::to_value(Settings::default().view(Plan::Team)).unwrap();
        assert_eq!(
            view,
            serde_json::json!({"plan": "team", "matching_attribute": null, "crm_edit_enabled": false, "vip_routing_team": null})
        );
    }

    #[test]
    fn routing_team_names_are_trimmed_and_bounded() {
        assert_eq!(routing_team("  VIP desk ").unwrap(), "VIP desk");
        assert!(routing_team(" ").is_err());
        assert!(routing_team(&"t".repeat(101)).is_err());
    }
}
