//! `GET /settings` and `PATCH /settings` through the local runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Api, new_org};
use serde_json::json;

#[tokio::test]
async fn a_new_org_has_default_settings_and_the_callers_plan() {
    let api = Api::new();
    let agent = api.caller(&new_org(), "agent", "enterprise").await;
    let settings = agent.get("/settings").await.expect(200);
    assert_eq!(
        settings,
        json!({"plan": "enterprise", "matching_attribute": null, "crm_edit_enabled": false, "vip_routing_team": null})
    );
}

#[tokio::test]
async fn an_admin_changes_settings_and_everyone_sees_them() {
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
    let agent = api.caller(&org, "agent", "enterprise").await;
    admin
        .post(
            "/attributes",
            &json!({"label": "Customer ID", "type": "text"}),
        )
        .await
        .expect(201);
    let changed = admin
        .patch(
            "/settings",
            &json!({"matching_attribute": "customer_id", "crm_edit_enabled": true, "vip_routing_team": "  VIP desk "}),
        )
        .await
        .expect(200);
    assert_eq!(changed["matching_attribute"], "customer_id");
    assert_eq!(changed["crm_edit_enabled"], true);
    assert_eq!(changed["vip_routing_team"], "VIP desk");
    assert_eq!(agent.get("/settings").await.expect(200), changed);

    // Fields not sent stay as they were; null clears.
    let cleared = admin
        .patch(
            "/settings",
            &json!({"matching_attribute": null, "vip_routing_team": null}),
        )
        .await
        .expect(200);
    assert_eq!(cleared["matching_attribute"], json!(null));
    assert_eq!(cleared["vip_routing_team"], json!(null));
    assert_eq!(cleared["crm_edit_enabled"], true);
}

#[tokio::test]
async fn a_platform_attribute_can_be_the_matching_attribute() {
    let api = Api::new();
    let admin = api.caller(&new_org(), "admin", "team").await;
    let s = admin
        .patch("/settings", &json!({"matching_attribute": "email_address"}))
        .await
        .expect(200);
    assert_eq!(s["matching_attribute"], "email_address");
}

#[tokio::test]
async fn the_matching_attribute_must_be_a_text_attribute_that_exists() {
    let api = Api::new();
    let admin = api.caller(&new_org(), "admin", "team").await;
    admin
        .post(
            "/attributes",
            &json!({"label": "Tier", "type": "dropdown", "options": ["Gold", "Silver"]}),
        )
        .await
        .expect(201);
    for key in ["tier", "vip", "verified", "no_such_attribute"] {
        let reply = admin
            .patch("/settings", &json!({"matching_attribute": key}))
            .await;
        reply.expect_error(422, "validation_failed");
        assert_eq!(reply.field(), "matching_attribute", "{key}");
    }
    let unchanged = admin.get("/settings").await.expect(200);
    assert_eq!(unchanged["matching_attribute"], json!(null));
}

#[tokio::test]
async fn settings_bodies_of_the_wrong_shape_are_400() {
    let api = Api::new();
    let admin = api.caller(&new_org(), "admin", "enterprise").await;
    for (body, field) in [
        (json!({"crm_edit_enabled": "yes"}), "crm_edit_enabled"),
        (json!({"crm_edit_enabled": null}), "crm_edit_enabled"),
        (json!({"matching_attribute": 5}), "matching_attribute"),
        (json!({"plan": "enterprise"}), "plan"),
    ] {
        let reply = admin.patch("/settings", &body).await;
        reply.expect_error(400, "bad_request");
        assert_eq!(reply.field(), field, "{body}");
    }
    admin
        .raw_body(reqwest::Method::PATCH, "/settings", b"{not json")
        .await
        .expect_error(400, "bad_request");
    let reply = admin
        .patch("/settings", &json!({"vip_routing_team": " "}))
        .await;
    reply.expect_error(422, "validation_failed");
    assert_eq!(reply.field(), "vip_routing_team");
}

#[tokio::test]
async fn only_admins_change_settings() {
    let api = Api::new();
    let org = new_org();
    let agent = api.caller(&org, "agent", "enterprise").await;
    agent
        .patch("/settings", &json!({"vip_routing_team": "x"}))
        .await
        .expect_error(403, "forbidden");
    let admin = api.caller(&org, "admin", "enterprise").await;
    assert_eq!(
        admin.get("/settings").await.expect(200)["vip_routing_team"],
        json!(null)
    );
}

#[tokio::test]
async fn allowing_agents_to_edit_crm_values_needs_enterprise() {
    let api = Api::new();
    let admin = api.caller(&new_org(), "admin", "business").await;
    admin
        .patch("/settings", &json!({"crm_edit_enabled": true}))
        .await
        .expect_error(403, "plan_required");
    assert_eq!(
        admin.get("/settings").await.expect(200)["crm_edit_enabled"],
        false
    );
}

#[tokio::test]
async fn orgs_never_see_each_others_settings() {
    let api = Api::new();
    let admin_a = api.caller(&new_org(), "admin", "team").await;
    let admin_b = api.caller(&new_org(), "admin", "team").await;
    admin_a
        .patch("/settings", &json!({"vip_routing_team": "A team"}))
        .await
        .expect(200);
    assert_eq!(
        admin_b.get("/settings").await.expect(200)["vip_routing_team"],
        json!(null)
    );
    admin_a
        .post(
            "/attributes",
            &json!({"label": "Secret key", "type": "text"}),
        )
        .await
        .expect(201);
    // Org B cannot point its matching attribute at org A's custom attribute.
    admin_b
        .patch("/settings", &json!({"matching_attribute": "secret_key"}))
        .await
        .expect_error(422, "validation_failed");
}

#[tokio::test]
async fn concurrent_admins_changing_different_settings_both_win() {
    let api = Api::new();
    let org = new_org();
    let a = api.caller(&org, "admin", "enterprise").await;
    let b = api.caller(&org, "admin", "enterprise").await;
    for round in 0..5 {
        let team = format!("team {round}");
        let crm = round % 2 == 0;
        let body_a = json!({"vip_routing_team": team});
        let body_b = json!({"crm_edit_enabled": crm});
        let (ra, rb) = tokio::join!(a.patch("/settings", &body_a), b.patch("/settings", &body_b));
        ra.expect(200);
        rb.expect(200);
        let now = a.get("/settings").await.expect(200);
        assert_eq!(
            (
                now["vip_routing_team"].as_str().unwrap(),
                now["crm_edit_enabled"].as_bool().unwrap()
            ),
            (team.as_str(), crm)
        );
    }
}
