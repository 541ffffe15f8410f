//! DynamoDB requests per route, as the cost table of docs/data-model.md states them. The local runtime
//! counts every request (retries included) a route makes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{
    Api, DemoCrm, Reply, Request, define, fresh_as, inbound, message_and_edit_requests, new_org,
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
    let contact = api.contact_from(&org, "x_dm", "1", "c1").await;
    let order = {
        let list = admin.get("/attributes").await.expect(200);
        let mut keys = api_tests::keys(&list);
        keys.push("tier".into());
        keys
    };
    let path = format!("/contacts/{contact}");
    admin
        .expect_budgets(&[
            (Request::get("/settings"), 1),
            (
                Request::patch("/settings", json!({"vip_routing_team": "VIP"})),
                2,
            ),
            (Request::get("/attributes"), 1),
            (
                Request::post("/attributes", json!({"label": "Tier", "type": "text"})),
                2,
            ),
            (Request::put("/attributes/order", json!({"keys": order})), 2),
            (
                Request::patch("/attributes/tier", json!({"label": "Level"})),
                2,
            ),
            // A Query of each listing shard, and the CRM connection beside them.
            (Request::get("/contacts"), 9),
            (Request::get(&path), 1),
            (
                Request::patch(&path, json!({"attributes": {"tier": "x"}})),
                2,
            ),
            (Request::get(format!("{path}/conversations")), 2),
            (Request::get("/conversations/c1/messages"), 3),
            (Request::put(format!("{path}/vip"), json!(null)), 2),
            (
                Request::post(format!("{path}/notes"), json!({"text": "hi"})),
                1,
            ),
            (Request::get(format!("{path}/notes")), 1),
            (
                Request::post("/conversations/c1/notes", json!({"text": "hi"})),
                3,
            ),
            (Request::get("/deleted-contacts"), 1),
            (Request::delete("/attributes/tier"), 2),
        ])
        .await;
    let doomed = api.contact_from(&org, "sms", "+9", "c9").await;
    admin
        .expect_budgets(&[(Request::delete(format!("/contacts/{doomed}")), 2)])
        .await;

    let export = admin.post("/exports", &json!({"format": "csv"})).await;
    let export_id = export.body["id"].as_str().unwrap().to_owned();
    within_budgets([("POST /exports", export, 1)]);
    let schedule = json!({"cadence": "daily", "hour_utc": 21, "format": "csv"});
    admin
        .expect_budgets(&[
            (Request::get(format!("/exports/{export_id}")), 1),
            (Request::get("/exports"), 1),
            (Request::put("/export-schedule", schedule), 2),
            (Request::get("/export-schedule"), 1),
            (Request::delete("/export-schedule"), 1),
        ])
        .await;
}

#[tokio::test]
async fn a_crm_connection_adds_no_request_to_messages_and_edits() {
    let api = Api::new();
    let without = message_and_edit_requests(&api, &new_org(), false).await;
    let with = message_and_edit_requests(&api, &new_org(), true).await;
    assert_eq!(without, [3, 4, 2], "first message, later message, edit");
    assert_eq!(
        with,
        [3, 4, 3],
        "the connection rides in the reads they already make; the edit's lookup job, written \
         with the change, is removed once queued"
    );

    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
    let demo = DemoCrm::for_org(&org);
    admin
        .put("/crm", &json!({"lookup_url": demo.lookup_url}))
        .await
        .expect(200);
    let contact = api.contact_from(&org, "sms", "+2", "c2").await;
    admin
        .expect_budgets(&[
            (
                Request::post(format!("/contacts/{contact}/crm-lookup"), json!({})),
                2,
            ),
            (Request::get("/crm"), 1),
            // An unchanged status changes nothing, and costs one request less.
            (
                Request::patch("/conversations/c2", json!({"status": "open"})),
                2,
            ),
            (
                Request::patch("/conversations/c2", json!({"status": "closed"})),
                3,
            ),
        ])
        .await;
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
    let later = api.inbound(&inbound(&org, "sms", "+1", "c2", "m2")).await;
    within_budgets([
        ("first message", first, 3),
        ("a message starting a conversation", later, 4),
    ]);
    admin
        .expect_budgets(&[
            (
                Request::patch(&path, json!({"attributes": {"customer_id": "C-1"}})),
                2,
            ),
            (Request::put(format!("{path}/vip"), json!(null)), 2),
            (
                Request::patch("/conversations/c1", json!({"status": "closed"})),
                3,
            ),
            (Request::delete(format!("{path}/vip")), 2),
            (Request::delete(&path), 2),
        ])
        .await;
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
