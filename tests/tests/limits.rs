//! DynamoDB's terms, met through the API on DynamoDB Local: a transaction cancelled for a
//! conflict with another (or for throttling) goes again instead of reading as a failed
//! condition, a batch handed back partly unprocessed is finished, and requests stay inside
//! DynamoDB's expression limits.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{fresh, inbound};
use serde_json::json;

#[tokio::test]
async fn a_note_meeting_another_transaction_on_the_contact_is_saved_not_a_404() {
    let (api, org) = fresh();
    let agent = api.caller(&org, "agent", "business").await;
    let contact = api.contact_from(&org, "whatsapp", "+1", "v1").await;

    // DynamoDB cancels a transaction whose item another transaction is writing
    // (`TransactionConflict`): nothing of it was written, and the same transaction may go again.
    api.cancel_next_transaction(&org, "TransactionConflict")
        .await;
    let note = agent
        .post(
            &format!("/contacts/{contact}/notes"),
            &json!({"text": "Call back"}),
        )
        .await
        .expect(201);
    assert!(
        !api.cancellation_pending(&org).await,
        "the note's transaction met the conflict"
    );
    let notes = agent
        .get(&format!("/contacts/{contact}/notes"))
        .await
        .expect(200);
    assert_eq!(api_tests::ids(&notes), [note["id"].as_str().unwrap()]);

    api.cancel_next_transaction(&org, "ThrottlingError").await;
    let conversation_note = agent
        .post(
            "/conversations/v1/notes",
            &json!({"text": "Waiting on courier"}),
        )
        .await
        .expect(201);
    assert!(!api.cancellation_pending(&org).await);
    assert_eq!(conversation_note["text"], "Waiting on courier");
}

#[tokio::test]
async fn a_note_on_a_deleted_contact_is_still_a_404() {
    let (api, org) = fresh();
    let admin = api.caller(&org, "admin", "business").await;
    let contact = api.contact_from(&org, "whatsapp", "+1", "v1").await;
    admin
        .delete(&format!("/contacts/{contact}"))
        .await
        .expect(204);
    admin
        .post(
            &format!("/contacts/{contact}/notes"),
            &json!({"text": "Too late"}),
        )
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn a_message_whose_transaction_meets_a_conflict_is_stored_once() {
    let (api, org) = fresh();
    let agent = api.caller(&org, "agent", "business").await;
    api.cancel_next_transaction(&org, "TransactionConflict")
        .await;
    let contact = api
        .contact_of(&inbound(&org, "whatsapp", "+1", "v1", "m1"))
        .await;
    assert!(!api.cancellation_pending(&org).await);
    let messages = agent.get("/conversations/v1/messages").await.expect(200);
    assert_eq!(api_tests::ids(&messages), ["m1"]);
    agent
        .list_when("/contacts", "the one contact listed", |page| {
            api_tests::ids(page) == [contact.as_str()]
        })
        .await;
}

#[tokio::test]
async fn batches_handed_back_partly_unprocessed_are_finished() {
    let (api, org) = fresh();
    let admin = api.caller(&org, "admin", "business").await;
    let agent = api.caller(&org, "agent", "business").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = format!("v{n}");
        let mut message = inbound(&org, "whatsapp", &format!("+1-{n}"), &id, &id);
        message["sender"]["attributes"] = json!({"phone": "+1 555 0100"});
        ids.push(api.contact_of(&message).await);
    }
    let before = agent.view(&ids[0]).await;

    // The view reads settings, definitions, CRM connection and profile in one batch.
    api.leave_unprocessed(&org, "BatchGetItem").await;
    let view = agent.view(&ids[0]).await;
    assert!(
        !api.partial_batch_pending(&org).await,
        "a batch read was cut short"
    );
    assert_eq!(view, before, "the keys left unprocessed were read again");

    // Linked under the phone, then unlinked: the re-match deletes the three links of the
    // group they leave in one batch write, and two come back unprocessed.
    admin
        .set_settings(&json!({"matching_attribute": "phone"}))
        .await;
    agent
        .view_when(&ids[0], "the re-match", |v| v["linked_count"] == 2)
        .await;
    api.leave_unprocessed(&org, "BatchWriteItem").await;
    admin
        .set_settings(&json!({"matching_attribute": null}))
        .await;
    agent
        .view_when(&ids[0], "the un-match", |v| v["linked_count"] == 0)
        .await;
    assert!(
        !api.partial_batch_pending(&org).await,
        "a batch write was cut short"
    );
    let groups = format!("ORG#{org}#MATCH#");
    let links = api_tests::eventually("the old group's links gone", || async {
        let links = api_tests::stored_under(&groups).await;
        (links == 0).then_some(links)
    })
    .await;
    assert_eq!(links, 0, "every link the batch held was deleted in the end");
}

/// Defines custom text attributes `field_<n>` for each n of `range` (CRM-managed ones if asked).
async fn define_fields(
    admin: &api_tests::Caller,
    range: std::ops::Range<usize>,
    crm_managed: bool,
) {
    let bodies: Vec<serde_json::Value> = range
        .map(|n| {
            json!({"key": format!("field_{n}"), "label": format!("Field {n}"),
                        "type": "text", "crm_managed": crm_managed})
        })
        .collect();
    api_tests::define(admin, &bodies).await;
}

/// What the contact view says of each attribute `field_*` under `name` (`value`, `source`), by
/// key.
fn fields(
    view: &serde_json::Value,
    name: &str,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    view["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["key"].as_str().unwrap().starts_with("field_"))
        .map(|a| (a["key"].as_str().unwrap().to_owned(), a[name].clone()))
        .collect()
}

/// The contact view's value of each attribute `field_*`, by key.
fn field_values(view: &serde_json::Value) -> std::collections::BTreeMap<String, serde_json::Value> {
    fields(view, "value")
}

#[tokio::test]
async fn a_patch_of_100_and_of_250_attributes_is_saved_whole() {
    let (api, org) = fresh();
    let admin = api.caller(&org, "admin", "business").await;
    define_fields(&admin, 0..250, false).await;
    let contact = api.contact_from(&org, "whatsapp", "+1", "v1").await;

    // 100 values: about 3 KB of update expression, inside DynamoDB's 4 KB.
    let hundred: serde_json::Map<String, serde_json::Value> = (0..100)
        .map(|n| (format!("field_{n}"), json!(format!("value {n}"))))
        .collect();
    let view = admin.edit(&contact, json!(hundred)).await.expect(200);
    let values = field_values(&view);
    assert_eq!(values.len(), 250);
    assert!((0..100).all(|n| values[&format!("field_{n}")] == format!("value {n}")));
    assert!((100..250).all(|n| values[&format!("field_{n}")].is_null()));

    // 250 changes (100 cleared, 150 set) pass 4 KB field by field: written whole, all or nothing.
    let mut all: serde_json::Map<String, serde_json::Value> = (0..100)
        .map(|n| (format!("field_{n}"), json!(null)))
        .collect();
    all.extend((100..250).map(|n| (format!("field_{n}"), json!(format!("later {n}")))));
    let view = admin.edit(&contact, json!(all)).await.expect(200);
    let values = field_values(&view);
    assert!((0..100).all(|n| values[&format!("field_{n}")].is_null()));
    assert!((100..250).all(|n| values[&format!("field_{n}")] == format!("later {n}")));
    assert_eq!(
        field_values(&admin.view(&contact).await),
        values,
        "the view reads what was saved"
    );

    // An unknown key among them refuses the whole request and writes nothing.
    let mut refused = all.clone();
    refused.insert("field_0".into(), json!("not saved"));
    refused.insert("no_such_field".into(), json!("x"));
    admin.edit(&contact, json!(refused)).await.expect_error_at(
        422,
        "validation_failed",
        "attributes.no_such_field",
    );
    assert!(field_values(&admin.view(&contact).await)["field_0"].is_null());
}

#[tokio::test]
async fn a_crm_record_filling_100_values_is_recorded() {
    use api_tests::{DemoCrm, connect_demo_crm, looked_up};
    let (api, org) = fresh();
    let admin = api.caller(&org, "admin", "enterprise").await;
    define_fields(&admin, 0..100, true).await;
    let attributes: serde_json::Map<String, serde_json::Value> = (0..100)
        .map(|n| (format!("field_{n}"), json!(format!("crm {n}"))))
        .collect();
    let records = json!([{"match": "+1", "id": "R-1", "attributes": attributes}]);
    connect_demo_crm(&admin, &DemoCrm::for_org(&org), records, "answer").await;
    // Two WhatsApp contacts share a phone number, the matching value.
    admin
        .set_settings(&json!({"matching_attribute": "phone"}))
        .await;
    let mut ids = Vec::new();
    for (user, conversation) in [("+1", "v1"), ("+1-second-device", "v2")] {
        let mut message = inbound(&org, "whatsapp", user, conversation, conversation);
        message["sender"]["attributes"] = json!({"phone": "+1 555 0100"});
        ids.push(api.contact_of(&message).await);
    }
    let contact = &ids[0];

    let pending = admin
        .post(&format!("/contacts/{contact}/crm-lookup"), &json!({}))
        .await
        .expect(202);
    assert_eq!(
        (
            pending["linked_contact_ids"].clone(),
            pending["linked_count"].clone()
        ),
        (json!([ids[1]]), json!(1))
    );
    let view = looked_up(&admin, contact).await;
    assert_eq!(view["crm"]["status"], "found", "{}", view["crm"]);
    let values = field_values(&view);
    assert_eq!(values.len(), 100);
    assert!((0..100).all(|n| values[&format!("field_{n}")] == format!("crm {n}")));
    let sources = fields(&view, "source");
    assert!(sources.values().all(|s| *s == "crm"), "{sources:?}");
}
