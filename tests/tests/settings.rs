//! `GET /settings` and `PATCH /settings` through the local runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{fresh_as, new_org};
use serde_json::json;

#[tokio::test]
async fn a_new_org_has_default_settings_and_the_callers_plan() {
    let (_, _, agent) = fresh_as("agent", "enterprise").await;
    let settings = agent.get("/settings").await.expect(200);
    assert_eq!(
        settings,
        json!({"plan": "enterprise", "matching_attribute": null, "crm_edit_enabled": false, "vip_routing_team": null})
    );
}

#[tokio::test]
async fn an_admin_changes_settings_and_everyone_sees_them() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    let agent = api.caller(&org, "agent", "enterprise").await;
    admin.define_text("Customer ID").await;
    let changed = admin
        .set_settings(&json!({"matching_attribute": "customer_id", "crm_edit_enabled": true, "vip_routing_team": "  VIP desk "})).await;
    assert_eq!(changed["matching_attribute"], "customer_id");
    assert_eq!(changed["crm_edit_enabled"], true);
    assert_eq!(changed["vip_routing_team"], "VIP desk");
    assert_eq!(agent.get("/settings").await.expect(200), changed);

    // Fields not sent stay as they were; null clears.
    let cleared = admin
        .set_settings(&json!({"matching_attribute": null, "vip_routing_team": null}))
        .await;
    assert_eq!(cleared["matching_attribute"], json!(null));
    assert_eq!(cleared["vip_routing_team"], json!(null));
    assert_eq!(cleared["crm_edit_enabled"], true);
}

#[tokio::test]
async fn a_platform_attribute_can_be_the_matching_attribute() {
    let (_, _, admin) = fresh_as("admin", "team").await;
    let s = admin
        .set_settings(&json!({"matching_attribute": "email_address"}))
        .await;
    assert_eq!(s["matching_attribute"], "email_address");
}

#[tokio::test]
async fn the_matching_attribute_must_be_a_text_attribute_that_exists() {
    let (_, _, admin) = fresh_as("admin", "team").await;
    admin
        .create_attribute(
            &json!({"label": "Tier", "type": "dropdown", "options": ["Gold", "Silver"]}),
        )
        .await;
    for key in ["tier", "vip", "verified", "no_such_attribute"] {
        admin
            .patch("/settings", &json!({"matching_attribute": key}))
            .await
            .expect_error_at(422, "validation_failed", "matching_attribute");
    }
    let unchanged = admin.get("/settings").await.expect(200);
    assert_eq!(unchanged["matching_attribute"], json!(null));
}

#[tokio::test]
async fn settings_bodies_of_the_wrong_shape_are_400() {
    let (_, _, admin) = fresh_as("admin", "enterprise").await;
    for (body, field) in [
        (json!({"crm_edit_enabled": "yes"}), "crm_edit_enabled"),
        (json!({"crm_edit_enabled": null}), "crm_edit_enabled"),
        (json!({"matching_attribute": 5}), "matching_attribute"),
        (json!({"plan": "enterprise"}), "plan"),
    ] {
        admin
            .patch("/settings", &body)
            .await
            .expect_error_at(400, "bad_request", field);
    }
    admin
        .raw_body(reqwest::Method::PATCH, "/settings", b"{not json")
        .await
        .expect_error(400, "bad_request");
    admin
        .patch("/settings", &json!({"vip_routing_team": " "}))
        .await
        .expect_error_at(422, "validation_failed", "vip_routing_team");
}

#[tokio::test]
async fn only_admins_change_settings() {
    let (api, org, agent) = fresh_as("agent", "enterprise").await;
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
    let (_, _, admin) = fresh_as("admin", "business").await;
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
    let (api, _, admin_a) = fresh_as("admin", "team").await;
    let admin_b = api.caller(&new_org(), "admin", "team").await;
    admin_a
        .set_settings(&json!({"vip_routing_team": "A team"}))
        .await;
    assert_eq!(
        admin_b.get("/settings").await.expect(200)["vip_routing_team"],
        json!(null)
    );
    admin_a.define_text("Secret key").await;
    // Org B cannot point its matching attribute at org A's custom attribute.
    admin_b
        .patch("/settings", &json!({"matching_attribute": "secret_key"}))
        .await
        .expect_error(422, "validation_failed");
}

#[tokio::test]
async fn concurrent_admins_changing_different_settings_both_win() {
    let (api, org, a) = fresh_as("admin", "enterprise").await;
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
