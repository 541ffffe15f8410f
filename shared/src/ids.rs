//! Identifiers that can only hold valid values.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// A tenant. Only ever built from verified claims or a trusted queue message. The character set
/// excludes `#` so an org id can never forge another tenant's key prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrgId(String);

impl OrgId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        let ok = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(value.to_owned()))
            .ok_or(InvalidId("org id"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user id from the token's `sub`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        let ok = !value.is_empty() && value.len() <= 256 && !value.chars().any(char::is_control);
        ok.then(|| Self(value.to_owned()))
            .ok_or(InvalidId("user id"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key of an attribute definition: `^[a-z][a-z0-9_]{0,39}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AttributeKey(String);

impl AttributeKey {
    pub const MAX_LEN: usize = 40;

    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        let bytes = value.as_bytes();
        let ok = matches!(bytes.first(), Some(b'a'..=b'z'))
            && bytes.len() <= Self::MAX_LEN
            && bytes
                .iter()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'));
        ok.then(|| Self(value.to_owned()))
            .ok_or(InvalidId("attribute key"))
    }

    /// Derives a key from a label: ASCII letters and digits lower-cased, every other run of
    /// characters one underscore. `None` when the label has no ASCII letter to start with.
    pub fn derive_from_label(label: &str) -> Option<Self> {
        let mut key = String::new();
        for c in label.chars() {
            if c.is_ascii_alphanumeric() {
                if key.is_empty() && !c.is_ascii_alphabetic() {
                    continue;
                }
                key.push(c.to_ascii_lowercase());
            } else if !key.is_empty() && !key.ends_with('_') {
                key.push('_');
            }
        }
        key.truncate(Self::MAX_LEN);
        let key = key.trim_end_matches('_');
        Self::parse(key).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid {0}")]
pub struct InvalidId(pub &'static str);

impl From<InvalidId> for ApiError {
    fn from(err: InvalidId) -> Self {
        ApiError::bad_request(err.to_string())
    }
}

macro_rules! string_newtype_impls {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }
        impl From<$t> for String {
            fn from(value: $t) -> String {
                value.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
string_newtype_impls!(OrgId, UserId, AttributeKey);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids_cannot_carry_key_separators() {
        assert!(OrgId::parse("acme-2_b").is_ok());
        assert!(OrgId::parse("acme#C#1").is_err());
        assert!(OrgId::parse("").is_err());
        assert!(OrgId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn attribute_keys_follow_the_contract_pattern() {
        assert!(AttributeKey::parse("a").is_ok());
        assert!(AttributeKey::parse("tier_2").is_ok());
        assert!(AttributeKey::parse(&"a".repeat(40)).is_ok());
        for bad in [
            "",
            "2tier",
            "_tier",
            "Tier",
            "ti-er",
            "tïer",
            &"a".repeat(41),
        ] {
            assert!(
                AttributeKey::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn keys_derive_from_labels() {
        let derive = |l: &str| AttributeKey::derive_from_label(l).map(|k| k.0);
        assert_eq!(derive("Customer tier"), Some("customer_tier".into()));
        assert_eq!(derive("  Order #  (2024) "), Some("order_2024".into()));
        assert_eq!(derive("3D printer"), Some("d_printer".into()));
        assert_eq!(derive("Café owner"), Some("caf_owner".into()));
        assert_eq!(derive("客户"), None);
        assert_eq!(derive("123"), None);
        let long = derive(&"word ".repeat(20)).unwrap();
        assert!(long.len() <= 40 && !long.ends_with('_'));
    }
}
