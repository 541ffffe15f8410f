//! One test per access pattern of the store, against the DynamoDB endpoint `scripts/test`
//! starts (moto's server, or whatever `AWS_ENDPOINT_URL` names). Each test works in an org of
//! its own.

use super::*;
use crate::channel::{Channel, Network};
use crate::contacts::{Contact, Identity, ValueChange};
use crate::cursor::{ListScope, PageRequest, encode};
use crate::deletion::DeletionRecord;
use crate::ids::OrgId;
use crate::notes::{Note, NoteParent, NoteText, Person};
use crate::testing::{local_store, new_org};

const NOW: &str = "2026-01-01T10:00:00Z";

fn org() -> OrgId {
    OrgId::parse(&new_org("store")).unwrap()
}

fn contact(id: &str) -> Contact {
    Contact {
        name: "Ana".into(),
        identities: vec![Identity {
            channel: Channel::Whatsapp,
            network: Network::Whatsapp,
            user_id: format!("u-{id}"),
            handle: None,
        }],
        version: 1,
        ..Contact::new(id.to_owned(), Network::Whatsapp, NOW)
    }
}

fn page(limit: i32) -> PageRequest {
    PageRequest { limit, start: None }
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

/// A contact with one conversation and one message, written as ingest writes them.
async fn ingested(store: &Store, org: &OrgId, id: &str, conversation: &str) -> Contact {
    let contact = contact(id);
    let conv = Conversation {
        id: conversation.into(),
        channel: Channel::Whatsapp,
        status: "open".into(),
        contact_id: id.into(),
        last_message_at: NOW.into(),
    };
    let message = Message {
        id: format!("m-{id}"),
        conversation_id: conversation.into(),
        contact_id: id.into(),
        text: "hi".into(),
        sent_at: NOW.into(),
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
        message: &message,
        match_move: None,
        now: NOW,
        outbox: &[],
    };
    assert_eq!(store.ingest(write).await.unwrap(), IngestOutcome::Written);
    contact
}

#[tokio::test]
async fn a_profile_is_created_once_and_then_only_on_its_version() {
    let (store, org) = (local_store().await, org());
    let mut ana = contact("c1");
    store.save_contact(&org, &ana, 0).await.unwrap();
    assert!(matches!(
        store.save_contact(&org, &ana, 0).await,
        Err(SaveError::Conflict)
    ));
    ana.version = 2;
    assert!(matches!(
        store.save_contact(&org, &ana, 7).await,
        Err(SaveError::Conflict)
    ));
    store.save_contact(&org, &ana, 1).await.unwrap();
    assert_eq!(store.contact(&org, "c1").await.unwrap().unwrap().version, 2);
    let context = store.contact_context(&org, "c1").await.unwrap();
    assert_eq!(context.contact.map(|c| c.version), Some(2));
    assert_eq!(
        (context.settings.version, context.definitions.version),
        (0, 0)
    );
}

#[tokio::test]
async fn field_level_value_updates_keep_each_others_fields_and_check_if_match() {
    let (store, org) = (local_store().await, org());
    store.save_contact(&org, &contact("c1"), 0).await.unwrap();
    let (one, two) = ([set("d1", Some("one"))], [set("d2", Some("two"))]);
    let (a, b) = tokio::join!(
        store.update_values(&org, "c1", &one, None, NOW, &[]),
        store.update_values(&org, "c1", &two, None, NOW, &[]),
    );
    assert!(a.unwrap().is_some() && b.unwrap().is_some());
    let both = store.contact(&org, "c1").await.unwrap().unwrap();
    assert_eq!(both.values.get("d1").map(String::as_str), Some("one"));
    assert_eq!(both.values.get("d2").map(String::as_str), Some("two"));
    assert_eq!(both.version, 3);
    let stale = store
        .update_values(&org, "c1", &[set("d1", None)], Some(1), NOW, &[])
        .await
        .unwrap();
    assert!(stale.is_none());
    assert_eq!(
        store.why_not_written(&org, "c1").await.code(),
        "precondition_failed"
    );
    let cleared = store
        .update_values(&org, "c1", &[set("d1", None)], Some(3), NOW, &[])
        .await
        .unwrap()
        .unwrap();
    assert!(!cleared.values.contains_key("d1"));
    let gone = store
        .update_values(&org, "nobody", &one, None, NOW, &[])
        .await;
    assert!(gone.unwrap().is_none(), "never creates a profile");
    assert_eq!(
        store.why_not_written(&org, "nobody").await.code(),
        "not_found"
    );
}

#[tokio::test]
async fn the_listing_is_newest_first_and_the_vip_index_holds_only_vips() {
    let (store, org) = (local_store().await, org());
    for id in ["01a-1", "01a-2", "01a-3"] {
        store.save_contact(&org, &contact(id), 0).await.unwrap();
    }
    let (all, next) = store.list_contacts(&org, page(2), false).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["01a-3", "01a-2"]);
    let rest = PageRequest {
        limit: 2,
        start: next,
    };
    let (last, next) = store.list_contacts(&org, rest, false).await.unwrap();
    assert_eq!((last.len(), next), (1, None));

    store
        .set_vip(&org, "01a-2", true, None, NOW, &[])
        .await
        .unwrap();
    let repeat = store.set_vip(&org, "01a-2", true, None, NOW, &[]).await;
    assert!(
        repeat.unwrap().is_none(),
        "setting the flag it has writes nothing"
    );
    let (vips, _) = store.list_contacts(&org, page(10), true).await.unwrap();
    assert_eq!(
        vips.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["01a-2"]
    );
    store
        .set_vip(&org, "01a-2", false, Some(2), NOW, &[])
        .await
        .unwrap();
    let (vips, _) = store.list_contacts(&org, page(10), true).await.unwrap();
    assert!(vips.is_empty());
}

#[tokio::test]
async fn a_listing_start_key_of_another_shape_is_refused_before_dynamodb() {
    let (store, org) = (local_store().await, org());
    let scope = ListScope::new(&org, "GET /contacts", &[], "");
    let forged = encode(
        &scope,
        &super::raw_key(&crate::keys::contact_pk(&org, "c1"), "NOTE#1"),
    );
    let start = crate::cursor::decode(&scope, &forged).unwrap();
    let request = PageRequest {
        limit: 5,
        start: Some(start),
    };
    let err = store.list_contacts(&org, request, false).await.unwrap_err();
    assert_eq!(err.code(), "bad_request");
}

#[tokio::test]
async fn an_ingest_writes_claim_profile_conversation_and_message_once() {
    let (store, org) = (local_store().await, org());
    let ana = ingested(&store, &org, "c1", "conv-1").await;
    let claim = crate::keys::identity_pk(&org, "whatsapp", "u-c1");
    let context = store.ingest_context(&org, &claim, "conv-1").await.unwrap();
    assert_eq!(context.owner.as_deref(), Some("c1"));
    let head = context.conversation.unwrap();
    assert_eq!(head.contact_id, "c1");
    assert_eq!(head.status.as_deref(), Some("open"));
    assert!(context.crm.is_none());
    let read = store.status_context(&org, "conv-1").await.unwrap().unwrap();
    assert_eq!(
        (read.conversation.status.as_str(), read.contact.id.as_str()),
        ("open", "c1")
    );
    store
        .set_conversation_status(&org, &read.conversation, "closed", NOW, &[])
        .await
        .unwrap();
    let stale = store
        .set_conversation_status(&org, &read.conversation, "pending", NOW, &[])
        .await;
    assert!(
        matches!(stale, Err(SaveError::Conflict)),
        "a status that moved since it was read is a lost race"
    );
    let closed = store.status_context(&org, "conv-1").await.unwrap().unwrap();
    assert_eq!(closed.conversation.status, "closed");
    assert!(
        store
            .status_context(&org, "conv-x")
            .await
            .unwrap()
            .is_none()
    );
    let context = store.ingest_context(&org, &claim, "conv-1").await.unwrap();
    assert_eq!(
        context.conversation.unwrap().status.as_deref(),
        Some("closed"),
        "the owner item follows the status"
    );
    let (conversations, _) = store
        .linked_conversations(&org, &ana, page(10))
        .await
        .unwrap();
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].id, "conv-1");
    let (messages, _) = store
        .messages(&org, "conv-1", page(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(messages.len(), 1);
}

#[tokio::test]
async fn linked_contacts_conversations_page_as_one_list_newest_first() {
    let (store, org) = (local_store().await, org());
    let mut ana = ingested(&store, &org, "c1", "conv-1").await;
    ingested(&store, &org, "c2", "conv-2").await;
    ana.linked = vec!["c1".into(), "c2".into()];
    let (first, next) = store
        .linked_conversations(&org, &ana, page(1))
        .await
        .unwrap();
    assert_eq!(first[0].id, "conv-2", "same time: the larger id first");
    let request = PageRequest {
        limit: 1,
        start: next,
    };
    let (second, next) = store
        .linked_conversations(&org, &ana, request)
        .await
        .unwrap();
    assert_eq!(second[0].id, "conv-1");
    assert!(next.is_none(), "two conversations make two pages of one");
    let foreign = PageRequest {
        limit: 1,
        start: Some(raw_key("ORG#other#C#c1", "CONV#conv-1")),
    };
    let err = store
        .linked_conversations(&org, &ana, foreign)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "bad_request");
}

#[tokio::test]
async fn a_conversation_belongs_to_its_contact_only_while_the_contact_exists() {
    let (store, org) = (local_store().await, org());
    let ana = ingested(&store, &org, "c1", "conv-1").await;
    assert_eq!(
        store
            .conversation_contact(&org, "conv-1")
            .await
            .unwrap()
            .as_deref(),
        Some("c1")
    );
    assert_eq!(
        store.conversation_contact(&org, "conv-x").await.unwrap(),
        None
    );
    let record = DeletionRecord {
        id: "del-1".into(),
        contact_id: ana.id.clone(),
        contact_hint: "A.".into(),
        platform: "whatsapp".into(),
        deleted_at: NOW.into(),
        deleted_by: Person {
            id: "u".into(),
            name: "Admin".into(),
        },
    };
    store.delete_contact(&org, &ana, &record).await.unwrap();
    assert_eq!(
        store.conversation_contact(&org, "conv-1").await.unwrap(),
        None
    );
    assert!(
        store
            .messages(&org, "conv-1", page(10))
            .await
            .unwrap()
            .is_none()
    );
    let (log, _) = store.list_deletions(&org, page(10)).await.unwrap();
    assert_eq!(log.len(), 1);
    assert!(store.purge_pending(&org, "c1").await.unwrap());
    assert!(
        matches!(
            store.delete_contact(&org, &ana, &record).await,
            Err(SaveError::Conflict)
        ),
        "one audit record however often it is deleted"
    );
}

#[tokio::test]
async fn match_links_group_contacts_by_generation_and_value() {
    let (store, org) = (local_store().await, org());
    let links = [
        ("h1".to_owned(), "c1".to_owned()),
        ("h1".to_owned(), "c2".to_owned()),
    ];
    store.put_match_links(&org, 1, &links, NOW).await.unwrap();
    let mut group = store.match_group(&org, 1, "h1").await.unwrap();
    group.sort();
    assert_eq!(group, ["c1", "c2"]);
    assert!(store.match_group(&org, 2, "h1").await.unwrap().is_empty());
    store
        .delete_match_links(&org, &[(1, "h1".into(), "c1".into())])
        .await
        .unwrap();
    assert_eq!(store.match_group(&org, 1, "h1").await.unwrap(), ["c2"]);
}

#[tokio::test]
async fn notes_live_under_a_live_parent_newest_first() {
    let (store, org) = (local_store().await, org());
    ingested(&store, &org, "c1", "conv-1").await;
    let note = |id: &str| Note {
        id: id.into(),
        text: NoteText::parse("call back").unwrap(),
        author: Person {
            id: "u".into(),
            name: "Agent".into(),
        },
        created_at: NOW.into(),
        updated_at: NOW.into(),
        updated_by: None,
        version: 1,
    };
    let contact = NoteParent::Contact("c1");
    for id in ["01a-1", "01a-2"] {
        assert_eq!(
            store.add_note(&org, contact, &note(id)).await.unwrap(),
            "c1"
        );
    }
    let conversation = NoteParent::Conversation("conv-1");
    assert_eq!(
        store
            .add_note(&org, conversation, &note("01a-3"))
            .await
            .unwrap(),
        "c1"
    );
    let (notes, _) = store.list_notes(&org, contact, page(10)).await.unwrap();
    assert_eq!(
        notes.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        ["01a-2", "01a-1"]
    );
    let missing = store
        .add_note(&org, NoteParent::Contact("c9"), &note("01a-4"))
        .await;
    assert_eq!(missing.unwrap_err().code(), "not_found");
    let by = Person {
        id: "u2".into(),
        name: "Other".into(),
    };
    let edit = NoteEdit {
        text: "done",
        by: &by,
        at: NOW,
    };
    let stale = store
        .update_note(&org, contact, "01a-1", &edit, Some(5))
        .await;
    assert_eq!(stale.unwrap_err().code(), "precondition_failed");
    let edited = store
        .update_note(&org, contact, "01a-1", &edit, Some(1))
        .await
        .unwrap();
    assert_eq!((edited.version, edited.text.as_str()), (2, "done"));
    store
        .delete_note(&org, contact, "01a-1", None)
        .await
        .unwrap();
    let again = store.delete_note(&org, contact, "01a-1", None).await;
    assert_eq!(again.unwrap_err().code(), "not_found");
}

#[tokio::test]
async fn an_idempotency_key_is_claimed_once_completed_and_found_by_contact() {
    let (store, org) = (local_store().await, org());
    let claim = |key: &'static str, hash: &'static str| {
        let store = store.clone();
        let org = org.clone();
        async move {
            store
                .claim_idempotency_key(&org, key, hash, 1_000, 90_000)
                .await
                .unwrap()
        }
    };
    assert!(matches!(claim("k1", "h1").await, Claim::Won));
    assert!(matches!(claim("k1", "h1").await, Claim::Taken(r) if r.response.is_none()));
    let stored = StoredResponse {
        status: 201,
        body: "{}".into(),
        etag: None,
    };
    store
        .complete_idempotency_key(&org, "k1", "h1", &stored, Some("c1"))
        .await
        .unwrap();
    assert!(
        matches!(claim("k1", "h2").await, Claim::Taken(r) if r.response == Some(stored.clone()))
    );
    assert_eq!(
        store
            .idempotency_records_of(&org, "c1")
            .await
            .unwrap()
            .len(),
        1
    );
    store.release_idempotency_key(&org, "k1").await.unwrap();
    assert!(matches!(claim("k1", "h2").await, Claim::Won));
    assert!(
        store
            .idempotency_records_of(&org, "c1")
            .await
            .unwrap()
            .is_empty()
    );
}
