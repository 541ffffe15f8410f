//! Match links: the contacts filed under one matching value, per generation.

use super::*;
use crate::contacts::Linked;
use crate::testing::local_store;

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
async fn bulk_match_links_are_written_and_removed_past_one_batch() {
    let (store, org) = (local_store().await, org());
    let ids: Vec<String> = (0..30).map(|n| format!("c{n:02}")).collect();
    let links: Vec<(String, String)> = ids.iter().map(|id| ("h1".into(), id.clone())).collect();
    store.put_match_links(&org, 3, &links, NOW).await.unwrap();
    let mut group = store.match_group(&org, 3, "h1").await.unwrap();
    group.sort();
    assert_eq!(group, ids, "all of them, past the 25 of one batch write");
    assert!(
        store
            .match_group(&self::org(), 3, "h1")
            .await
            .unwrap()
            .is_empty()
    );
    let stale: Vec<(u64, String, String)> = ids
        .iter()
        .map(|id| (3, "h1".to_owned(), id.clone()))
        .collect();
    store.delete_match_links(&org, &stale).await.unwrap();
    assert!(store.match_group(&org, 3, "h1").await.unwrap().is_empty());
}

#[tokio::test]
async fn an_edit_moves_its_contacts_match_link_in_the_same_transaction() {
    let (store, org) = (local_store().await, org());
    let mut ana = contact("c1");
    store.save_contact(&org, &ana, 0).await.unwrap();
    let filed = |from: Option<&str>, to: Option<&str>| MatchMove {
        generation: 1,
        from: from.map(Into::into),
        to: to.map(Into::into),
    };
    ana.version = 2;
    ana.match_hash = Some("h1".into());
    let moved = filed(None, Some("h1"));
    store
        .save_edited_contact(&org, &ana, 1, Some(&moved), &[])
        .await
        .unwrap();
    assert_eq!(store.match_group(&org, 1, "h1").await.unwrap(), ["c1"]);

    ana.version = 3;
    ana.match_hash = Some("h2".into());
    let moved = filed(Some("h1"), Some("h2"));
    let stale = store
        .save_edited_contact(&org, &ana, 1, Some(&moved), &[])
        .await;
    assert_refused(stale, "a stale version is refused");
    assert_eq!(
        store.match_group(&org, 1, "h1").await.unwrap(),
        ["c1"],
        "a refused edit moves no link"
    );
    assert!(store.match_group(&org, 1, "h2").await.unwrap().is_empty());
    store
        .save_edited_contact(&org, &ana, 2, Some(&moved), &[])
        .await
        .unwrap();
    assert!(store.match_group(&org, 1, "h1").await.unwrap().is_empty());
    assert_eq!(store.match_group(&org, 1, "h2").await.unwrap(), ["c1"]);
    let saved = store.contact(&org, "c1").await.unwrap().unwrap();
    assert_eq!(
        (saved.version, saved.match_hash.as_deref()),
        (3, Some("h2"))
    );
}

#[tokio::test]
async fn a_view_reads_the_first_100_of_a_large_group_and_its_count_in_one_query() {
    let (store, org) = (local_store().await, org());
    let ids: Vec<String> = (0..250).map(|n| format!("c{n:03}")).collect();
    let links: Vec<(String, String)> = ids.iter().map(|id| ("h1".into(), id.clone())).collect();
    store.put_match_links(&org, 1, &links, NOW).await.unwrap();
    let mut ana = contact("c007");
    (ana.match_generation, ana.match_hash) = (1, Some("h1".into()));

    // Before the group is counted, the members read are the floor.
    let preview = store.linked_preview(&org, &ana).await.unwrap();
    assert_eq!(preview.ids.len(), 100);
    assert!(
        !preview.ids.contains(&ana.id),
        "a contact is not linked to itself"
    );
    assert_eq!(preview.count, 101, "the 102 links read, but itself");

    assert_eq!(
        store.recount_match_group(&org, 1, "h1", NOW).await.unwrap(),
        250
    );
    let preview = store.linked_preview(&org, &ana).await.unwrap();
    assert_eq!(preview.count, 249, "every other member, past the page");
    assert_eq!(preview.ids[..3], ids[..3]);

    // A recount that began earlier than the one recorded does not overwrite it.
    store
        .delete_match_links(&org, &[(1, "h1".into(), "c000".into())])
        .await
        .unwrap();
    store
        .recount_match_group(&org, 1, "h1", "2025-12-31T10:00:00Z")
        .await
        .unwrap();
    assert_eq!(store.linked_preview(&org, &ana).await.unwrap().count, 249);
    store
        .recount_match_group(&org, 1, "h1", "2026-01-01T10:00:01Z")
        .await
        .unwrap();
    assert_eq!(store.linked_preview(&org, &ana).await.unwrap().count, 248);
    assert_eq!(
        store
            .match_group_counted_at(&org, 1, "h1")
            .await
            .unwrap()
            .as_deref(),
        Some("2026-01-01T10:00:01Z")
    );

    // A group of an earlier generation loses its head with its links.
    let heads = std::collections::BTreeSet::from([(1, "h1".to_owned())]);
    store.delete_match_group_heads(&org, &heads).await.unwrap();
    assert_eq!(
        store.match_group_counted_at(&org, 1, "h1").await.unwrap(),
        None
    );

    let unfiled = contact("c999");
    assert_eq!(
        store.linked_preview(&org, &unfiled).await.unwrap(),
        Linked::default()
    );
}

#[tokio::test]
async fn linked_contacts_page_through_the_whole_group_but_the_contact() {
    let (store, org) = (local_store().await, org());
    let mut members = Vec::new();
    for n in 0..5 {
        let mut c = contact(&format!("c{n}"));
        (c.match_generation, c.match_hash) = (1, Some("h1".into()));
        store.save_contact(&org, &c, 0).await.unwrap();
        members.push(("h1".to_owned(), c.id.clone()));
    }
    store.put_match_links(&org, 1, &members, NOW).await.unwrap();
    let ana = store.contact(&org, "c2").await.unwrap().unwrap();
    let mut seen = Vec::new();
    let mut start = None;
    loop {
        let (page, next) = store
            .linked_contacts(&org, &ana, next_page(2, start))
            .await
            .unwrap();
        seen.extend(page.into_iter().map(|c| c.id));
        start = next;
        if start.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["c0", "c1", "c3", "c4"]);
    let foreign = PageRequest {
        limit: 2,
        start: Some(raw_key("ORG#other#MATCH#1#h1", "C#c1")),
    };
    let err = store
        .linked_contacts(&org, &ana, foreign)
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::ForeignCursor), "{err:?}");
}
