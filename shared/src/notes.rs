//! Notes on contacts and on conversations.

use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::text::{self, LineBreaks};

pub const NOTE_MAX_CHARS: usize = 2000;

/// Note text: trimmed, 1..2000 Unicode scalar values.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NoteText(String);

impl std::fmt::Debug for NoteText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("NoteText")
            .field(&crate::redact::Redacted)
            .finish()
    }
}

impl NoteText {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        text::bounded(
            raw,
            "text",
            LineBreaks::Allowed,
            NOTE_MAX_CHARS,
            "note text",
        )
        .map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub name: String,
}

impl From<&Caller> for Person {
    fn from(caller: &Caller) -> Self {
        Self {
            id: caller.user_id.to_string(),
            name: caller.name.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    pub text: NoteText,
    pub author: Person,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: Option<Person>,
    pub version: u64,
}

/// What a note hangs off: a contact or a conversation, kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteParent<'a> {
    Contact(&'a str),
    Conversation(&'a str),
}

impl NoteParent<'_> {
    pub fn name(self) -> &'static str {
        match self {
            NoteParent::Contact(_) => "contact",
            NoteParent::Conversation(_) => "conversation",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_text_counts_unicode_scalar_values_after_trimming() {
        assert!(NoteText::parse(&"😀".repeat(2000)).is_ok());
        assert!(NoteText::parse(&format!("  {}  ", "a".repeat(2000))).is_ok());
        let err = NoteText::parse(&"a".repeat(2001)).unwrap_err();
        assert_eq!(
            (err.code(), err.to_body()["error"]["field"].clone()),
            ("validation_failed", "text".into())
        );
        assert!(NoteText::parse("   ").is_err());
        assert_eq!(NoteText::parse(" hi ").unwrap().as_str(), "hi");
    }
}
