//! The CRM connection's access patterns against the local endpoint: created once, the breaker's
//! counters, deleted once. Each test works in an org of its own.

use super::*;
use crate::ids::OrgId;
use crate::testing::{local_store, new_org};

const NOW: &str = "2026-01-01T10:00:00Z";

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

#[tokio::test]
async fn the_crm_breaker_opens_after_five_failures_in_a_row_and_one_success_closes_it() {
    let store = local_store().await;
    let org = OrgId::parse(&new_org("store")).unwrap();
    assert!(
        store
            .put_crm_connection(&org, &connection("k1"), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_crm_connection(&org, &connection("k1"), None)
            .await
            .unwrap(),
        "created once"
    );
    let failure = || CallOutcome::Failed {
        error: crate::crm::CallError {
            at: NOW.into(),
            message: "answered HTTP 500".into(),
        },
        pause_until: "2026-01-01T10:01:00Z".into(),
    };
    for n in 1..=5 {
        store.record_crm_call(&org, "k1", failure()).await.unwrap();
        let now = store.crm_connection(&org).await.unwrap().unwrap();
        assert_eq!(now.consecutive_failures, n);
        assert_eq!(now.paused_until.is_some(), n == 5, "paused at the fifth");
    }
    let paused = store.crm_connection(&org).await.unwrap().unwrap();
    assert!(paused.paused_at("2026-01-01T10:00:30Z"));
    assert!(!paused.paused_at("2026-01-01T10:01:00Z"), "for 60 s");
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
