//! Match links: the contacts filed under one matching value, per generation.

use super::*;
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
