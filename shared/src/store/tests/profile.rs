//! The contact's `PROFILE` item: versioned writes, the listings, the VIP flag, links and
//! match filing.

use super::*;
use crate::cursor::{ListScope, PageRequest, encode};
use crate::testing::local_store;

#[tokio::test]
async fn a_profile_is_created_once_and_then_only_on_its_version() {
    let (store, org) = (local_store().await, org());
    let mut ana = contact("c1");
    store.save_contact(&org, &ana, 0).await.unwrap();
    assert_refused(store.save_contact(&org, &ana, 0).await, "created once");
    ana.version = 2;
    assert_refused(
        store.save_contact(&org, &ana, 7).await,
        "saved only on its current version",
    );
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
async fn a_listing_holds_what_the_list_shows_and_a_walk_reads_whole_profiles() {
    let (store, org) = (local_store().await, org());
    let mut ana = contact("01c-1");
    ana.profile.handle = Some("@ana".into());
    ana.values.insert("attr-1".into(), "Lisbon".into());
    ana.platform.insert("phone".into(), "+351900000001".into());
    ana.crm = Some(crate::crm::ContactCrm {
        connection_id: "conn-1".into(),
        status: crate::contacts::LookupStatus::Found,
        record_id: Some("r-1".into()),
        record_url: Some("https://crm.example/r-1".into()),
        last_lookup_at: Some(NOW.into()),
        error: None,
    });
    store.save_contact(&org, &ana, 0).await.unwrap();

    let (listed, _) = store.list_contacts(&org, page(10), false).await.unwrap();
    assert!(
        listed == [ana.listed()],
        "the list entry's fields, as stored"
    );
    let (walked, _) = store
        .contacts_walk_page(&org, false, Some(10), None)
        .await
        .unwrap();
    assert!(walked == [ana], "values and platform too");
}

#[tokio::test]
async fn the_listing_merges_its_shards_newest_first_page_by_page() {
    let (store, org) = (local_store().await, org());
    let ids: Vec<String> = (0..60).map(|n| format!("01b-{n:03}")).collect();
    let shards: std::collections::BTreeSet<u32> = ids
        .iter()
        .map(|id| crate::keys::contact_index_shard(id))
        .collect();
    assert_eq!(shards.len(), 8, "the contacts sit in every shard");
    for id in &ids {
        store.save_contact(&org, &contact(id), 0).await.unwrap();
    }
    let mut listed = Vec::new();
    let mut start = None;
    loop {
        let (contacts, next) = store
            .list_contacts(&org, next_page(7, start), false)
            .await
            .unwrap();
        assert!(
            contacts.len() == 7 || next.is_none(),
            "only the last page is short"
        );
        listed.extend(contacts.into_iter().map(|c| c.id));
        start = next;
        if start.is_none() {
            break;
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first, "every contact once, newest first");
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
    assert!(matches!(err, DomainError::ForeignCursor), "{err:?}");
}

#[tokio::test]
async fn the_vip_flag_is_set_only_on_the_version_read_and_never_on_a_gone_contact() {
    let (store, org) = (local_store().await, org());
    store.save_contact(&org, &contact("c1"), 0).await.unwrap();
    let stale = store.set_vip(&org, "c1", true, Some(7), NOW, &[]).await;
    assert!(stale.unwrap().is_none());
    assert!(matches!(
        store.why_not_written(&org, "c1").await,
        DomainError::Stale(_)
    ));
    let vip = store
        .set_vip(&org, "c1", true, Some(1), NOW, &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (vip.vip, vip.version),
        (true, 2),
        "answers with the profile as written"
    );
    let gone = store.set_vip(&org, "nobody", true, None, NOW, &[]).await;
    assert!(gone.unwrap().is_none());
    assert!(store.contact(&org, "nobody").await.unwrap().is_none());
    let (vips, _) = store.list_contacts(&org, page(10), true).await.unwrap();
    assert_eq!(vips.len(), 1);
}

#[tokio::test]
async fn an_existing_contact_is_found_only_at_the_version_named() {
    let (store, org) = (local_store().await, org());
    store.save_contact(&org, &contact("c1"), 0).await.unwrap();
    let found = store.existing_contact(&org, "c1", Some(1)).await.unwrap();
    assert_eq!(
        (found.contact.id.as_str(), found.settings.version),
        ("c1", 0)
    );
    assert!(store.existing_contact(&org, "c1", None).await.is_ok());
    let stale = store.existing_contact(&org, "c1", Some(2)).await;
    assert!(matches!(stale, Err(DomainError::Stale(_))));
    let missing = store.existing_contact(&org, "c9", None).await;
    assert!(matches!(missing, Err(DomainError::NotFound(_))));
}

#[tokio::test]
async fn a_contact_is_refiled_outright_only_on_the_version_read() {
    let (store, org) = (local_store().await, org());
    store.save_contact(&org, &contact("c1"), 0).await.unwrap();
    assert!(
        !store
            .refile_contact(&org, "c1", 5, 2, Some("h1"))
            .await
            .unwrap()
    );
    assert!(
        store
            .refile_contact(&org, "c1", 1, 2, Some("h1"))
            .await
            .unwrap()
    );
    let filed = store.contact(&org, "c1").await.unwrap().unwrap();
    assert_eq!(filed.match_hash.as_deref(), Some("h1"));
    assert_eq!((filed.match_generation, filed.version), (2, 2));
    assert!(store.refile_contact(&org, "c1", 2, 3, None).await.unwrap());
    let unfiled = store.contact(&org, "c1").await.unwrap().unwrap();
    assert_eq!(unfiled.match_hash, None);
    assert_eq!((unfiled.match_generation, unfiled.version), (3, 3));
    assert!(
        !store
            .refile_contact(&org, "gone", 1, 3, None)
            .await
            .unwrap()
    );
    assert!(store.contact(&org, "gone").await.unwrap().is_none());
}

#[tokio::test]
async fn every_contact_of_an_org_is_visited_page_by_page() {
    let (store, org) = (local_store().await, org());
    let ids: Vec<String> = (0..101).map(|n| format!("c{n:03}")).collect();
    for id in &ids {
        store.save_contact(&org, &contact(id), 0).await.unwrap();
    }
    let mut pages = Vec::new();
    store
        .for_each_contact_page(&org, |contacts| {
            pages.push(contacts.into_iter().map(|c| c.id).collect::<Vec<_>>())
        })
        .await
        .unwrap();
    assert_eq!(pages.len(), 2, "a hundred a page");
    let mut seen: Vec<String> = pages.concat();
    seen.sort();
    assert_eq!(seen, ids, "each once");
    let mut none = 0;
    store
        .for_each_contact_page(&self::org(), |contacts| none += contacts.len())
        .await
        .unwrap();
    assert_eq!(none, 0);
}
