//! Cross-channel matching: which value of a contact files it with others, and the jobs the
//! matching worker runs to keep match groups filed and counted.

use serde::{Deserialize, Serialize};

use crate::attributes::AttributeSet;
use crate::contacts::{Contact, match_hash};
use crate::ids::{ContactId, OrgId};
use crate::settings::Settings;

/// Work for the matching worker, sent through its queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MatchJob {
    /// One contact moved between match groups (its change wrote the links): file it if it is
    /// not filed under `generation` yet, and recount the groups it left and joined.
    Contact {
        org_id: OrgId,
        contact_id: ContactId,
        generation: u64,
        /// The groups (value hashes under `generation`) it left and joined.
        #[serde(default)]
        groups: Vec<String>,
    },
    /// The matching attribute changed: re-file and re-link every contact of the org.
    Org {
        org_id: OrgId,
        generation: u64,
        /// Where the re-match continues, on the message an invocation queued when its time ran
        /// out; none on the first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        progress: Option<RematchProgress>,
    },
}

/// How far an org-wide re-match got: it files every contact under its group (one walk of the
/// listing), then sets every contact's links from the groups (a second walk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RematchProgress {
    pub phase: RematchPhase,
    /// Where the walk's next page starts; none at the start of the phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<crate::cursor::Position>,
    /// When the link walk began: a group counted before then is counted again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linking_since: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RematchPhase {
    File,
    Link,
}

/// A contact's move from one match group to another, written with the change that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchMove {
    pub generation: u64,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl MatchMove {
    /// The job that recounts the groups of this move.
    pub fn job(&self, org_id: &OrgId, contact_id: ContactId) -> MatchJob {
        MatchJob::Contact {
            org_id: org_id.clone(),
            contact_id,
            generation: self.generation,
            groups: self.from.iter().chain(&self.to).cloned().collect(),
        }
    }
}

/// Files `contact` under the group its current values belong to. Returns the move when that
/// differs from the group it is in under the current generation (filed, or linked ahead by a
/// re-match), for the caller to write.
pub fn refile(
    contact: &mut Contact,
    settings: &Settings,
    definitions: &AttributeSet,
) -> Option<MatchMove> {
    let generation = settings.match_generation;
    let filed = contact.linked_under(generation).cloned();
    let wanted = current_hash(contact, settings, definitions);
    if wanted == filed {
        return None;
    }
    contact.match_hash = wanted.clone();
    contact.match_generation = generation;
    // The move takes the link a re-match wrote ahead with it.
    contact.match_pending = None;
    Some(MatchMove {
        generation,
        from: filed,
        to: wanted,
    })
}

/// The hash this contact should be filed under with the org's current matching attribute.
pub fn current_hash(
    contact: &Contact,
    settings: &Settings,
    definitions: &AttributeSet,
) -> Option<String> {
    let key = settings.matching_attribute.as_deref()?;
    contact.value_of(key, definitions).and_then(match_hash)
}

impl crate::serve::OrgJob for MatchJob {
    fn org_id(&self) -> &str {
        match self {
            MatchJob::Contact { org_id, .. } | MatchJob::Org { org_id, .. } => org_id.as_str(),
        }
    }
}
