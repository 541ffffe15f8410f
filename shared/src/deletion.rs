//! Deleting a contact: the audit record and the hint that lets an admin recognise a deleted
//! contact without keeping who it was.

use serde::{Deserialize, Serialize};

use crate::contacts::Contact;
use crate::notes::Person;

/// The deleted-contacts log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionRecord {
    pub id: String,
    pub contact_id: String,
    pub contact_hint: String,
    pub platform: String,
    pub deleted_at: String,
    pub deleted_by: Person,
}

/// Work for the purge worker: everything under a deleted contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeJob {
    pub org_id: crate::ids::OrgId,
    pub contact_id: crate::ids::ContactId,
    /// The match group the contact left (generation, value hash), recounted once it is purged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_group: Option<(u64, String)>,
}

/// Initials of the name and the first character of the handle, e.g. `A. L. · @a…`: enough to
/// recognise a contact one was just talking to, never the name, handle, email or phone.
pub fn contact_hint(contact: &Contact) -> String {
    let initials: Vec<String> = contact
        .profile
        .name
        .split_whitespace()
        .filter_map(|word| word.chars().find(|c| c.is_alphabetic()))
        .take(2)
        .map(|c| format!("{}.", c.to_uppercase()))
        .collect();
    let handle = contact
        .profile
        .handle
        .as_deref()
        .map(|h| h.trim_start_matches('@'))
        .and_then(|h| h.chars().next())
        .map(|c| format!("@{c}…"));
    let mut parts = Vec::new();
    if !initials.is_empty() {
        parts.push(initials.join(" "));
    }
    parts.extend(handle);
    if parts.is_empty() {
        "(no name)".to_owned()
    } else {
        parts.join(" · ")
    }
}

impl crate::serve::OrgJob for PurgeJob {
    fn org_id(&self) -> &str {
        self.org_id.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Network;

    fn contact(name: &str, handle: Option<&str>) -> Contact {
        let mut contact = Contact::new("c".to_owned(), Network::X, "");
        contact.profile.name = name.into();
        contact.profile.handle = handle.map(str::to_owned);
        contact
    }

    #[test]
    fn the_hint_keeps_initials_and_one_handle_character_only() {
        assert_eq!(
            contact_hint(&contact("Ana Lima", Some("@analima"))),
            "A. L. · @a…"
        );
        assert_eq!(contact_hint(&contact("bruno", None)), "B.");
        assert_eq!(
            contact_hint(&contact("Maria da Silva Costa", None)),
            "M. D."
        );
        assert_eq!(contact_hint(&contact("", None)), "(no name)");
        let hint = contact_hint(&contact("+351 900 000 001", Some("ana@example.com")));
        assert!(!hint.contains("900") && !hint.contains("example"), "{hint}");
    }
}
