//! The CRM connection's access patterns against the local endpoint: created once, the breaker's
//! counters, deleted once. Each test works in an org of its own.

use super::*;
use crate::testing::local_store;

fn connection(id: &str) -> crate::crm::CrmConnection {
    crate::crm::CrmConnection {
        connection_id: id.into(),
        lookup_url: crate::crm::CrmUrl::parse(
            "lookup_url",
            "https://crm.example.com/lookup",
            crate::crm::Loopback::Refused,
        )
        .unwrap(),
        writeback_url: None,
        lookup_ttl_minutes: 60,
        secret: crate::crm::SealedSecret {
            ciphertext: "c2VhbGVk".into(),
            hint: "abcd".into(),
        },
        retiring: None,
        version: 0,
        consecutive_failures: 0,
        paused_until: None,
        last_error: None,
        created_at: NOW.into(),
        updated_at: NOW.into(),
    }
}

fn failure(pause_until: &str) -> CallOutcome {
    CallOutcome::Failed {
        error: crate::crm::CallError {
            at: NOW.into(),
            message: "answered HTTP 500".into(),
        },
        pause_until: crate::clock::Timestamp::parse(pause_until).unwrap(),
    }
}

#[tokio::test]
async fn the_crm_breaker_opens_after_five_failures_in_a_row_and_one_success_closes_it() {
    let store = local_store().await;
    let org = OrgId::parse(&new_org("store")).unwrap();
    let read = connection("k1");
    assert!(store.create_crm_connection(&org, &read).await.unwrap());
    assert!(
        !store.create_crm_connection(&org, &read).await.unwrap(),
        "created once"
    );
    // Each failure is counted against the connection as first read: a stale count is read again.
    for n in 1..=5 {
        let pause = "2026-01-01T10:01:00Z";
        store
            .record_crm_call(&org, &read, failure(pause))
            .await
            .unwrap();
        let now = store.crm_connection(&org).await.unwrap().unwrap();
        assert_eq!(now.consecutive_failures, n);
        assert_eq!(now.paused_until.is_some(), n == 5, "paused at the fifth");
    }
    let paused = store.crm_connection(&org).await.unwrap().unwrap();
    assert!(paused.paused_at(time::macros::datetime!(2026-01-01 10:00:30 UTC)));
    assert!(
        !paused.paused_at(time::macros::datetime!(2026-01-01 10:01:00 UTC)),
        "for 60 s"
    );
    assert_eq!(paused.view().state, "failing");

    // The first call after the pause fails too: calls pause again at once, not 5 failures on.
    let again = "2026-01-01T10:02:00Z";
    store
        .record_crm_call(&org, &paused, failure(again))
        .await
        .unwrap();
    let repaused = store.crm_connection(&org).await.unwrap().unwrap();
    assert_eq!(repaused.consecutive_failures, 6);
    assert!(repaused.paused_at(time::macros::datetime!(2026-01-01 10:01:30 UTC)));

    // A call made under a replaced connection counts for nothing.
    let replaced = connection("old");
    store
        .record_crm_call(&org, &replaced, CallOutcome::Succeeded)
        .await
        .unwrap();
    assert_eq!(store.crm_connection(&org).await.unwrap().unwrap(), repaused);

    store
        .record_crm_call(&org, &read, CallOutcome::Succeeded)
        .await
        .unwrap();
    let healthy = store.crm_connection(&org).await.unwrap().unwrap();
    assert_eq!(healthy.consecutive_failures, 0);
    assert_eq!(healthy.paused_until, None);
    assert_eq!(healthy.view().state, "healthy");
    assert_eq!(healthy.last_error.unwrap().message, "answered HTTP 500");

    assert!(store.delete_crm_connection(&org).await.unwrap());
    assert!(!store.delete_crm_connection(&org).await.unwrap());
    store
        .record_crm_call(&org, &read, failure("2026-01-01T10:03:00Z"))
        .await
        .unwrap();
    assert_eq!(
        store.crm_connection(&org).await.unwrap(),
        None,
        "a call after a disconnect brings nothing back"
    );
}

#[tokio::test]
async fn failures_recorded_side_by_side_all_count_and_the_fifth_pauses() {
    let (store, org) = (local_store().await, org());
    let read = connection("k1");
    assert!(store.create_crm_connection(&org, &read).await.unwrap());
    let calls = (0..5).map(|_| store.record_crm_call(&org, &read, failure("2026-01-01T10:01:00Z")));
    for recorded in futures::future::join_all(calls).await {
        recorded.unwrap();
    }
    let now = store.crm_connection(&org).await.unwrap().unwrap();
    assert_eq!(now.consecutive_failures, 5, "no failure lost to another");
    assert!(
        now.paused_until.is_some(),
        "and the one that made five paused"
    );
}

#[tokio::test]
async fn new_endpoints_a_rotation_and_the_breaker_each_change_only_their_own_fields() {
    let (store, org) = (local_store().await, org());
    let first = crate::crm::CrmConnection {
        version: 1,
        ..connection("k1")
    };
    assert!(store.create_crm_connection(&org, &first).await.unwrap());
    store
        .record_crm_call(&org, &first, failure("2026-01-01T10:01:00Z"))
        .await
        .unwrap();

    let sealed = |text: &str| crate::crm::SealedSecret {
        ciphertext: text.into(),
        hint: text[..4].into(),
    };
    let retiring = crate::crm::RetiringSecret {
        secret: first.secret.clone(),
        until: "2026-01-02T10:00:00Z".into(),
    };
    let later = "2026-01-01T10:05:00Z";
    assert!(
        store
            .rotate_crm_secret(&org, &first, &sealed("bmV3MQ=="), &retiring, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .rotate_crm_secret(&org, &first, &sealed("bmV3Mg=="), &retiring, later)
            .await
            .unwrap(),
        "a rotation over a stale read would retire a secret no longer in use"
    );

    let url = crate::crm::CrmUrl::parse(
        "lookup_url",
        "https://crm.example.com/v2/lookup",
        crate::crm::Loopback::Refused,
    )
    .unwrap();
    let endpoints = CrmEndpoints {
        lookup_url: &url,
        writeback_url: Some(&url),
        lookup_ttl_minutes: 5,
    };
    let moved = store
        .set_crm_endpoints(&org, "k1", endpoints, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        moved,
        crate::crm::CrmConnection {
            lookup_url: url.clone(),
            writeback_url: Some(url.clone()),
            lookup_ttl_minutes: 5,
            secret: sealed("bmV3MQ=="),
            retiring: Some(retiring),
            version: 3,
            consecutive_failures: 1,
            last_error: moved.last_error.clone(),
            updated_at: later.into(),
            ..first.clone()
        },
        "the rotated secret and the breaker's count stand"
    );
    assert_eq!(store.crm_connection(&org).await.unwrap(), Some(moved));

    let lookup_only = CrmEndpoints {
        lookup_url: &url,
        writeback_url: None,
        lookup_ttl_minutes: 5,
    };
    assert_eq!(
        store
            .set_crm_endpoints(&org, "k0", lookup_only, later)
            .await
            .unwrap(),
        None,
        "another connection's endpoints are not written over this one"
    );

    store.save_contact(&org, &contact("c1"), 0).await.unwrap();
    let context = store.contact_context(&org, "c1").await.unwrap();
    assert_eq!(context.crm.map(|c| c.connection_id).as_deref(), Some("k1"));
    assert_eq!(context.contact.map(|c| c.id).as_deref(), Some("c1"));
    let other = store.contact_context(&self::org(), "c1").await.unwrap();
    assert!(other.crm.is_none() && other.contact.is_none());

    assert!(store.delete_crm_connection(&org).await.unwrap());
    assert_eq!(
        store
            .set_crm_endpoints(&org, "k1", lookup_only, later)
            .await
            .unwrap(),
        None,
        "a deleted connection is not brought back"
    );
    assert_eq!(store.crm_connection(&org).await.unwrap(), None);
}

#[tokio::test]
async fn an_allowance_counts_each_use_once_and_refuses_past_its_window_s_share() {
    let (store, org) = (local_store().await, org());
    let allowance = crate::store::Allowance {
        purpose: "test",
        per_window: 3,
        seconds: 60,
    };
    let at = 1_767_261_600; // 2026-01-01T10:00:00Z, a window's start
    let taken = (0..4).map(|_| store.take_allowance(&org, allowance, at + 10));
    let taken: Vec<bool> = futures::future::join_all(taken)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(taken.iter().filter(|t| **t).count(), 3, "{taken:?}");
    assert!(
        !store
            .take_allowance(&org, allowance, at + 59)
            .await
            .unwrap()
    );
    assert!(
        store
            .take_allowance(&org, allowance, at + 60)
            .await
            .unwrap(),
        "the next window starts afresh"
    );
    let other = self::org();
    assert!(
        store
            .take_allowance(&other, allowance, at + 59)
            .await
            .unwrap(),
        "each org has its own"
    );
}
