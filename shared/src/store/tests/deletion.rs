//! Deleting a contact: profile, claims, match link, audit record and purge marker in one
//! transaction; the deletion log; the purge's pages of what is left.

use std::collections::BTreeSet;

use super::*;
use crate::notes::{Note, NoteParent, NoteText};
use crate::testing::local_store;

#[tokio::test]
async fn a_delete_removes_profile_claim_and_match_link_with_its_audit_record_or_nothing() {
    let (store, org) = (local_store().await, org());
    ingested(&store, &org, "c1", "conv-1").await;
    store
        .put_match_links(&org, 1, &[("h1".into(), "c1".into())], NOW)
        .await
        .unwrap();
    assert!(
        store
            .refile_contact(&org, "c1", 1, 1, Some("h1"))
            .await
            .unwrap()
    );
    let stale = store.contact(&org, "c1").await.unwrap().unwrap();
    store
        .set_vip(&org, "c1", true, None, NOW, &[])
        .await
        .unwrap();
    let refused = store
        .delete_contact(&org, &stale, &deletion("01a-1", "c1"))
        .await;
    assert_refused(
        refused,
        "a profile changed since it was read is not deleted",
    );
    assert!(store.contact(&org, "c1").await.unwrap().is_some());
    assert!(
        store
            .list_deletions(&org, page(10))
            .await
            .unwrap()
            .0
            .is_empty()
    );
    assert!(!store.purge_pending(&org, "c1").await.unwrap());

    let current = store.contact(&org, "c1").await.unwrap().unwrap();
    store
        .delete_contact(&org, &current, &deletion("01a-1", "c1"))
        .await
        .unwrap();
    assert_eq!(store.contact(&org, "c1").await.unwrap(), None);
    let (log, _) = store.list_deletions(&org, page(10)).await.unwrap();
    assert_eq!(log, [deletion("01a-1", "c1")]);
    assert!(store.purge_pending(&org, "c1").await.unwrap());
    assert!(store.match_group(&org, 1, "h1").await.unwrap().is_empty());
    let claim = claim_of(&org, "c1");
    let context = store.ingest_context(&org, &claim, "conv-1").await.unwrap();
    assert_eq!(
        context.owner, None,
        "the identity is free for a new contact"
    );
    let (vips, _) = store.list_contacts(&org, page(10), true).await.unwrap();
    assert!(vips.is_empty());
}

#[tokio::test]
async fn a_delete_never_releases_a_claim_another_contact_holds() {
    let (store, org) = (local_store().await, org());
    ingested(&store, &org, "c1", "conv-1").await;
    ingested(&store, &org, "c2", "conv-2").await;
    let mut c1 = store.contact(&org, "c1").await.unwrap().unwrap();
    // c1 read with c2's identity, as if the identity had moved since.
    c1.profile
        .identities
        .extend(contact("c2").profile.identities);
    let refused = store
        .delete_contact(&org, &c1, &deletion("01a-1", "c1"))
        .await;
    assert_refused(refused, "the identities moved since the read");
    assert!(store.contact(&org, "c1").await.unwrap().is_some());
    let context = store
        .ingest_context(&org, &claim_of(&org, "c2"), "conv-2")
        .await
        .unwrap();
    assert_eq!(context.owner.as_deref(), Some("c2"));
}

#[tokio::test]
async fn the_deletion_log_pages_newest_first() {
    let (store, org) = (local_store().await, org());
    for (audit, id) in [("01a-1", "c1"), ("01a-2", "c2"), ("01a-3", "c3")] {
        let mut saved = contact(id);
        saved.profile.identities.clear();
        store.save_contact(&org, &saved, 0).await.unwrap();
        store
            .delete_contact(&org, &saved, &deletion(audit, id))
            .await
            .unwrap();
    }
    let (first, next) = store.list_deletions(&org, page(2)).await.unwrap();
    let ids: Vec<&str> = first.iter().map(|d| d.contact_id.as_str()).collect();
    assert_eq!(ids, ["c3", "c2"]);
    let (last, next) = store
        .list_deletions(&org, next_page(2, next))
        .await
        .unwrap();
    assert_eq!(last, [deletion("01a-1", "c1")]);
    assert_eq!(next, None);
    let (other, _) = store.list_deletions(&self::org(), page(10)).await.unwrap();
    assert!(other.is_empty());
}

fn note(id: &str) -> Note {
    Note {
        id: id.into(),
        text: NoteText::parse("call back").unwrap(),
        author: admin(),
        created_at: NOW.into(),
        updated_at: NOW.into(),
        updated_by: None,
        version: 1,
    }
}

/// Every sort key `scope` holds, a page of `limit` at a time.
async fn sort_keys(store: &Store, org: &OrgId, scope: PurgeScope<'_>, limit: i32) -> Vec<String> {
    let (mut all, mut start) = (Vec::new(), None);
    loop {
        let (entries, next) = store.purge_page(org, scope, start, limit).await.unwrap();
        assert!(entries.len() <= usize::try_from(limit).unwrap());
        all.extend(entries.into_iter().map(|e| e.sk));
        start = next.filter(|k| !k.is_empty());
        if start.is_none() {
            return all;
        }
    }
}

#[tokio::test]
async fn the_purge_pages_through_what_a_deleted_contact_left_and_finishes_once() {
    let (store, org) = (local_store().await, org());
    let ana = ingested(&store, &org, "c1", "conv-1").await;
    for id in ["01a-1", "01a-2"] {
        store
            .add_note(&org, NoteParent::Contact("c1"), &note(id))
            .await
            .unwrap();
    }
    store
        .delete_contact(&org, &ana, &deletion("01a-9", "c1"))
        .await
        .unwrap();
    let left: BTreeSet<String> = sort_keys(&store, &org, PurgeScope::Contact("c1"), 2)
        .await
        .into_iter()
        .collect();
    assert_eq!(
        left,
        BTreeSet::from([
            "CONV#conv-1".into(),
            "NOTE#01a-1".into(),
            "NOTE#01a-2".into()
        ])
    );
    assert_eq!(
        sort_keys(&store, &org, PurgeScope::ConversationsOf("c1"), 25).await,
        ["CONV#conv-1"]
    );

    let conversation_pk = crate::keys::conversation_pk(&org, "conv-1");
    let (owner, _) = store
        .purge_page(&org, PurgeScope::ConversationOwner("conv-1"), None, 1)
        .await
        .unwrap();
    assert_eq!(owner.len(), 1);
    assert_eq!(
        owner[0].contact_id.as_deref(),
        Some("c1"),
        "the purge checks whose conversation it is"
    );
    let items = store.partition(&conversation_pk).await.unwrap();
    assert_eq!(items.len(), 3, "the owner, the message and its id's claim");

    let (entries, _) = store
        .purge_page(&org, PurgeScope::Contact("c1"), None, 25)
        .await
        .unwrap();
    let keys = entries.into_iter().map(|e| e.key).collect();
    store.batch_delete(keys).await.unwrap();
    assert!(
        sort_keys(&store, &org, PurgeScope::Contact("c1"), 25)
            .await
            .is_empty()
    );

    store.finish_purge(&org, "c1").await.unwrap();
    assert!(!store.purge_pending(&org, "c1").await.unwrap());
    store.finish_purge(&org, "c1").await.unwrap();
    let (log, _) = store.list_deletions(&org, page(10)).await.unwrap();
    assert_eq!(log.len(), 1, "the audit record outlives the purge");
}
