//! Custom values written field by field: agents' edits, CRM lookups, settled write-backs.

use super::*;
use crate::testing::local_store;

#[tokio::test]
async fn field_level_value_updates_keep_each_others_fields_and_check_if_match() {
    let (store, org) = (local_store().await, org());
    store.save_contact(&org, &contact("c1"), 0).await.unwrap();
    let (one, two) = ([set("d1", Some("one"))], [set("d2", Some("two"))]);
    let (a, b) = tokio::join!(
        store.update_values(&org, "c1", &one, None, NOW, (&[], &[])),
        store.update_values(&org, "c1", &two, None, NOW, (&[], &[])),
    );
    assert!(a.unwrap().is_some() && b.unwrap().is_some());
    let both = store.contact(&org, "c1").await.unwrap().unwrap();
    assert_eq!(both.values.get("d1").map(String::as_str), Some("one"));
    assert_eq!(both.values.get("d2").map(String::as_str), Some("two"));
    assert_eq!(both.version, 3);
    let stale = store
        .update_values(&org, "c1", &[set("d1", None)], Some(1), NOW, (&[], &[]))
        .await
        .unwrap();
    assert!(stale.is_none());
    assert!(matches!(
        store.why_not_written(&org, "c1").await,
        DomainError::Stale(_)
    ));
    let cleared = store
        .update_values(&org, "c1", &[set("d1", None)], Some(3), NOW, (&[], &[]))
        .await
        .unwrap()
        .unwrap();
    assert!(!cleared.values.contains_key("d1"));
    let gone = store
        .update_values(&org, "nobody", &one, None, NOW, (&[], &[]))
        .await;
    assert!(gone.unwrap().is_none(), "never creates a profile");
    assert!(matches!(
        store.why_not_written(&org, "nobody").await,
        DomainError::NotFound(_)
    ));
}

fn from_crm(definition_id: &str, value: &str) -> ValueChange {
    ValueChange {
        source: crate::contacts::ValueSource::Crm,
        ..set(definition_id, Some(value))
    }
}

fn pending(change: ValueChange) -> ValueChange {
    ValueChange {
        sync: Some(crate::contacts::SyncState::Pending),
        ..change
    }
}

#[tokio::test]
async fn a_crm_lookup_never_overwrites_a_value_an_agent_is_writing_back() {
    use crate::contacts::{LookupStatus, SyncState, ValueSource};
    let (store, org) = (local_store().await, org());
    store.save_contact(&org, &contact("c1"), 0).await.unwrap();
    store
        .update_values(
            &org,
            "c1",
            &[pending(set("d1", Some("agent")))],
            None,
            NOW,
            (&[], &[]),
        )
        .await
        .unwrap()
        .unwrap();
    let found = crate::crm::ContactCrm {
        connection_id: "k1".into(),
        status: LookupStatus::Found,
        record_id: Some("r-1".into()),
        record_url: None,
        last_lookup_at: Some(NOW.into()),
        error: None,
    };
    let refused = store
        .record_lookup(&org, "c1", &found, &[from_crm("d1", "crm")], NOW, &[])
        .await
        .unwrap();
    assert!(refused.is_none(), "d1 has an agent's change pending");
    let kept = store.contact(&org, "c1").await.unwrap().unwrap();
    assert_eq!(kept.values.get("d1").map(String::as_str), Some("agent"));
    assert_eq!(kept.crm, None, "nothing of the lookup was written");

    let written = store
        .record_lookup(&org, "c1", &found, &[from_crm("d2", "gold")], NOW, &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(written.crm, Some(found.clone()));
    assert_eq!(written.values.get("d2").map(String::as_str), Some("gold"));
    assert_eq!(written.sources.get("d2"), Some(&ValueSource::Crm));
    assert_eq!(written.values.get("d1").map(String::as_str), Some("agent"));
    assert_eq!(written.sync.get("d1"), Some(&SyncState::Pending));
    assert_eq!(written.version, 3);
    let gone = store
        .record_lookup(&org, "nobody", &found, &[], NOW, &[])
        .await
        .unwrap();
    assert!(gone.is_none(), "never creates a profile");
    assert!(store.contact(&org, "nobody").await.unwrap().is_none());
}

#[tokio::test]
async fn a_write_back_settles_only_the_value_that_was_sent() {
    use crate::contacts::SyncState;
    let (store, org) = (local_store().await, org());
    store.save_contact(&org, &contact("c1"), 0).await.unwrap();
    let changes = [pending(set("d1", Some("sent"))), pending(set("d2", None))];
    store
        .update_values(&org, "c1", &changes, None, NOW, (&[], &[]))
        .await
        .unwrap()
        .unwrap();
    let settle = |definition: &'static str, sent: Option<&'static str>, state| {
        let (store, org) = (store.clone(), org.clone());
        async move {
            store
                .settle_write(&org, "c1", definition, sent, state, NOW)
                .await
                .unwrap()
        }
    };
    assert!(
        !settle("d1", Some("newer"), SyncState::Synced).await,
        "the agent changed it since; the newer change stays pending"
    );
    assert!(!settle("d1", None, SyncState::Synced).await);
    assert!(settle("d1", Some("sent"), SyncState::Synced).await);
    assert!(
        !settle("d1", Some("sent"), SyncState::Failed).await,
        "settled once"
    );
    assert!(
        settle("d2", None, SyncState::Failed).await,
        "a cleared value"
    );
    assert!(
        !settle("d3", None, SyncState::Synced).await,
        "never pending"
    );
    let settled = store.contact(&org, "c1").await.unwrap().unwrap();
    assert_eq!(settled.sync.get("d1"), Some(&SyncState::Synced));
    assert_eq!(settled.sync.get("d2"), Some(&SyncState::Failed));
    assert_eq!(settled.values.get("d1").map(String::as_str), Some("sent"));
    assert_eq!(settled.version, 4);
    let gone = store
        .settle_write(&org, "nobody", "d1", None, SyncState::Synced, NOW)
        .await
        .unwrap();
    assert!(!gone);
    assert!(store.contact(&org, "nobody").await.unwrap().is_none());
}
