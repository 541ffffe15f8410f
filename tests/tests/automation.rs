//! Automation clients (autoresponders, virtual agents, routing engines) through the local
//! runtime: what they may read and fill, and what stays people's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Request, define, entry, fresh, fresh_as, inbound, new_org};
use serde_json::{Value, json};

#[tokio::test]
async fn an_autoresponder_fills_custom_values_marks_vips_and_closes_conversations() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    let bot = api.caller(&org, "automation", "enterprise").await;
    define(
        &admin,
        &[
            json!({"label": "Order number", "type": "text"}),
            json!({"label": "Account", "type": "text", "crm_managed": true}),
        ],
    )
    .await;
    admin.set_settings(&json!({"crm_edit_enabled": true})).await;
    let first = inbound(&org, "webchat", "visitor-1", "chat-1", "m-1");
    let contact = api.contact_of(&first).await;
    let path = format!("/contacts/{contact}");

    let view = bot
        .patch(&path, &json!({"attributes": {"order_number": "A-100"}}))
        .await
        .expect(200);
    let order = entry(&view, "order_number").unwrap();
    assert_eq!(
        (&order["value"], &order["source"], &order["editable"]),
        (&json!("A-100"), &json!("automation"), &json!(true))
    );
    assert_eq!(
        entry(&view, "account").unwrap()["editable"],
        false,
        "CRM-managed values are never an automation's, whatever agents may do"
    );
    bot.patch(&path, &json!({"attributes": {"account": "ACME"}}))
        .await
        .expect_error(403, "forbidden");
    let agent = api.caller(&org, "agent", "enterprise").await;
    let seen = agent.get(&path).await.expect(200);
    assert_eq!(
        entry(&seen, "account").unwrap()["value"],
        json!(null),
        "nothing half-written"
    );
    assert_eq!(entry(&seen, "account").unwrap()["editable"], true);
    assert_eq!(
        entry(&seen, "order_number").unwrap()["source"],
        "automation"
    );

    assert_eq!(
        bot.put(&format!("{path}/vip"), &json!(null))
            .await
            .expect(200)["vip"],
        true
    );
    bot.list_when("/contacts?vip=true", "the VIP index", |page| {
        api_tests::ids(page) == [contact.as_str()]
    })
    .await;
    assert_eq!(bot.set_status("chat-1", "closed").await["status"], "closed");
    let history = bot.get(&format!("{path}/conversations")).await.expect(200);
    assert_eq!(history["items"][0]["status"], "closed");
    let messages = bot.get("/conversations/chat-1/messages").await.expect(200);
    assert_eq!(messages["items"][0]["id"], "m-1");
}

#[tokio::test]
async fn an_automation_client_sees_nothing_of_another_org_and_none_of_peoples_things() {
    let (api, org) = fresh();
    let contact = api
        .contact_from(&org, "webchat", "visitor-1", "chat-1")
        .await;
    let path = format!("/contacts/{contact}");
    let stranger = api.caller(&new_org(), "automation", "enterprise").await;
    let (none, vip, closed) = (
        json!({"attributes": {}}),
        format!("{path}/vip"),
        json!({"status": "closed"}),
    );
    let theirs = [
        Request::get(&path),
        Request::patch(&path, &none),
        Request::put(&vip, &Value::Null),
        Request::patch("/conversations/chat-1", &closed),
    ];
    stranger.expect_each_error(404, "not_found", &theirs).await;

    let bot = api.caller(&org, "automation", "enterprise").await;
    let forbidden = [
        Request::get("/settings"),
        Request::get("/attributes"),
        Request::get(format!("{path}/notes")),
        Request::get("/conversations/chat-1/notes"),
        Request::delete(&path),
        Request::get("/exports"),
        Request::get("/crm"),
    ];
    bot.expect_each_error(403, "forbidden", &forbidden).await;
    let team_bot = api.caller(&org, "automation", "team").await;
    team_bot
        .patch(&path, &json!({"attributes": {}}))
        .await
        .expect_error(403, "plan_required");
    assert_eq!(team_bot.get(&path).await.expect(200)["id"], contact);
}
