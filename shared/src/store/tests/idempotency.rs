//! Idempotency keys: claimed once, completed with the response, found by contact.

use super::*;
use crate::testing::local_store;

#[tokio::test]
async fn an_idempotency_key_is_claimed_once_completed_and_found_by_contact() {
    let (store, org) = (local_store().await, org());
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
