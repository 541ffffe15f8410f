use super::*;
use crate::attributes::{AttributeChange, DropdownOptions, Label, NewAttribute};
use crate::auth::{Plan, Role};
use crate::ids::AttributeKey;
use crate::testing::caller;

fn definitions() -> AttributeSet {
    let mut set = AttributeSet::default();
    let add = |set: &mut AttributeSet, key: &str, options: Option<&[&str]>, crm: bool| {
        let options = options.map(|o| {
            DropdownOptions::parse(&o.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
        });
        set.create(
            NewAttribute {
                key: AttributeKey::parse(key).unwrap(),
                label: Label::parse(key).unwrap(),
                ty: options.map_or(CustomType::Text, CustomType::Dropdown),
                enabled: true,
                crm_managed: crm,
                lookup: false,
            },
            format!("id-{key}"),
        )
        .unwrap();
    };
    add(&mut set, "customer_id", None, false);
    add(&mut set, "tier", Some(&["Gold", "Silver"]), false);
    add(&mut set, "owner", None, true);
    add(&mut set, "old", None, false);
    set.change(
        "old",
        AttributeChange {
            enabled: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    set.change(
        "bio",
        AttributeChange {
            enabled: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    set
}

fn contact() -> Contact {
    let new = Contact::new("c1".to_owned(), Network::X, "2026-01-01T10:00:00Z");
    Contact {
        profile: Profile {
            name: "Ana Lima".into(),
            handle: Some("@ana".into()),
            identities: vec![Identity {
                channel: Channel::XDm,
                network: Network::X,
                user_id: "1234".into(),
                handle: Some("@ana".into()),
            }],
            ..new.profile.clone()
        },
        platform: BTreeMap::from([
            ("followers".into(), "120".into()),
            ("bio".into(), "hi".into()),
        ]),
        values: BTreeMap::from([
            ("id-tier".into(), "Gold".into()),
            ("id-old".into(), "x".into()),
        ]),
        version: 3,
        ..new
    }
}

fn edit(pairs: &[(&str, Option<&str>)]) -> HashMap<String, Option<String>> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_owned)))
        .collect()
}

/// The sample contact's view under the sample definitions and default settings.
fn view_as(role: Role, plan: Plan) -> ContactView {
    contact().view(
        &definitions(),
        &Settings::default(),
        None,
        &caller(role, plan),
        Linked {
            ids: vec!["c9".into()],
            count: 240,
        },
    )
}

#[test]
fn the_view_shows_enabled_attributes_for_the_contacts_channels() {
    let view = view_as(Role::Agent, Plan::Business);
    let keys: Vec<&str> = view.attributes.iter().map(|a| a.key.as_str()).collect();
    assert!(
        keys.contains(&"followers"),
        "an X contact sees X platform attributes"
    );
    assert!(!keys.contains(&"phone"), "but not WhatsApp's");
    assert!(!keys.contains(&"bio"), "nor disabled ones");
    assert!(!keys.contains(&"old") && !keys.contains(&"vip"));
    assert_eq!(keys[keys.len() - 3..], ["customer_id", "tier", "owner"]);
    let tier = view.attributes.iter().find(|a| a.key == "tier").unwrap();
    assert_eq!((tier.value.as_deref(), tier.editable), (Some("Gold"), true));
    let owner = view.attributes.iter().find(|a| a.key == "owner").unwrap();
    assert!(!owner.editable, "CRM-managed while CRM edits are off");
    let followers = view
        .attributes
        .iter()
        .find(|a| a.key == "followers")
        .unwrap();
    assert!(!followers.editable);
    assert_eq!(
        (view.linked_contact_ids, view.linked_count),
        (vec!["c9".to_owned()], 240)
    );
}

#[test]
fn nothing_is_editable_on_the_team_plan() {
    let view = view_as(Role::Admin, Plan::Team);
    assert!(view.attributes.iter().all(|a| !a.editable));
}

#[test]
fn edits_are_checked_whole() {
    use crate::contacts::ValueSource::{Agent, Automation, Crm};
    let defs = definitions();
    let settings = Settings::default();
    let ok = validate_edit(
        &edit(&[("customer_id", Some(" 42 ")), ("tier", None)]),
        &defs,
        &settings,
        Agent,
    )
    .unwrap();
    assert_eq!(
        ok[0],
        ValueChange {
            key: "customer_id".into(),
            definition_id: "id-customer_id".into(),
            value: Some("42".into()),
            source: crate::contacts::ValueSource::Agent,
            sync: None,
        }
    );
    assert_eq!(ok[1].value, None);
    for (bad, code) in [
        (edit(&[("tier", Some("Bronze"))]), "validation_failed"),
        (edit(&[("followers", Some("1"))]), "validation_failed"),
        (edit(&[("vip", Some("true"))]), "validation_failed"),
        (edit(&[("nope", Some("1"))]), "validation_failed"),
        (edit(&[("old", Some("1"))]), "validation_failed"),
        (
            edit(&[("customer_id", Some(&"x".repeat(1001)))]),
            "validation_failed",
        ),
        (edit(&[("owner", Some("me"))]), "forbidden"),
    ] {
        assert_eq!(
            validate_edit(&bad, &defs, &settings, Agent)
                .unwrap_err()
                .code(),
            code,
            "{bad:?}"
        );
    }
    let long = "é".repeat(1000);
    assert!(
        validate_edit(
            &edit(&[("customer_id", Some(&long))]),
            &defs,
            &settings,
            Agent
        )
        .is_ok()
    );
    let crm_on = Settings {
        crm_edit_enabled: true,
        ..Default::default()
    };
    let agent_owner = validate_edit(&edit(&[("owner", Some("me"))]), &defs, &crm_on, Agent);
    assert_eq!(agent_owner.unwrap()[0].sync, Some(SyncState::Pending));
    let automation_owner =
        validate_edit(&edit(&[("owner", Some("me"))]), &defs, &crm_on, Automation);
    assert_eq!(automation_owner.unwrap_err().code(), "forbidden");
    let crm_owner = validate_edit(&edit(&[("owner", Some("me"))]), &defs, &settings, Crm);
    assert_eq!(
        crm_owner.unwrap()[0].sync,
        None,
        "the CRM's own values are not written back"
    );
    let bot = validate_edit(
        &edit(&[("customer_id", Some("7"))]),
        &defs,
        &settings,
        Automation,
    );
    assert_eq!(bot.unwrap()[0].source, Automation);
    let err =
        validate_edit(&edit(&[("tier", Some("Bronze"))]), &defs, &settings, Agent).unwrap_err();
    assert_eq!(err.to_body()["error"]["field"], "attributes.tier");
}

#[test]
fn matching_values_compare_trimmed_and_case_insensitively() {
    assert_eq!(
        match_hash(" Ana@Example.com "),
        match_hash("ana@example.com")
    );
    assert_ne!(match_hash("a"), match_hash("b"));
    assert_eq!(match_hash("   "), None);
    assert_eq!(match_hash("x").unwrap().len(), 64);
}

#[test]
fn a_contact_round_trips_through_a_dynamodb_item() {
    let c = contact();
    let item: HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
        serde_dynamo::to_item(&c).unwrap();
    assert!(
        !item.contains_key("linked"),
        "membership lives in the match group, never in the profile"
    );
    let back: Contact = serde_dynamo::from_item(item).unwrap();
    assert_eq!(back, c);
}

#[test]
fn a_contact_prints_its_ids_never_its_person() {
    let printed = format!("{:?}", contact());
    assert!(
        printed.contains("c1") && printed.contains("version: 3"),
        "{printed}"
    );
    for secret in ["Ana", "@ana", "1234", "Gold", "hi"] {
        assert!(!printed.contains(secret), "{printed}");
    }
}
