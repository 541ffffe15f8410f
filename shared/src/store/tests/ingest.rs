//! What one inbound message writes, and what ingest reads first.

use super::*;
use crate::testing::local_store;

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
        .set_conversation_status(&org, &read.conversation, "closed", NOW, (&[], &[]))
        .await
        .unwrap();
    let stale = store
        .set_conversation_status(&org, &read.conversation, "pending", NOW, (&[], &[]))
        .await;
    assert_refused(
        stale,
        "a status that moved since it was read is a lost race",
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

fn conversation_of(contact_id: &str) -> Conversation {
    Conversation {
        id: "conv-1".into(),
        channel: Channel::Whatsapp,
        status: "open".into(),
        contact_id: contact_id.into(),
        last_message_at: at(NOW),
    }
}

fn message_of(id: &str, contact_id: &str) -> Message {
    Message {
        id: id.into(),
        conversation_id: "conv-1".into(),
        contact_id: contact_id.into(),
        text: "again".into(),
        sent_at: at(NOW),
        attachments: vec![],
    }
}

async fn message_count(store: &Store, org: &OrgId) -> usize {
    let (messages, _) = store
        .messages(org, "conv-1", page(10))
        .await
        .unwrap()
        .unwrap();
    messages.len()
}

#[tokio::test]
async fn a_redelivery_is_a_duplicate_and_a_message_changes_the_profile_only_on_its_version() {
    let (store, org) = (local_store().await, org());
    let ana = ingested(&store, &org, "c1", "conv-1").await;
    let conversation = conversation_of("c1");
    let write = |profile, message, match_move| IngestWrite {
        org: &org,
        profile,
        conversation: &conversation,
        conversation_read: None,
        message,
        match_move,
        now: NOW,
        outbox: &[],
    };
    let first = message_of("m-c1", "c1");
    let again = store
        .ingest(write(
            ProfileWrite::Unchanged { contact: &ana },
            &first,
            None,
        ))
        .await;
    assert_eq!(again.unwrap(), IngestOutcome::Duplicate);
    assert_eq!(message_count(&store, &org).await, 1);

    let second = message_of("m-2", "c1");
    let mut changed = Contact {
        version: 2,
        match_hash: Some("h1".into()),
        ..ana.clone()
    };
    changed.profile.name = "Ana Lima".into();
    let moved = || MatchMove {
        generation: 0,
        from: None,
        to: Some("h1".into()),
    };
    let stale = ProfileWrite::Changed {
        contact: &changed,
        expected: 7,
    };
    let refused = store.ingest(write(stale, &second, Some(moved()))).await;
    assert_refused(refused, "a stale profile refuses the whole write");
    assert_eq!(
        message_count(&store, &org).await,
        1,
        "nothing of it written"
    );
    assert!(store.match_group(&org, 0, "h1").await.unwrap().is_empty());

    let current = ProfileWrite::Changed {
        contact: &changed,
        expected: 1,
    };
    let written = store.ingest(write(current, &second, Some(moved()))).await;
    assert_eq!(written.unwrap(), IngestOutcome::Written);
    assert_eq!(message_count(&store, &org).await, 2);
    let saved = store.contact(&org, "c1").await.unwrap().unwrap();
    assert_eq!(
        (saved.profile.name.as_str(), saved.version),
        ("Ana Lima", 2)
    );
    assert_eq!(store.match_group(&org, 0, "h1").await.unwrap(), ["c1"]);
}

#[tokio::test]
async fn a_new_contact_cannot_take_an_identity_already_claimed() {
    let (store, org) = (local_store().await, org());
    ingested(&store, &org, "c1", "conv-1").await;
    let twin = contact("c2");
    let claim = claim_of(&org, "c1");
    let conversation = Conversation {
        id: "conv-2".into(),
        ..conversation_of("c2")
    };
    let message = Message {
        conversation_id: "conv-2".into(),
        ..message_of("m-c2", "c2")
    };
    let write = IngestWrite {
        org: &org,
        profile: ProfileWrite::New {
            contact: &twin,
            claim_pk: &claim,
        },
        conversation: &conversation,
        conversation_read: None,
        message: &message,
        match_move: None,
        now: NOW,
        outbox: &[],
    };
    assert_refused(store.ingest(write).await, "the identity is already claimed");
    assert!(store.contact(&org, "c2").await.unwrap().is_none());
    assert_eq!(
        store.conversation_contact(&org, "conv-2").await.unwrap(),
        None
    );
    let context = store.ingest_context(&org, &claim, "conv-2").await.unwrap();
    assert_eq!(context.owner.as_deref(), Some("c1"));
    assert!(context.conversation.is_none());
}
