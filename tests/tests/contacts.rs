//! Contacts through the local runtime: the contact view, editing, history and lists.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Request, assert_fields, entry, fresh, fresh_as, inbound, new_org};
use reqwest::Method;
use serde_json::json;

/// An enterprise org with the sample attributes and a CRM-managed "Account owner", and its
/// admin.
async fn with_an_account_owner() -> (api_tests::Api, String, api_tests::Caller) {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    api_tests::sample_attributes(&admin).await;
    admin
        .create_attribute(&json!({"label": "Account owner", "type": "text", "crm_managed": true}))
        .await;
    (api, org, admin)
}

#[tokio::test]
async fn the_view_lists_enabled_attributes_in_order_with_what_the_caller_may_edit() {
    let (api, org, admin) = with_an_account_owner().await;
    admin
        .patch("/attributes/followers", &json!({"enabled": false}))
        .await
        .expect(200);
    let id = api.contact_from(&org, "x_dm", "7", "c").await;

    let agent = api.caller(&org, "agent", "business").await;
    let view = agent.view(&id).await;
    let keys = api_tests::keys(&view);
    let shown = |key: &str| keys.iter().any(|k| k == key);
    assert!(!shown("followers") && !shown("old_field") && !shown("vip"));
    assert_eq!(
        keys[keys.len() - 3..],
        ["customer_id", "tier", "account_owner"]
    );
    let tier = entry(&view, "tier").unwrap();
    assert_fields(
        tier,
        json!({"options": ["Gold", "Silver"], "editable": true, "value": null}),
    );
    assert_eq!(entry(&view, "account_owner").unwrap()["editable"], false);
    assert_eq!(entry(&view, "bio").unwrap()["editable"], false);

    let team = api.caller(&org, "agent", "team").await;
    let view = team.view(&id).await;
    assert!(
        view["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["editable"] == false)
    );
}

#[tokio::test]
async fn agents_fill_and_clear_custom_values_all_or_nothing() {
    let (api, org, admin) = with_an_account_owner().await;
    let id = api.contact_from(&org, "whatsapp", "+1", "c").await;
    let agent = api.caller(&org, "agent", "business").await;
    let path = format!("/contacts/{id}");

    let reply = agent
        .patch(
            &path,
            &json!({"attributes": {"customer_id": "  C-42 ", "tier": "Gold"}}),
        )
        .await;
    assert!(
        reply.dynamodb_requests() <= 2,
        "an edit is at most two round trips, was {}",
        reply.dynamodb_requests()
    );
    assert_eq!(reply.headers["etag"], "\"2\"");
    let view = reply.expect(200);
    assert_eq!(
        (
            entry(&view, "customer_id").unwrap()["value"].clone(),
            entry(&view, "tier").unwrap()["value"].clone()
        ),
        (json!("C-42"), json!("Gold"))
    );
    assert_eq!(view["version"], 2);

    let cases = [
        (json!({"tier": "Bronze"}), "attributes.tier"),
        (json!({"phone": "+2"}), "attributes.phone"),
        (json!({"vip": "true"}), "attributes.vip"),
        (json!({"old_field": "x"}), "attributes.old_field"),
        (json!({"nope": "x"}), "attributes.nope"),
        (
            json!({"customer_id": "x".repeat(1001)}),
            "attributes.customer_id",
        ),
        (
            json!({"tier": null, "customer_id": "y".repeat(1001)}),
            "attributes.customer_id",
        ),
    ];
    for (attributes, field) in cases {
        agent
            .patch(&path, &json!({"attributes": attributes}))
            .await
            .expect_error_at(422, "validation_failed", field);
    }
    agent
        .patch(&path, &json!({"attributes": {"account_owner": "me"}}))
        .await
        .expect_error(403, "forbidden");
    for bad in [
        json!({"attributes": {"tier": 5}}),
        json!({"attributes": []}),
        json!({"tier": "Gold"}),
        json!({}),
    ] {
        agent
            .patch(&path, &bad)
            .await
            .expect_error(400, "bad_request");
    }
    let view = agent.get(&path).await.expect(200);
    assert_eq!(
        entry(&view, "tier").unwrap()["value"],
        "Gold",
        "refused edits change nothing"
    );
    assert_eq!(view["version"], 2);

    let view = agent
        .patch(
            &path,
            &json!({"attributes": {"tier": null, "customer_id": "é".repeat(1000)}}),
        )
        .await
        .expect(200);
    assert_eq!(entry(&view, "tier").unwrap()["value"], json!(null));
    admin.set_settings(&json!({"crm_edit_enabled": true})).await;
    let view = agent
        .patch(&path, &json!({"attributes": {"account_owner": "me"}}))
        .await
        .expect(200);
    assert_eq!(entry(&view, "account_owner").unwrap()["value"], "me");
}

#[tokio::test]
async fn filling_values_needs_a_paid_plan() {
    let (api, org) = fresh();
    api_tests::sample_attributes(&api.caller(&org, "admin", "team").await).await;
    let id = api.contact_from(&org, "sms", "+1", "c").await;
    for role in ["agent", "admin"] {
        let team = api.caller(&org, role, "team").await;
        team.edit(&id, json!({"customer_id": "1"}))
            .await
            .expect_error(403, "plan_required");
    }
}

#[tokio::test]
async fn if_match_refuses_stale_writes() {
    let (api, org) = fresh();
    api_tests::sample_attributes(&api.caller(&org, "admin", "team").await).await;
    let id = api.contact_from(&org, "email", "a@example.com", "c").await;
    let agent = api.caller(&org, "agent", "business").await;
    let path = format!("/contacts/{id}");
    let body = json!({"attributes": {"customer_id": "1"}});
    let reply = agent
        .send_with(Method::PATCH, &path, &body, &[("if-match", "\"1\"")])
        .await;
    assert_eq!(reply.headers["etag"], "\"2\"");
    reply.expect(200);
    let stale = agent
        .send_with(
            Method::PATCH,
            &path,
            &json!({"attributes": {"customer_id": "2"}}),
            &[("if-match", "\"1\"")],
        )
        .await;
    stale.expect_error(412, "precondition_failed");
    assert_eq!(
        entry(&agent.get(&path).await.expect(200), "customer_id").unwrap()["value"],
        "1"
    );
}

#[tokio::test]
async fn another_orgs_contacts_and_conversations_are_not_found() {
    let (api, org) = fresh();
    let id = api.contact_from(&org, "x_dm", "1", "secret-conv").await;
    let stranger = api.caller(&new_org(), "admin", "enterprise").await;
    let (path, none) = (format!("/contacts/{id}"), json!({"attributes": {}}));
    let conversations = format!("{path}/conversations");
    let theirs = [
        Request::get(&path),
        Request::patch(&path, &none),
        Request::get(&conversations),
        Request::get(format!("{path}/linked")),
        Request::get("/conversations/secret-conv/messages"),
    ];
    stranger.expect_each_error(404, "not_found", &theirs).await;
    assert_eq!(stranger.count("/contacts").await, 0);
}

#[tokio::test]
async fn lists_page_newest_first() {
    let (api, org) = fresh();
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut message = inbound(
            &org,
            "sms",
            &format!("+{i}"),
            &format!("c{i}"),
            &format!("m{i}"),
        );
        message["message"]["sent_at"] = json!(format!("2026-01-0{}T10:00:00Z", i + 1));
        ids.push(api.contact_of(&message).await);
    }
    // The last sender writes twice more in its conversation.
    for i in 3..5 {
        let mut message = inbound(&org, "sms", "+2", "c2", &format!("m{i}"));
        message["message"]["sent_at"] = json!(format!("2026-01-0{}T10:00:00Z", i + 1));
        api.contact_of(&message).await;
    }
    let agent = api.caller(&org, "agent", "team").await;
    agent
        .list_when("/contacts?limit=3", "every contact listed", |page| {
            api_tests::ids(page).len() == ids.len()
        })
        .await;
    let first = agent.get("/contacts?limit=2").await.expect(200);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = agent
        .get(&format!("/contacts?limit=2&cursor={cursor}"))
        .await
        .expect(200);
    let listed = [api_tests::ids(&first), api_tests::ids(&second)].concat();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);
    assert_eq!(second["next_cursor"], json!(null));

    let page = agent
        .get("/conversations/c2/messages?limit=2")
        .await
        .expect(200);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = agent
        .get(&format!(
            "/conversations/c2/messages?limit=2&cursor={cursor}"
        ))
        .await
        .expect(200);
    let messages = [api_tests::ids(&page), api_tests::ids(&rest)].concat();
    assert_eq!(messages, ["m4", "m3", "m2"]);

    for bad in [
        "/contacts?limit=0",
        "/contacts?limit=101",
        "/contacts?cursor=garbage",
        "/contacts?vip=maybe",
    ] {
        agent.get(bad).await.expect_error(400, "bad_request");
    }
    // The VIP group is a feature of the paid plans.
    agent
        .get("/contacts?vip=true")
        .await
        .expect_error(403, "plan_required");
    let paid = api.caller(&org, "agent", "business").await;
    assert_eq!(paid.count("/contacts?vip=true").await, 0);
}
