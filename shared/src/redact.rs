//! `Debug` for types that hold personal data (names, handles, user ids, note and message text,
//! attribute values): ids and flags print, the rest shows as `<redacted>`, so no `{:?}` in a log
//! line or a panic message can leak it.

use std::fmt;

/// Stands in for a redacted field.
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Implements `Debug` for a struct showing only the named fields.
#[macro_export]
macro_rules! debug_showing {
    ($ty:ty { $($field:ident),* }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    .field("personal_data", &$crate::redact::Redacted)
                    .finish()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::channel::{Channel, Network};
    use crate::contacts::{Contact, Identity};

    #[test]
    fn a_contact_prints_its_ids_never_its_person() {
        let contact = Contact {
            id: "c-1".into(),
            name: "Ana Lima".into(),
            handle: Some("@ana".into()),
            avatar_url: None,
            profile_url: None,
            network: Network::X,
            identities: vec![Identity {
                channel: Channel::XDm,
                network: Network::X,
                user_id: "1234".into(),
                handle: Some("@ana".into()),
            }],
            validated: false,
            vip: true,
            platform: [("location".to_owned(), "Lisbon".to_owned())].into(),
            values: [("d1".to_owned(), "+351 900 000 001".to_owned())].into(),
            linked: vec![],
            match_hash: None,
            match_generation: 0,
            version: 3,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        };
        let printed = format!("{contact:?}");
        assert!(
            printed.contains("c-1") && printed.contains("version: 3"),
            "{printed}"
        );
        for secret in ["Ana", "@ana", "1234", "Lisbon", "+351"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }
}
