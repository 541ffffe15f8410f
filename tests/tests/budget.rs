//! DynamoDB requests per route, as the README's cost table states them. The local runtime
//! counts every request (retries included) a route makes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Api, inbound, new_org};
use serde_json::json;

#[tokio::test]
async fn every_route_stays_within_its_round_trip_budget() {
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
    let contact = api
        .inbound(&inbound(&org, "x_dm", "1", "c1", "m1"))
        .await
        .expect(200)["contact_id"]
        .as_str()
        .unwrap()
        .to_owned();
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
        ("GET /contacts", admin.get("/contacts").await, 1),
        (
            "GET /contacts/{id}",
            admin.get(&format!("/contacts/{contact}")).await,
            1,
        ),
        (
            "PATCH /contacts/{id}",
            admin
                .patch(
                    &format!("/contacts/{contact}"),
                    &json!({"attributes": {"tier": "x"}}),
                )
                .await,
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
    for (route, reply, budget) in cases {
        assert!(reply.status.is_success(), "{route}: {}", reply.body);
        assert_eq!(reply.dynamodb_requests(), budget, "{route}");
    }
    let doomed = api
        .inbound(&inbound(&org, "sms", "+9", "c9", "m9"))
        .await
        .expect(200)["contact_id"]
        .as_str()
        .unwrap()
        .to_owned();
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
    for (route, reply, budget) in cases {
        assert!(reply.status.is_success(), "{route}: {}", reply.body);
        assert_eq!(reply.dynamodb_requests(), budget, "{route}");
    }
}
