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
        consecutive_failures: 0,
        paused_until: None,
        last_error: None,
        created_at: NOW.into(),
        updated_at: NOW.into(),
    }
}

/// Puts the connection: a new one, or a replacement of the one last updated at `replacing`;
/// whether it was written.
async fn put(
    store: &Store,
    org: &OrgId,
    connection: &crate::crm::CrmConnection,
    replacing: Option<&str>,
) -> bool {
    store
        .put_crm_connection(org, connection, replacing)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_crm_breaker_opens_after_five_failures_in_a_row_and_one_success_closes_it() {
    let store = local_store().await;
    let org = OrgId::parse(&new_org("store")).unwrap();
    assert!(put(&store, &org, &connection("k1"), None).await);
    assert!(
        !put(&store, &org, &connection("k1"), None).await,
        "created once"
    );
    let failure = || CallOutcome::Failed {
        error: crate::crm::CallError {
            at: NOW.into(),
            message: "answered HTTP 500".into(),
        },
        pause_until: crate::clock::Timestamp::parse("2026-01-01T10:01:00Z").unwrap(),
    };
    for n in 1..=5 {
        store.record_crm_call(&org, "k1", failure()).await.unwrap();
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

    // A call made under a replaced connection counts for nothing.
    store
        .record_crm_call(&org, "old", CallOutcome::Succeeded)
        .await
        .unwrap();
    assert_eq!(
        store
            .crm_connection(&org)
            .await
            .unwrap()
            .unwrap()
            .consecutive_failures,
        5
    );

    store
        .record_crm_call(&org, "k1", CallOutcome::Succeeded)
        .await
        .unwrap();
    let healthy = store.crm_connection(&org).await.unwrap().unwrap();
    assert_eq!(healthy.consecutive_failures, 0);
    assert_eq!(healthy.paused_until, None);
    assert_eq!(healthy.view().state, "healthy");
    assert_eq!(healthy.last_error.unwrap().message, "answered HTTP 500");

    assert!(store.delete_crm_connection(&org).await.unwrap());
    assert!(!store.delete_crm_connection(&org).await.unwrap());
}

#[tokio::test]
async fn a_connection_is_replaced_only_over_the_one_read_and_read_with_the_contact() {
    let (store, org) = (local_store().await, org());
    assert_eq!(store.crm_connection(&org).await.unwrap(), None);
    assert!(
        !put(&store, &org, &connection("k1"), Some(NOW)).await,
        "a replace never creates"
    );
    assert!(put(&store, &org, &connection("k1"), None).await);
    assert_eq!(
        store.crm_connection(&org).await.unwrap(),
        Some(connection("k1"))
    );
    let later = "2026-01-01T10:05:00Z";
    let replacement = crate::crm::CrmConnection {
        updated_at: later.into(),
        ..connection("k2")
    };
    assert!(put(&store, &org, &replacement, Some(NOW)).await);
    assert!(
        !put(&store, &org, &connection("k3"), Some(NOW)).await,
        "a replace over a stale read is refused"
    );
    assert_eq!(store.crm_connection(&org).await.unwrap(), Some(replacement));

    store.save_contact(&org, &contact("c1"), 0).await.unwrap();
    let context = store.contact_context(&org, "c1").await.unwrap();
    assert_eq!(context.crm.map(|c| c.connection_id).as_deref(), Some("k2"));
    assert_eq!(context.contact.map(|c| c.id).as_deref(), Some("c1"));
    let other = store.contact_context(&self::org(), "c1").await.unwrap();
    assert!(other.crm.is_none() && other.contact.is_none());

    assert!(store.delete_crm_connection(&org).await.unwrap());
    assert!(
        !put(&store, &org, &connection("k4"), Some(later)).await,
        "a deleted connection is not brought back"
    );
    assert_eq!(store.crm_connection(&org).await.unwrap(), None);
}
