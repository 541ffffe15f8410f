//! Idempotency keys: claimed once, completed with the response, found by contact.

use super::*;
use crate::testing::local_store;

#[tokio::test]
async fn an_idempotency_key_is_claimed_once_completed_and_found_by_contact() {
    let (store, org) = (local_store().await, org());
    store.save_contact(&org, &contact("c1"), 0).await.unwrap();
    let claim = |key: &'static str, hash: &'static str| {
        let store = store.clone();
        let org = org.clone();
        async move {
            store
                .claim_idempotency_key(&org, key, hash, 1_000, 1_060)
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
        .complete_idempotency_key(&org, "k1", "h1", &stored, Some("c1"), 90_000)
        .await
        .unwrap();
    assert!(
        matches!(claim("k1", "h2").await, Claim::Taken(r) if r.response == Some(stored.clone()))
    );
    let record_k1 = raw_key(&keys::idempotency_pk(&org, "k1"), keys::IDEMPOTENCY_SK);
    assert_eq!(
        store.idempotency_records_of(&org, "c1").await.unwrap(),
        std::slice::from_ref(&record_k1),
        "found at once, by a strongly consistent read of the contact's partition"
    );
    store.release_idempotency_key(&org, "k1").await.unwrap();
    assert!(matches!(claim("k1", "h2").await, Claim::Won));

    // A response about a contact deleted meanwhile is not kept: the key is let go.
    assert!(matches!(claim("k2", "h1").await, Claim::Won));
    let c1 = store.contact(&org, "c1").await.unwrap().unwrap();
    let record = crate::deletion::DeletionRecord {
        id: "01a1fc70-0000-7000-8000-0000000000d2".into(),
        contact_id: "c1".into(),
        contact_hint: "C.".into(),
        platform: "sms".into(),
        deleted_at: NOW.into(),
        deleted_by: crate::notes::Person {
            id: "admin".into(),
            name: "Admin".into(),
        },
    };
    store.delete_contact(&org, &c1, &record).await.unwrap();
    store
        .complete_idempotency_key(&org, "k2", "h1", &stored, Some("c1"), 90_000)
        .await
        .unwrap();
    assert!(
        matches!(claim("k2", "h2").await, Claim::Won),
        "nothing of the deleted contact was stored under k2"
    );
    assert_eq!(
        store.idempotency_records_of(&org, "c1").await.unwrap(),
        [record_k1],
        "and no pointer to it"
    );
}

#[tokio::test]
async fn a_claim_that_never_completed_frees_its_key_after_its_minute_a_response_after_its_day() {
    let (store, org) = (local_store().await, org());
    let claim = |now: i64| {
        let (store, org) = (store.clone(), org.clone());
        async move {
            store
                .claim_idempotency_key(&org, "k", "h", now, now + 60)
                .await
                .unwrap()
        }
    };
    assert!(matches!(claim(1_000).await, Claim::Won));
    // The first request dies here, between its claim and its completion.
    assert!(
        matches!(claim(1_059).await, Claim::Taken(r) if r.response.is_none()),
        "held while the first may still run"
    );
    assert!(matches!(claim(1_061).await, Claim::Won), "free a minute on");
    let stored = StoredResponse {
        status: 200,
        body: "{}".into(),
        etag: None,
    };
    store
        .complete_idempotency_key(&org, "k", "h", &stored, None, 1_061 + 86_400)
        .await
        .unwrap();
    assert!(
        matches!(claim(1_061 + 86_399).await, Claim::Taken(r) if r.response == Some(stored.clone())),
        "a response is replayed for its day"
    );
    assert!(matches!(claim(1_061 + 86_401).await, Claim::Won));
}
