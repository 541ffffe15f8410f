//! Contact events through the local runtime: each type of the contract's table as the bus
//! receives it (`GET /_local/events`), only for real changes, in the order of the changes, and
//! never with note or message text.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{
    Api, DemoCrm, connect_demo_crm, define, fresh, fresh_as, inbound, looked_up, new_org, types,
};
use serde_json::{Value, json};

/// The one event of `kind` among `events`.
fn only<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let matching: Vec<&Value> = events.iter().filter(|e| e["type"] == kind).collect();
    assert_eq!(matching.len(), 1, "one {kind}: {events:?}");
    matching[0]
}

#[tokio::test]
async fn a_first_message_tells_of_the_contact_and_its_conversation() {
    let (api, org) = fresh();
    let mut message = inbound(&org, "x_dm", "42", "conv-1", "m-1");
    message["sender"]["attributes"] = json!({"followers": "120", "verified": "true"});
    let (contact, _) = api.ingest(&message).await;
    let events = api.events_when(&org, "conversation.started", 1).await;
    assert_eq!(types(&events), ["contact.created", "conversation.started"]);
    let created = &events[0];
    assert_eq!(created["org_id"], org.as_str());
    assert!(created["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        created["data"]["contact"],
        json!({"id": contact, "name": "Person 42", "handle": "@42", "network": "x",
               "vip": false, "validated": false,
               "updated_at": created["data"]["contact"]["updated_at"]})
    );
    assert_eq!(
        events[1]["data"],
        json!({"conversation": {"id": "conv-1", "channel": "x_dm", "status": "open"},
               "contact": {"id": contact, "vip": false, "validated": false, "vip_routing_team": null,
                           "attributes": {"followers": "120", "verified": "true"}}})
    );
    assert_ne!(events[0]["id"], events[1]["id"]);

    // A redelivered message changes nothing and tells nothing; a later message in the same
    // conversation is no new conversation.
    api.ingest(&message).await;
    api.contact_from(&org, "x_dm", "42", "conv-1").await;
    api.contact_from(&org, "x_dm", "42", "conv-2").await;
    let events = api.events_when(&org, "conversation.started", 2).await;
    assert_eq!(
        types(&events),
        [
            "contact.created",
            "conversation.started",
            "conversation.started"
        ]
    );
    assert_eq!(events[2]["data"]["conversation"]["id"], "conv-2");
}

#[tokio::test]
async fn a_vips_conversation_starts_with_the_routing_team_and_its_values() {
    let (api, org, admin) = fresh_as("admin", "business").await;
    let bot = api.caller(&org, "automation", "business").await;
    admin
        .set_settings(&json!({"vip_routing_team": "VIP desk"}))
        .await;
    define(
        &admin,
        &[
            json!({"label": "Tier", "type": "dropdown", "options": ["Gold", "Silver"]}),
            json!({"label": "Hidden", "type": "text", "enabled": false}),
        ],
    )
    .await;
    let contact = api
        .contact_from(&org, "whatsapp", "+351900", "conv-1")
        .await;
    let path = format!("/contacts/{contact}");
    bot.patch(&path, &json!({"attributes": {"tier": "Gold"}}))
        .await
        .expect(200);
    bot.put(&format!("{path}/vip"), &json!(null))
        .await
        .expect(200);
    let designated = api.events_when(&org, "contact.vip_changed", 1).await;
    assert_eq!(
        only(&designated, "contact.vip_changed")["data"],
        json!({"contact_id": contact, "vip": true, "vip_routing_team": "VIP desk"})
    );

    api.contact_from(&org, "whatsapp", "+351900", "conv-2")
        .await;
    let events = api.events_when(&org, "conversation.started", 2).await;
    let started = events.last().unwrap();
    assert_eq!(
        started["data"],
        json!({"conversation": {"id": "conv-2", "channel": "whatsapp", "status": "open"},
               "contact": {"id": contact, "vip": true, "validated": false,
                           "vip_routing_team": "VIP desk", "attributes": {"tier": "Gold"}}}),
        "enabled, non-empty values only"
    );

    bot.delete(&format!("{path}/vip")).await.expect(200);
    let events = api.events_when(&org, "contact.vip_changed", 2).await;
    assert_eq!(
        events.last().unwrap()["data"],
        json!({"contact_id": contact, "vip": false, "vip_routing_team": null}),
        "only a VIP is routed to the VIP team"
    );
}

#[tokio::test]
async fn value_changes_are_told_with_who_made_them_and_repeats_tell_nothing() {
    let (api, org, admin) = fresh_as("admin", "business").await;
    let agent = api.caller(&org, "agent", "business").await;
    let bot = api.caller(&org, "automation", "business").await;
    define(
        &admin,
        &[
            json!({"label": "Customer ID", "type": "text"}),
            json!({"label": "Plan", "type": "text"}),
        ],
    )
    .await;
    let mut first = inbound(&org, "sms", "+1555", "conv-1", "m-1");
    first["sender"]["attributes"] = json!({"phone": "+1555"});
    let contact = api.contact_of(&first).await;
    let path = format!("/contacts/{contact}");
    let edit = json!({"attributes": {"customer_id": "C-7", "plan": "pro"}});
    agent.patch(&path, &edit).await.expect(200);
    agent.patch(&path, &edit).await.expect(200);
    bot.patch(
        &path,
        &json!({"attributes": {"plan": "max", "customer_id": "C-7"}}),
    )
    .await
    .expect(200);
    let mut metadata = inbound(&org, "sms", "+1555", "conv-1", "m-2");
    metadata["sender"]["attributes"] = json!({"phone": "+1556"});
    api.ingest(&metadata).await;
    agent
        .patch(&path, &json!({"attributes": {"plan": null}}))
        .await
        .expect(200);

    let events = api.events_when(&org, "contact.updated", 4).await;
    let updates: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "contact.updated")
        .map(|e| &e["data"])
        .collect();
    assert_eq!(
        updates,
        [
            &json!({"contact_id": contact, "changed": ["customer_id", "plan"], "source": "agent"}),
            &json!({"contact_id": contact, "changed": ["plan"], "source": "automation"}),
            &json!({"contact_id": contact, "changed": ["phone"], "source": "channel"}),
            &json!({"contact_id": contact, "changed": ["plan"], "source": "agent"}),
        ],
        "the repeated edit and the unchanged customer_id tell nothing"
    );
}

#[tokio::test]
async fn an_unchanged_vip_flag_or_status_publishes_nothing() {
    let (api, org, agent) = fresh_as("agent", "business").await;
    let contact = api.contact_from(&org, "whatsapp", "+44700", "conv-1").await;
    let vip = format!("/contacts/{contact}/vip");
    agent.delete(&vip).await.expect(200);
    agent.set_status("conv-1", "open").await;
    agent.put(&vip, &json!(null)).await.expect(200);
    agent.put(&vip, &json!(null)).await.expect(200);
    agent.set_status("conv-1", "pending").await;
    agent.set_status("conv-1", "pending").await;
    // The same status from the channel is no change either; another one is.
    let mut same = inbound(&org, "whatsapp", "+44700", "conv-1", "m-2");
    same["conversation"]["status"] = json!("pending");
    api.ingest(&same).await;
    let mut closed = inbound(&org, "whatsapp", "+44700", "conv-1", "m-3");
    closed["conversation"]["status"] = json!("closed");
    api.ingest(&closed).await;
    let events = api
        .events_when(&org, "conversation.status_changed", 2)
        .await;
    assert_eq!(
        types(&events),
        [
            "contact.created",
            "conversation.started",
            "contact.vip_changed",
            "conversation.status_changed",
            "conversation.status_changed",
        ]
    );
    let moves: Vec<(&Value, &Value)> = events[3..]
        .iter()
        .map(|e| (&e["data"]["from"], &e["data"]["to"]))
        .collect();
    assert_eq!(
        moves,
        [
            (&json!("open"), &json!("pending")),
            (&json!("pending"), &json!("closed"))
        ]
    );
    assert_eq!(
        events[3]["data"],
        json!({"conversation_id": "conv-1", "contact_id": contact, "from": "open", "to": "pending"})
    );
}

#[tokio::test]
async fn a_lookup_tells_when_it_validates_a_contact_and_what_it_filled() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    define(
        &admin,
        &[json!({"label": "Account", "type": "text", "crm_managed": true})],
    )
    .await;
    let contact = api
        .contact_from(&org, "whatsapp", "+351911", "conv-1")
        .await;
    let crm = DemoCrm::for_org(&org);
    let records = json!([{"match": "+351911", "id": "R-42", "attributes": {"account": "ACME"}}]);
    let secret = connect_demo_crm(&admin, &crm, records, "answer").await;
    assert_eq!(looked_up(&admin, &contact).await["validated"], true);
    let events = api.events_when(&org, "contact.validated_changed", 1).await;
    assert_eq!(
        only(&events, "contact.updated")["data"],
        json!({"contact_id": contact, "changed": ["account"], "source": "crm"})
    );
    assert_eq!(
        only(&events, "contact.validated_changed")["data"],
        json!({"contact_id": contact, "validated": true, "crm_record_id": "R-42"})
    );

    // The CRM no longer knows the person: the contact is no longer validated, told once.
    crm.set(json!({"secrets": [secret], "records": [], "behaviour": "answer"}))
        .await;
    assert_eq!(
        looked_up(&admin, &contact).await["crm"]["status"],
        "not_found"
    );
    let events = api.events_when(&org, "contact.validated_changed", 2).await;
    let validations: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "contact.validated_changed")
        .map(|e| &e["data"]["validated"])
        .collect();
    assert_eq!(validations, [&json!(true), &json!(false)]);
}

#[tokio::test]
async fn a_deleted_contact_is_told_once() {
    let (api, org, admin) = fresh_as("admin", "team").await;
    let contact = api.contact_from(&org, "whatsapp", "+3312", "conv-1").await;
    let path = format!("/contacts/{contact}");
    let (a, b) = tokio::join!(admin.delete(&path), admin.delete(&path));
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [204, 404]);
    let events = api.events_when(&org, "contact.deleted", 1).await;
    assert_eq!(
        only(&events, "contact.deleted")["data"],
        json!({"contact_id": contact})
    );
}

#[tokio::test]
async fn no_event_carries_note_or_message_text() {
    let (api, org, agent) = fresh_as("agent", "business").await;
    let mut message = inbound(&org, "email", "ana@example.com", "conv-1", "m-1");
    message["message"]["text"] = json!("message-text-4f1c");
    message["sender"]["attributes"] = json!({"email_address": "ana@example.com"});
    let contact = api.contact_of(&message).await;
    agent
        .note(&format!("/contacts/{contact}/notes"), "note-text-9a2b")
        .await;
    agent
        .note("/conversations/conv-1/notes", "conversation-note-7e3d")
        .await;
    agent.set_status("conv-1", "closed").await;
    let events = api
        .events_when(&org, "conversation.status_changed", 1)
        .await;
    let everything = serde_json::to_string(&events).unwrap();
    for text in [
        "message-text-4f1c",
        "note-text-9a2b",
        "conversation-note-7e3d",
    ] {
        assert!(!everything.contains(text), "{text} leaked into an event");
    }
    assert!(
        everything.contains("ana@example.com"),
        "attribute values are what events are for"
    );
}

#[tokio::test]
async fn the_local_bus_shows_one_orgs_events_and_needs_an_org() {
    let api = Api::new();
    let (org, other) = (new_org(), new_org());
    api.contact_from(&org, "whatsapp", "+1", "conv-1").await;
    api.events_when(&org, "conversation.started", 1).await;
    assert!(api.events(&other, None).await.is_empty());
    assert_eq!(
        types(&api.events(&org, Some("contact.created")).await),
        ["contact.created"]
    );
    api.anonymous(reqwest::Method::GET, "/_local/events")
        .await
        .expect_error_at(400, "bad_request", "org");
}

/// Every type's events, as a journey through the API makes them, match the catalogue's JSON
/// Schema (`docs/events.schema.json`, which `/docs/events` shows): consumers may generate code
/// from it, so a field the code adds, drops or retypes fails here first.
#[tokio::test]
async fn every_event_type_matches_its_json_schema_in_the_catalogue() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/events.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let catalogue = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    define(
        &admin,
        &[json!({"label": "Customer tier", "type": "dropdown", "options": ["Gold", "Silver"]})],
    )
    .await;
    admin
        .set_settings(&json!({"vip_routing_team": "VIP desk"}))
        .await;
    let crm = DemoCrm::for_org(&org);
    connect_demo_crm(
        &admin,
        &crm,
        json!([{"match": "ana", "id": "CRM-1", "attributes": {}}]),
        "answer",
    )
    .await;
    let (contact, conversation) = api.ingest(&inbound(&org, "x_dm", "ana", "c1", "m1")).await;
    assert_eq!(
        admin
            .edit(&contact, json!({"customer_tier": "Gold"}))
            .await
            .status,
        200
    );
    admin
        .put(&format!("/contacts/{contact}/vip"), &json!({}))
        .await
        .expect(200);
    looked_up(&admin, &contact).await;
    admin
        .patch(
            &format!("/conversations/{conversation}"),
            &json!({"status": "closed"}),
        )
        .await
        .expect(200);
    admin
        .delete(&format!("/contacts/{contact}"))
        .await
        .expect(204);
    let events = api.events_when(&org, "contact.deleted", 1).await;
    let mut seen: Vec<&str> = types(&events);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen,
        [
            "contact.created",
            "contact.deleted",
            "contact.updated",
            "contact.validated_changed",
            "contact.vip_changed",
            "conversation.started",
            "conversation.status_changed"
        ]
    );
    for event in &events {
        let errors: Vec<String> = catalogue
            .iter_errors(event)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{event}: {errors:?}");
    }
    // And the schema is not one that takes anything.
    let mut renamed = events[0].clone();
    renamed["data"]["contact"]["nickname"] = json!("Ana");
    assert!(!catalogue.is_valid(&renamed));
}
