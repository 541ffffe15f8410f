//! Conversations: their owner, their status, their time, and the linked contacts' listing.

use super::*;
use crate::cursor::PageRequest;
use crate::testing::local_store;

/// Files `id` (at version 1) under group `h1` of generation 1 and moves its conversations to
/// the group's history: the contact as filed.
async fn filed_in_h1(store: &Store, org: &OrgId, id: &str) -> Contact {
    let link = [("h1".to_owned(), id.to_owned())];
    store.put_match_links(org, 1, &link, NOW).await.unwrap();
    assert!(
        store
            .refile_contact(org, id, 1, 1, Some("h1"))
            .await
            .unwrap()
    );
    store.relist_history(org, id).await.unwrap();
    store.contact(org, id).await.unwrap().unwrap()
}

#[tokio::test]
async fn linked_contacts_conversations_page_as_one_list_newest_first() {
    let (store, org) = (local_store().await, org());
    ingested(&store, &org, "c1", "conv-1").await;
    ingested(&store, &org, "c2", "conv-2").await;
    let ana = filed_in_h1(&store, &org, "c1").await;
    assert_eq!(
        listed(&store, &org, &ana).await,
        [("conv-1".to_owned(), NOW.to_owned())],
        "until c2 is filed too, its conversation is in its own history"
    );
    filed_in_h1(&store, &org, "c2").await;
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
    let mut foreign = raw_key("ORG#other#C#c1", "CONV#conv-1");
    for (name, value) in [
        ("GSI2PK", "ORG#other#HISTORY#MATCH#1#h1"),
        ("GSI2SK", "2026-01-01T10:00:00Z#conv-1"),
    ] {
        foreign.insert(name.into(), AttributeValue::S(value.into()));
    }
    let foreign = PageRequest {
        limit: 1,
        start: Some(foreign),
    };
    let err = store
        .linked_conversations(&org, &ana, foreign)
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::ForeignCursor), "{err:?}");
}

#[tokio::test]
async fn a_history_lists_a_deleted_member_no_more_and_follows_each_refiling() {
    let (store, org) = (local_store().await, org());
    ingested(&store, &org, "c1", "conv-1").await;
    ingested(&store, &org, "c2", "conv-2").await;
    let ana = filed_in_h1(&store, &org, "c1").await;
    let bea = filed_in_h1(&store, &org, "c2").await;
    assert_eq!(listed(&store, &org, &ana).await.len(), 2);
    store
        .delete_contact(&org, &bea, &deletion("del-1", "c2"))
        .await
        .unwrap();
    assert_eq!(
        listed(&store, &org, &ana).await,
        [("conv-1".to_owned(), NOW.to_owned())],
        "gone with the delete, before any purge"
    );

    // Filed elsewhere again: relisting follows the profile as it is now, however often.
    assert!(
        store
            .refile_contact(&org, "c1", ana.version, 2, None)
            .await
            .unwrap()
    );
    store.relist_history(&org, "c1").await.unwrap();
    store.relist_history(&org, "c1").await.unwrap();
    let alone = store.contact(&org, "c1").await.unwrap().unwrap();
    assert_eq!(listed(&store, &org, &alone).await.len(), 1);
    assert!(
        listed(&store, &org, &ana).await.is_empty(),
        "the old group's history no longer holds it"
    );
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
    let record = deletion("del-1", &ana.id);
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
    assert_refused(
        store.delete_contact(&org, &ana, &record).await,
        "one audit record however often it is deleted",
    );
}

/// The conversations `ana` lists, with their times.
async fn listed(store: &Store, org: &OrgId, ana: &Contact) -> Vec<(String, String)> {
    let (all, _) = store
        .linked_conversations(org, ana, page(10))
        .await
        .unwrap();
    all.into_iter()
        .map(|c| (c.id, c.last_message_at.into()))
        .collect()
}

#[tokio::test]
async fn a_conversations_last_message_time_only_moves_forward() {
    let (store, org) = (local_store().await, org());
    let ana = ingested(&store, &org, "c1", "conv-1").await;
    let at = |time: &str, id: &str| Conversation {
        id: id.into(),
        channel: Channel::Whatsapp,
        status: "open".into(),
        contact_id: "c1".into(),
        last_message_at: super::at(time),
    };
    store
        .advance_conversation(&org, &at("2026-01-01T09:00:00Z", "conv-1"))
        .await
        .unwrap();
    assert_eq!(
        listed(&store, &org, &ana).await,
        [("conv-1".to_owned(), NOW.to_owned())]
    );
    let later = "2026-01-01T11:00:00Z";
    store
        .advance_conversation(&org, &at(later, "conv-1"))
        .await
        .unwrap();
    assert_eq!(
        listed(&store, &org, &ana).await,
        [("conv-1".to_owned(), later.to_owned())]
    );
    store
        .advance_conversation(&org, &at(later, "conv-x"))
        .await
        .unwrap();
    assert_eq!(
        listed(&store, &org, &ana).await.len(),
        1,
        "never creates a conversation"
    );
}

#[tokio::test]
async fn a_status_change_of_a_deleted_contacts_conversation_is_refused() {
    let (store, org) = (local_store().await, org());
    let ana = ingested(&store, &org, "c1", "conv-1").await;
    let read = store.status_context(&org, "conv-1").await.unwrap().unwrap();
    assert_eq!(read.contact.version, 1);
    assert!(read.crm.is_none());
    let record = deletion("del-1", "c1");
    store.delete_contact(&org, &ana, &record).await.unwrap();
    let refused = store
        .set_conversation_status(&org, &read.conversation, "closed", NOW, (&[], &[]))
        .await;
    assert_refused(refused, "a gone contact's conversation keeps its status");
    assert!(
        store
            .status_context(&org, "conv-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store.contact(&org, "c1").await.unwrap().is_none(),
        "the outbox write did not bring the profile back"
    );
}
