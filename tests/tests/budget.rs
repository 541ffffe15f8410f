//! DynamoDB requests per route, as the README's cost table states them. The local runtime
//! counts every request (retries included) a route makes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{
    Api, DemoCrm, Reply, define, fresh_as, inbound, message_and_edit_requests, new_org,
};
use serde_json::json;

/// Each `(route, reply, budget)`: the call succeeded in exactly `budget` DynamoDB requests.
#[track_caller]
fn within_budgets<const N: usize>(cases: [(&str, Reply, usize); N]) {
    for (route, reply, budget) in cases {
        assert!(reply.status.is_success(), "{route}: {}", reply.body);
        assert_eq!(reply.dynamodb_requests(), budget, "{route}");
    }
}

#[tokio::test]
async fn every_route_stays_within_its_round_trip_budget() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    let contact = api.contact_from(&org, "x_dm", "1", "c1", "m1").await;
    let order = {
        let list = admin.get("/attributes").await.expect(200);
        let mut keys = api_tests::keys(&list);
        keys.push("tier".into());
        keys
    };
    let cases = [
        ("GET /settings", admin.get("/settings").await, 1),
        (
            "PATCH /settings",
            admin
                .patch("/settings", &json!({"vip_routing_team": "VIP"}))
                .await,
            2,
        ),
        ("GET /attributes", admin.get("/attributes").await, 1),
        (
            "POST /attributes",
            admin
                .post("/attributes", &json!({"label": "Tier", "type": "text"}))
                .await,
            2,
        ),
        (
            "PUT /attributes/order",
            admin
                .put("/attributes/order", &json!({"keys": order}))
                .await,
            2,
        ),
        (
            "PATCH /attributes/{key}",
            admin
                .patch("/attributes/tier", &json!({"label": "Level"}))
                .await,
            2,
        ),
        ("GET /contacts", admin.get("/contacts").await, 2),
        (
            "GET /contacts/{id}",
            admin.get(&format!("/contacts/{contact}")).await,
            1,
        ),
        (
            "PATCH /contacts/{id}",
            admin.edit(&contact, json!({"tier": "x"})).await,
            2,
        ),
        (
            "GET /contacts/{id}/conversations",
            admin
                .get(&format!("/contacts/{contact}/conversations"))
                .await,
            2,
        ),
        (
            "GET /conversations/{id}/messages",
            admin.get("/conversations/c1/messages").await,
            3,
        ),
        (
            "PUT /contacts/{id}/vip",
            admin
                .put(&format!("/contacts/{contact}/vip"), &json!(null))
                .await,
            2,
        ),
        (
            "POST /contacts/{id}/notes",
            admin
                .post(
                    &format!("/contacts/{contact}/notes"),
                    &json!({"text": "hi"}),
                )
                .await,
            1,
        ),
        (
            "GET /contacts/{id}/notes",
            admin.get(&format!("/contacts/{contact}/notes")).await,
            1,
        ),
        (
            "POST /conversations/{id}/notes",
            admin
                .post("/conversations/c1/notes", &json!({"text": "hi"}))
                .await,
            3,
        ),
        (
            "GET /deleted-contacts",
            admin.get("/deleted-contacts").await,
            1,
        ),
        (
            "DELETE /attributes/{key}",
            admin.delete("/attributes/tier").await,
            2,
        ),
    ];
    within_budgets(cases);
    let doomed = api.contact_from(&org, "sms", "+9", "c9", "m9").await;
    let reply = admin.delete(&format!("/contacts/{doomed}")).await;
    assert_eq!(reply.status, 204);
    assert_eq!(reply.dynamodb_requests(), 2, "DELETE /contacts/{{id}}");

    let export = admin.post("/exports", &json!({"format": "csv"})).await;
    let export_id = export.body["id"].as_str().unwrap().to_owned();
    let schedule = json!({"cadence": "daily", "hour_utc": 21, "format": "csv"});
    let cases = [
        ("POST /exports", export, 1),
        (
            "GET /exports/{id}",
            admin.get(&format!("/exports/{export_id}")).await,
            1,
        ),
        ("GET /exports", admin.get("/exports").await, 1),
        (
            "PUT /export-schedule",
            admin.put("/export-schedule", &schedule).await,
            2,
        ),
        (
            "GET /export-schedule",
            admin.get("/export-schedule").await,
            1,
        ),
        (
            "DELETE /export-schedule",
            admin.delete("/export-schedule").await,
            1,
        ),
    ];
    within_budgets(cases);
}

#[tokio::test]
async fn a_crm_connection_adds_no_request_to_messages_and_edits() {
    let api = Api::new();
    let without = message_and_edit_requests(&api, &new_org(), false).await;
    let with = message_and_edit_requests(&api, &new_org(), true).await;
    assert_eq!(without, [3, 4, 2], "first message, later message, edit");
    assert_eq!(
        with, without,
        "the connection rides in the reads they already make"
    );

    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
    let demo = DemoCrm::for_org(&org);
    admin
        .put("/crm", &json!({"lookup_url": demo.lookup_url}))
        .await
        .expect(200);
    let contact = api.contact_from(&org, "sms", "+2", "c2", "m1").await;
    let cases = [
        (
            "POST /contacts/{id}/crm-lookup",
            admin
                .post(&format!("/contacts/{contact}/crm-lookup"), &json!({}))
                .await,
            2,
        ),
        ("GET /crm", admin.get("/crm").await, 1),
        (
            "PATCH /conversations/{id} (unchanged)",
            admin
                .patch("/conversations/c2", &json!({"status": "open"}))
                .await,
            2,
        ),
        (
            "PATCH /conversations/{id}",
            admin
                .patch("/conversations/c2", &json!({"status": "closed"}))
                .await,
            3,
        ),
    ];
    within_budgets(cases);
}

/// Events ride in the write they tell of (the contact's outbox, relayed from the table's
/// stream): the routes that make them cost what they cost before events existed, and what
/// they tell arrives in the order of the changes.
#[tokio::test]
async fn events_add_no_request_to_the_writes_that_make_them() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    define(&admin, &[json!({"label": "Customer ID", "type": "text"})]).await;
    let first = api.inbound(&inbound(&org, "sms", "+1", "c1", "m1")).await;
    let contact = first.body["contact_id"].as_str().unwrap().to_owned();
    let path = format!("/contacts/{contact}");
    let cases = [
        ("first message", first, 3),
        (
            "a message starting a conversation",
            api.inbound(&inbound(&org, "sms", "+1", "c2", "m2")).await,
            4,
        ),
        (
            "PATCH /contacts/{id}",
            admin
                .patch(&path, &json!({"attributes": {"customer_id": "C-1"}}))
                .await,
            2,
        ),
        (
            "PUT /contacts/{id}/vip",
            admin.put(&format!("{path}/vip"), &json!(null)).await,
            2,
        ),
        (
            "PATCH /conversations/{id}",
            admin
                .patch("/conversations/c1", &json!({"status": "closed"}))
                .await,
            3,
        ),
        (
            "DELETE /contacts/{id}/vip",
            admin.delete(&format!("{path}/vip")).await,
            2,
        ),
        ("DELETE /contacts/{id}", admin.delete(&path).await, 2),
    ];
    within_budgets(cases);
    let events = api.events_when(&org, "contact.deleted", 1).await;
    assert_eq!(
        api_tests::types(&events),
        [
            "contact.created",
            "conversation.started",
            "conversation.started",
            "contact.updated",
            "contact.vip_changed",
            "conversation.status_changed",
            "contact.vip_changed",
            "contact.deleted",
        ]
    );
}
