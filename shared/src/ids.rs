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

    /// Keys the routes take as literal path segments (`PUT /attributes/order`).
    pub const RESERVED: &[&str] = &["order"];

    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        let bytes = value.as_bytes();
        let ok = !Self::RESERVED.contains(&value)
            && matches!(bytes.first(), Some(b'a'..=b'z'))
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

/// True for a UUID as this service mints them (`8-4-4-4-12` hex digits).
fn is_uuid(value: &str) -> bool {
    value.len() == 36
        && value.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

macro_rules! uuid_id {
    ($($(#[$doc:meta])* $t:ident: $what:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $t(String);

        impl $t {
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                is_uuid(value).then(|| Self(value.to_owned())).ok_or(InvalidId($what))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl PathId for $t {
            const WHAT: &'static str = $what;
            fn parse(value: &str) -> Result<Self, InvalidId> {
                Self::parse(value)
            }
        }

        impl std::ops::Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
    )*};
}

/// An id in a path: a value that is not one can name nothing, so it is a `404` without a read.
pub trait PathId: Sized {
    /// What the id names, for the `404`.
    const WHAT: &'static str;
    fn parse(value: &str) -> Result<Self, InvalidId>;
}

uuid_id! {
    /// A contact, minted by ingest.
    ContactId: "contact";
    /// A contact note or a conversation note.
    NoteId: "note";
    /// An export job.
    ExportId: "export";
}

/// The rule for ids a channel hands us (conversation, message, sender, attachment): 1..256
/// characters, not all blank, without control characters or `/`.
pub fn is_channel_id(value: &str) -> bool {
    !value.trim().is_empty()
        && value.len() <= ConversationId::MAX_LEN
        && !value.chars().any(|c| c.is_control() || c == '/')
}

/// A conversation: the channel's own id, so any text of 1..256 characters without control
/// characters or `/` (it reaches a path percent-encoded).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConversationId(String);

impl ConversationId {
    pub const MAX_LEN: usize = 256;

    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        is_channel_id(value)
            .then(|| Self(value.to_owned()))
            .ok_or(InvalidId("conversation id"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PathId for ConversationId {
    const WHAT: &'static str = "conversation";
    fn parse(value: &str) -> Result<Self, InvalidId> {
        Self::parse(value)
    }
}

impl std::ops::Deref for ConversationId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
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
string_newtype_impls!(
    OrgId,
    UserId,
    AttributeKey,
    ContactId,
    NoteId,
    ExportId,
    ConversationId
);

/// An id made from `parts` (a UUID v8 over their SHA-256): whoever makes it again from the same
/// parts, a redelivery or a retry, gets the same id, so receivers can drop the repeat.
pub fn derived_id(parts: &[&str]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(parts.join("\n").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Uuid::new_v8(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_ids_are_uuids_or_a_channels_conversation_id() {
        assert!(ContactId::parse("01a1fc60-0000-7000-8000-00000000e001").is_ok());
        for bad in [
            "01a1fc60-0000-7000-8000-00000000e00",
            "x",
            "../../etc/passwd-0000-0000-000000",
        ] {
            assert!(ContactId::parse(bad).is_err(), "{bad}");
        }
        assert!(NoteId::parse(&"a".repeat(2000)).is_err());
        assert!(ConversationId::parse("thread 7#a?b%").is_ok());
        for bad in ["", "  ", "a/b", "a\u{0}"] {
            assert!(ConversationId::parse(bad).is_err(), "{bad:?}");
        }
    }

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
            "order",
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
        assert_eq!(derive("Order"), None, "the reserved key");
        let long = derive(&"word ".repeat(20)).unwrap();
        assert!(long.len() <= 40 && !long.ends_with('_'));
    }
}
