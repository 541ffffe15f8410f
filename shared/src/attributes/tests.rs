use super::*;

/// A text attribute, or a dropdown of `options`.
fn new_attr(key: &str, options: Option<&[&str]>) -> NewAttribute {
    NewAttribute {
        key: AttributeKey::parse(key).unwrap(),
        label: Label::parse(key).unwrap(),
        ty: match options {
            None => CustomType::Text,
            Some(o) => CustomType::Dropdown(
                DropdownOptions::parse(&o.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                    .unwrap(),
            ),
        },
        enabled: true,
        crm_managed: false,
        lookup: false,
    }
}

fn with_custom(keys: &[&str]) -> AttributeSet {
    let mut set = AttributeSet::default();
    for (i, key) in keys.iter().enumerate() {
        set.create(new_attr(key, None), format!("id-{i}")).unwrap();
    }
    set
}

#[test]
fn a_new_org_sees_the_catalogue_then_vip() {
    let defs = AttributeSet::default().definitions();
    assert_eq!(defs.len(), CATALOGUE.len() + 1);
    assert_eq!(defs[0].key, "followers");
    let vip = defs.last().unwrap();
    assert_eq!(
        (vip.key.as_str(), vip.kind, vip.ty, vip.enabled),
        ("vip", Kind::Builtin, AttrType::Boolean, true)
    );
    assert!(defs.iter().enumerate().all(|(i, d)| d.position == i));
    // The contract's required attributes, each on at least the networks it names.
    use crate::channel::Network::{Email, Instagram, Sms, Whatsapp, X};
    let networks = |key: &str| -> std::collections::HashSet<_> {
        let attribute = platform_attribute(key).unwrap_or_else(|| panic!("{key} missing"));
        attribute.channels.iter().map(|c| c.network()).collect()
    };
    for (key, named) in [
        ("followers", vec![X, Instagram]),
        ("verified", vec![X]),
        ("phone", vec![Whatsapp, Sms]),
        ("email_address", vec![Email]),
    ] {
        let on = networks(key);
        assert!(named.iter().all(|n| on.contains(n)), "{key}: {on:?}");
    }
    assert!(!networks("bio").is_empty() && !networks("location").is_empty());
}

#[test]
fn custom_attributes_are_placed_last_and_keys_are_unique() {
    let mut set = with_custom(&["tier"]);
    assert_eq!(set.definitions().last().unwrap().key, "tier");
    let dup = set.create(new_attr("tier", None), "x".into());
    assert_eq!(dup.unwrap_err().code(), "conflict");
    let clash = set.create(new_attr("phone", None), "x".into());
    assert_eq!(clash.unwrap_err().code(), "conflict");
    let vip = set.create(new_attr("vip", None), "x".into());
    assert_eq!(vip.unwrap_err().code(), "conflict");
}

#[test]
fn labels_and_options_are_checked() {
    assert!(Label::parse(&"é".repeat(64)).is_ok());
    assert_eq!(
        Label::parse(&"é".repeat(65)).unwrap_err().code(),
        "validation_failed"
    );
    assert!(Label::parse("   ").is_err());
    assert_eq!(Label::parse("  Tier ").unwrap().as_str(), "Tier");
    let opts =
        |v: &[&str]| DropdownOptions::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert!(opts(&["a", "b"]).is_ok());
    assert!(opts(&["a"]).is_err());
    assert!(opts(&["a", "A"]).is_err());
    assert!(opts(&["a", " "]).is_err());
    assert!(opts(&["a", &"x".repeat(101)]).is_err());
    let hundred: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert!(DropdownOptions::parse(&hundred).is_ok());
    let too_many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    assert!(DropdownOptions::parse(&too_many).is_err());
}

#[test]
fn platform_attributes_only_take_enabled_and_lookup() {
    let mut set = AttributeSet::default();
    let def = set
        .change(
            "bio",
            AttributeChange {
                enabled: Some(false),
                lookup: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(!def.enabled && def.lookup);
    let err = set
        .change(
            "bio",
            AttributeChange {
                label: Some(Label::parse("x").unwrap()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.to_body()["error"]["field"], "label");
    let err = set
        .change(
            "bio",
            AttributeChange {
                crm_managed: Some(true),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "validation_failed");
}

#[test]
fn vip_only_takes_enabled() {
    let mut set = AttributeSet::default();
    assert!(
        !set.change(
            "vip",
            AttributeChange {
                enabled: Some(false),
                ..Default::default()
            }
        )
        .unwrap()
        .enabled
    );
    assert!(!set.vip_enabled());
    let err = set
        .change(
            "vip",
            AttributeChange {
                lookup: Some(true),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.to_body()["error"]["field"], "lookup");
}

#[test]
fn a_refused_change_changes_nothing() {
    let mut set = with_custom(&["tier"]);
    let before = set.clone();
    let err = set.change(
        "tier",
        AttributeChange {
            enabled: Some(false),
            options: Some(vec!["a".into(), "b".into()]),
            ..Default::default()
        },
    );
    assert_eq!(err.unwrap_err().to_body()["error"]["field"], "options");
    assert_eq!(set, before);
}

#[test]
fn dropdown_options_can_be_replaced() {
    let mut set = AttributeSet::default();
    set.create(new_attr("size", Some(&["S", "M"])), "1".into())
        .unwrap();
    let def = set
        .change(
            "size",
            AttributeChange {
                options: Some(vec!["S".into(), "M".into(), "L".into()]),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(def.options.unwrap(), ["S", "M", "L"]);
    let bad = set.change(
        "size",
        AttributeChange {
            options: Some(vec!["S".into()]),
            ..Default::default()
        },
    );
    assert_eq!(bad.unwrap_err().code(), "validation_failed");
}

#[test]
fn reorder_needs_an_exact_permutation() {
    let mut set = with_custom(&["a", "b"]);
    let mut keys = set.display_keys();
    keys.reverse();
    set.reorder(&keys).unwrap();
    assert_eq!(set.definitions()[0].key, "b");
    assert_eq!(set.definition("b").unwrap().position, 0);

    let missing = &keys[1..];
    assert_eq!(
        set.reorder(missing).unwrap_err().code(),
        "validation_failed"
    );
    let mut twice = keys.clone();
    twice[0] = twice[1].clone();
    assert!(set.reorder(&twice).is_err());
    let mut unknown = keys.clone();
    unknown.push("nope".into());
    assert!(set.reorder(&unknown).is_err());
    assert_eq!(set.display_keys(), keys);
}

#[test]
fn only_custom_attributes_can_be_removed() {
    let mut set = with_custom(&["a"]);
    assert_eq!(set.remove("bio").unwrap_err().code(), "validation_failed");
    assert_eq!(set.remove("vip").unwrap_err().code(), "validation_failed");
    assert_eq!(set.remove("zzz").unwrap_err().code(), "not_found");
    set.remove("a").unwrap();
    assert!(set.definition("a").is_none());
    assert!(!set.order.contains(&"a".to_string()));
}

#[test]
fn attributes_added_to_the_catalogue_later_appear_at_the_end() {
    let mut set = with_custom(&["a"]);
    set.order.retain(|k| k != "page_url");
    let keys = set.display_keys();
    assert_eq!(keys.last().unwrap(), "page_url");
    assert_eq!(keys.len(), CATALOGUE.len() + 2);
}
