//! The org's singletons: settings and attribute definitions, read together, each saved on its
//! version, with the guard that ties the matching attribute to its definition.

use super::*;
use crate::attributes::{AttributeSet, CustomAttribute, CustomType, DropdownOptions, Label};
use crate::settings::Settings;
use crate::testing::local_store;

fn custom(id: &str, label: &str, ty: CustomType) -> CustomAttribute {
    CustomAttribute {
        id: id.into(),
        label: Label::parse(label).unwrap(),
        ty,
        enabled: true,
        crm_managed: false,
        lookup: false,
    }
}

/// A text attribute `customer_id` and a dropdown `tier`.
fn two_attributes() -> AttributeSet {
    let mut set = AttributeSet::default();
    let tiers = DropdownOptions::parse(&["gold".to_owned(), "silver".to_owned()]).unwrap();
    set.custom.insert(
        "customer_id".into(),
        custom("d1", "Customer id", CustomType::Text),
    );
    set.custom.insert(
        "tier".into(),
        custom("d2", "Tier", CustomType::Dropdown(tiers)),
    );
    set.order = vec!["customer_id".into(), "tier".into()];
    set
}

fn stored<T>(value: T, read: &Stored<T>) -> Stored<T> {
    Stored {
        value,
        version: read.version,
        created_at: read.created_at.clone(),
    }
}

#[tokio::test]
async fn settings_and_definitions_are_created_once_and_then_saved_on_their_version() {
    let (store, org) = (local_store().await, org());
    let (settings, definitions) = store.org_config(&org).await.unwrap();
    assert_eq!((settings.version, definitions.version), (0, 0));
    assert_eq!(settings.value, Settings::default());
    assert_eq!(definitions.value, AttributeSet::default());

    let team = Settings {
        vip_routing_team: Some("Priority".into()),
        ..Settings::default()
    };
    store
        .save_settings(&org, &stored(team.clone(), &settings), now(), None)
        .await
        .unwrap();
    let twin = store
        .save_settings(&org, &stored(Settings::default(), &settings), now(), None)
        .await;
    assert_refused(twin, "created once");
    store
        .save_attribute_set(&org, &stored(two_attributes(), &definitions), now(), None)
        .await
        .unwrap();

    let (settings, read) = store.org_config(&org).await.unwrap();
    assert_eq!((settings.version, settings.value.clone()), (1, team));
    assert_eq!((read.version, read.value.clone()), (1, two_attributes()));
    let created = settings.created_at.clone();
    assert!(created.is_some());

    let edited = Settings {
        crm_edit_enabled: true,
        ..settings.value.clone()
    };
    let later = now() + time::Duration::minutes(5);
    store
        .save_settings(&org, &stored(edited.clone(), &settings), later, None)
        .await
        .unwrap();
    let stale = store
        .save_settings(&org, &stored(Settings::default(), &settings), later, None)
        .await;
    assert_refused(stale, "a lost update is refused");
    let mut fewer = read.value.clone();
    fewer.custom.remove("tier");
    store
        .save_attribute_set(&org, &stored(fewer.clone(), &read), later, None)
        .await
        .unwrap();
    let stale = store
        .save_attribute_set(&org, &stored(two_attributes(), &read), later, None)
        .await;
    assert_refused(stale, "a lost update is refused");

    let (settings, read) = store.org_config(&org).await.unwrap();
    assert_eq!((settings.version, settings.value), (2, edited));
    assert_eq!(settings.created_at, created, "created_at stays");
    assert_eq!((read.version, read.value), (2, fewer));
    let (other, _) = store.org_config(&self::org()).await.unwrap();
    assert_eq!(other.version, 0);
}

#[tokio::test]
async fn the_matching_attribute_and_its_definition_are_checked_in_one_transaction() {
    let (store, org) = (local_store().await, org());
    let matching = |key: &str| Settings {
        matching_attribute: Some(key.into()),
        ..Settings::default()
    };
    let (settings, none) = store.org_config(&org).await.unwrap();
    let refused = store
        .save_settings(
            &org,
            &stored(matching("customer_id"), &settings),
            now(),
            Some("customer_id"),
        )
        .await;
    assert_refused(refused, "no definitions yet: no such attribute");
    store
        .save_attribute_set(&org, &stored(two_attributes(), &none), now(), None)
        .await
        .unwrap();
    for key in ["tier", "missing"] {
        let refused = store
            .save_settings(&org, &stored(matching(key), &settings), now(), Some(key))
            .await;
        assert_refused(refused, &format!("{key} is not a custom text attribute"));
    }
    assert_eq!(
        store.org_config(&org).await.unwrap().0.version,
        0,
        "nothing saved"
    );
    store
        .save_settings(
            &org,
            &stored(matching("customer_id"), &settings),
            now(),
            Some("customer_id"),
        )
        .await
        .unwrap();

    let (_, read) = store.org_config(&org).await.unwrap();
    let mut without = read.value.clone();
    without.custom.remove("customer_id");
    let refused = store
        .save_attribute_set(&org, &stored(without, &read), now(), Some("customer_id"))
        .await;
    assert_refused(refused, "the matching attribute cannot be deleted");
    let mut without = read.value.clone();
    without.custom.remove("tier");
    store
        .save_attribute_set(&org, &stored(without, &read), now(), Some("tier"))
        .await
        .unwrap();
    let (settings, read) = store.org_config(&org).await.unwrap();
    assert_eq!(
        settings.value.matching_attribute.as_deref(),
        Some("customer_id")
    );
    assert_eq!(read.version, 2);
    assert!(read.value.custom.contains_key("customer_id"));
    assert!(!read.value.custom.contains_key("tier"));
}
