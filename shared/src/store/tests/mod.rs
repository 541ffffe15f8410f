//! One test per access pattern of the store, against the DynamoDB endpoint `scripts/test`
//! starts (DynamoDB Local, or whatever `AWS_ENDPOINT_URL` names). Each test works in an org of
//! its own. One file per store module; the helpers every file uses are here.

use super::*;
use crate::channel::{Channel, Network};
use crate::contacts::{Contact, Identity, ValueChange};
use crate::cursor::PageRequest;
use crate::deletion::DeletionRecord;
use crate::ids::OrgId;
use crate::notes::Person;
use crate::testing::new_org;

mod conversations;
mod crm;
mod deletion;
mod exports;
mod idempotency;
mod ingest;
mod match_links;
mod messages;
mod notes;
mod profile;
mod settings;
mod values;

const NOW: &str = "2026-01-01T10:00:00Z";

/// A time the way the store keeps it.
fn at(text: &str) -> crate::clock::Timestamp {
    crate::clock::Timestamp::parse(text).unwrap()
}

fn org() -> OrgId {
    OrgId::parse(&new_org("store")).unwrap()
}

fn contact(id: &str) -> Contact {
    let mut contact = Contact {
        version: 1,
        ..Contact::new(id.to_owned(), Network::Whatsapp, NOW)
    };
    contact.profile.name = "Ana".into();
    contact.profile.identities.push(Identity {
        channel: Channel::Whatsapp,
        network: Network::Whatsapp,
        user_id: format!("u-{id}"),
        handle: None,
    });
    contact
}

fn page(limit: i32) -> PageRequest {
    PageRequest { limit, start: None }
}

/// The page after one that ended at `start`.
fn next_page(limit: i32, start: Option<crate::cursor::LastEvaluatedKey>) -> PageRequest {
    PageRequest { limit, start }
}

fn set(definition_id: &str, value: Option<&str>) -> ValueChange {
    ValueChange {
        key: definition_id.into(),
        definition_id: definition_id.into(),
        value: value.map(Into::into),
        source: crate::contacts::ValueSource::Agent,
        sync: None,
    }
}

/// `NOW` as a time, for the writes that take one.
fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::parse(NOW, &time::format_description::well_known::Rfc3339).unwrap()
}

fn admin() -> Person {
    Person {
        id: "u".into(),
        name: "Admin".into(),
    }
}

/// The audit record of deleting `contact_id`, under audit id `id`.
fn deletion(id: &str, contact_id: &str) -> DeletionRecord {
    DeletionRecord {
        id: id.into(),
        contact_id: contact_id.into(),
        contact_hint: "A.".into(),
        platform: "whatsapp".into(),
        deleted_at: NOW.into(),
        deleted_by: admin(),
    }
}

/// The identity claim `contact(id)` holds.
fn claim_of(org: &OrgId, id: &str) -> String {
    crate::keys::identity_pk(org, "whatsapp", &format!("u-{id}"))
}

/// A contact with one conversation and one message, written as ingest writes them.
async fn ingested(store: &Store, org: &OrgId, id: &str, conversation: &str) -> Contact {
    let contact = contact(id);
    let conv = Conversation {
        id: conversation.into(),
        channel: Channel::Whatsapp,
        status: "open".into(),
        contact_id: id.into(),
        last_message_at: at(NOW),
    };
    let message = Message {
        id: format!("m-{id}"),
        conversation_id: conversation.into(),
        contact_id: id.into(),
        text: "hi".into(),
        sent_at: at(NOW),
        attachments: vec![],
    };
    let claim = crate::keys::identity_pk(org, "whatsapp", &format!("u-{id}"));
    let write = IngestWrite {
        org,
        profile: ProfileWrite::New {
            contact: &contact,
            claim_pk: &claim,
        },
        conversation: &conv,
        conversation_read: None,
        message: &message,
        match_move: None,
        now: NOW,
        outbox: &[],
    };
    assert_eq!(store.ingest(write).await.unwrap(), IngestOutcome::Written);
    contact
}

/// Asserts that a conditional write was refused; `why` names the rule that refused it.
#[track_caller]
fn assert_refused<T>(result: Result<T, SaveError>, why: &str) {
    assert!(
        matches!(result, Err(SaveError::Conflict)),
        "not refused: {why}"
    );
}

/// Pure: how a cancelled transaction's reasons are read.
#[test]
fn only_a_failed_condition_is_a_conflict_and_conflicts_and_throttling_go_again() {
    let of = |codes: &[&str]| Cancelled::of(codes.iter().map(|c| Some(*c)));
    assert_eq!(
        of(&["None", "ConditionalCheckFailed"]),
        Cancelled::ConditionFailed
    );
    assert_eq!(
        of(&["TransactionConflict", "ConditionalCheckFailed"]),
        Cancelled::ConditionFailed
    );
    assert_eq!(of(&["None", "TransactionConflict"]), Cancelled::Transient);
    assert_eq!(of(&["ThrottlingError", "None"]), Cancelled::Transient);
    assert_eq!(
        of(&["ValidationError", "TransactionConflict"]),
        Cancelled::Refused
    );
    assert_eq!(
        of(&["TransactionConflict", "ItemCollectionSizeLimitExceeded"]),
        Cancelled::Refused
    );
    assert_eq!(of(&[]), Cancelled::ConditionFailed);
}
