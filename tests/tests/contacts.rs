//! Contacts through the local runtime: ingest, the contact view, editing, history, matching.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Api, Caller, inbound, new_org};
use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

fn attribute<'a>(view: &'a Value, key: &str) -> Option<&'a Value> {
    api_tests::entry(view, key)
}

async fn setup_attributes(admin: &Caller<'_>) {
    for body in [
        json!({"label": "Customer ID", "type": "text"}),
        json!({"label": "Tier", "type": "dropdown", "options": ["Gold", "Silver"]}),
        json!({"label": "Old field", "type": "text", "enabled": false}),
    ] {
        admin.post("/attributes", &body).await.expect(201);
    }
}

/// Polls until `check` holds for the contact view (background matching).
async fn eventually(
    caller: &Caller<'_>,
    id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    api_tests::eventually(what, || async {
        let view = caller.get(&format!("/contacts/{id}")).await.expect(200);
        check(&view).then_some(view)
    })
    .await
}

#[tokio::test]
async fn a_first_message_makes_a_contact_with_its_conversation_message_and_attachment() {
    let api = Api::new();
    let org = new_org();
    let mut message = inbound(&org, "x_dm", "1234", "conv-1", "m-1");
    message["sender"]["attributes"] =
        json!({"followers": 120, "bio": "Coffee", "unknown_key": "x", "phone": "+1"});
    message["message"]["attachments"] =
        json!([{"id": "a-1", "content_type": "image/png", "content_base64": "iVBORw0KGgo="}]);
    let id = api.contact_of(&message).await;

    let agent = api.caller(&org, "agent", "business").await;
    let reply = agent.get(&format!("/contacts/{id}")).await;
    assert_eq!(reply.headers["etag"], "\"1\"");
    assert_eq!(
        reply.dynamodb_requests(),
        1,
        "the contact view is one round trip"
    );
    let view = reply.expect(200);
    assert_eq!(
        (
            view["name"].clone(),
            view["handle"].clone(),
            view["network"].clone()
        ),
        (json!("Person 1234"), json!("@1234"), json!("x"))
    );
    assert_eq!(view["avatar_url"], "https://cdn.example/1234.png");
    assert_eq!(
        view["identities"],
        json!([{"channel": "x_dm", "network": "x", "user_id": "1234", "handle": "@1234"}])
    );
    assert_eq!(
        (
            view["vip"].clone(),
            view["validated"].clone(),
            view["version"].clone()
        ),
        (json!(false), json!(false), json!(1))
    );
    assert_eq!(attribute(&view, "followers").unwrap()["value"], "120");
    assert_eq!(attribute(&view, "bio").unwrap()["value"], "Coffee");
    assert!(
        attribute(&view, "phone").is_none(),
        "WhatsApp's attribute is not an X contact's"
    );
    assert!(attribute(&view, "vip").is_none());

    let conversations = agent
        .get(&format!("/contacts/{id}/conversations"))
        .await
        .expect(200);
    assert_eq!(
        conversations,
        json!({"items": [{"id": "conv-1", "channel": "x_dm", "status": "open", "contact_id": id, "last_message_at": "2026-01-01T10:00:00Z"}], "next_cursor": null})
    );
    let messages = agent
        .get("/conversations/conv-1/messages")
        .await
        .expect(200);
    let first = &messages["items"][0];
    assert_eq!(
        (first["id"].clone(), first["text"].clone()),
        (json!("m-1"), json!("hello from 1234"))
    );
    let attachment = &first["attachments"][0];
    assert_eq!(
        (attachment["id"].clone(), attachment["size"].clone()),
        (json!("a-1"), json!(8))
    );
    let (status, bytes) = api
        .download(attachment["download_url"].as_str().unwrap())
        .await;
    assert_eq!(
        (status.as_u16(), bytes),
        (200, b"\x89PNG\r\n\x1a\n".to_vec())
    );
}

#[tokio::test]
async fn x_and_instagram_senders_are_one_contact_across_channels_others_one_per_channel() {
    let api = Api::new();
    let org = new_org();
    let dm = api
        .contact_of(&inbound(&org, "x_dm", "42", "c1", "m1"))
        .await;
    let public = api
        .contact_of(&inbound(&org, "x_public", "42", "c2", "m2"))
        .await;
    assert_eq!(dm, public);
    let ig_dm = api
        .contact_of(&inbound(&org, "instagram_dm", "42", "c3", "m3"))
        .await;
    let ig_comment = api
        .contact_of(&inbound(&org, "instagram_comment", "42", "c4", "m4"))
        .await;
    assert_eq!(ig_dm, ig_comment);
    assert_ne!(
        ig_dm, dm,
        "the same number on another network is another person"
    );
    let whatsapp = api
        .contact_of(&inbound(&org, "whatsapp", "+351900", "c5", "m5"))
        .await;
    let sms = api
        .contact_of(&inbound(&org, "sms", "+351900", "c6", "m6"))
        .await;
    assert_ne!(whatsapp, sms);

    let agent = api.caller(&org, "agent", "team").await;
    let view = agent.get(&format!("/contacts/{dm}")).await.expect(200);
    let channels: Vec<&str> = view["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["x_dm", "x_public"]);
    let list = agent.get("/contacts").await.expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn a_redelivered_message_changes_nothing() {
    let api = Api::new();
    let org = new_org();
    let message = inbound(&org, "whatsapp", "+1555", "conv-r", "m-r");
    let first = api.contact_of(&message).await;
    let agent = api.caller(&org, "agent", "team").await;
    let before = agent.get(&format!("/contacts/{first}")).await.expect(200);
    let mut again = message.clone();
    again["sender"]["name"] = json!("Someone Else");
    assert_eq!(api.contact_of(&again).await, first);
    assert_eq!(
        agent.get(&format!("/contacts/{first}")).await.expect(200),
        before
    );
    let messages = agent
        .get("/conversations/conv-r/messages")
        .await
        .expect(200);
    assert_eq!(messages["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn name_handle_and_avatar_follow_the_latest_message() {
    let api = Api::new();
    let org = new_org();
    let id = api
        .contact_of(&inbound(&org, "facebook_messenger", "fb-1", "c", "m1"))
        .await;
    let mut later = inbound(&org, "facebook_messenger", "fb-1", "c", "m2");
    later["sender"] = json!({"user_id": "fb-1", "name": "Renamed", "handle": "@new", "avatar_url": "https://cdn.example/new.png",
                              "attributes": {"locale": "pt_BR"}});
    later["message"]["sent_at"] = json!("2026-01-02T09:00:00Z");
    api.contact_of(&later).await;
    let agent = api.caller(&org, "agent", "team").await;
    let view = agent.get(&format!("/contacts/{id}")).await.expect(200);
    assert_eq!(
        (
            view["name"].clone(),
            view["handle"].clone(),
            view["avatar_url"].clone()
        ),
        (
            json!("Renamed"),
            json!("@new"),
            json!("https://cdn.example/new.png")
        )
    );
    assert_eq!(attribute(&view, "locale").unwrap()["value"], "pt_BR");
    let conversations = agent
        .get(&format!("/contacts/{id}/conversations"))
        .await
        .expect(200);
    assert_eq!(
        conversations["items"][0]["last_message_at"],
        "2026-01-02T09:00:00Z"
    );
    let messages = agent.get("/conversations/c/messages").await.expect(200);
    let ids: Vec<&str> = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m2", "m1"], "newest first");
}

#[tokio::test]
async fn parallel_first_messages_from_one_sender_make_one_contact() {
    let api = Api::new();
    let org = new_org();
    let messages: Vec<Value> = (0..8)
        .map(|i| {
            inbound(
                &org,
                "webchat",
                "visitor-1",
                &format!("c{i}"),
                &format!("m{i}"),
            )
        })
        .collect();
    let replies = futures::future::join_all(messages.iter().map(|m| api.inbound(m))).await;
    let ids: std::collections::BTreeSet<String> = replies
        .into_iter()
        .map(|r| r.expect(200)["contact_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let agent = api.caller(&org, "agent", "team").await;
    assert_eq!(
        agent.get("/contacts").await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let id = ids.into_iter().next().unwrap();
    let conversations = agent
        .get(&format!("/contacts/{id}/conversations?limit=100"))
        .await
        .expect(200);
    assert_eq!(conversations["items"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn malformed_inbound_messages_are_refused_with_a_reason() {
    let api = Api::new();
    let org = new_org();
    let good = inbound(&org, "email", "ana@example.com", "c", "m");
    let mut cases = Vec::new();
    let mut bad = good.clone();
    bad["channel"] = json!("fax");
    cases.push(bad);
    let mut bad = good.clone();
    bad.as_object_mut().unwrap().remove("sender");
    cases.push(bad);
    let mut bad = good.clone();
    bad["message"]["sent_at"] = json!("yesterday");
    cases.push(bad);
    let mut bad = good.clone();
    bad["org_id"] = json!("a#b");
    cases.push(bad);
    let mut bad = good.clone();
    bad["message"]["attachments"] =
        json!([{"id": "a", "content_type": "text/plain", "content_base64": "!!"}]);
    cases.push(bad);
    let mut bad = good.clone();
    let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 256 * 1024 + 1]);
    bad["message"]["attachments"] =
        json!([{"id": "a", "content_type": "application/octet-stream", "content_base64": big}]);
    cases.push(bad);
    let mut bad = good.clone();
    bad["message"]["attachments"] =
        json!([{"id": "a", "content_type": "image/png", "s3_key": "attachments/other-org/x"}]);
    cases.push(bad);
    for case in cases {
        let reply = api.inbound(&case).await;
        reply.expect_error(400, "bad_request");
    }
    let agent = api.caller(&org, "agent", "team").await;
    assert_eq!(
        agent.get("/contacts").await.expect(200)["items"],
        json!([]),
        "nothing half-written"
    );
    api.contact_of(&good).await;
}

#[tokio::test]
async fn the_view_lists_enabled_attributes_in_order_with_what_the_caller_may_edit() {
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
    setup_attributes(&admin).await;
    admin
        .post(
            "/attributes",
            &json!({"label": "Account owner", "type": "text", "crm_managed": true}),
        )
        .await
        .expect(201);
    admin
        .patch("/attributes/followers", &json!({"enabled": false}))
        .await
        .expect(200);
    let id = api.contact_of(&inbound(&org, "x_dm", "7", "c", "m")).await;

    let agent = api.caller(&org, "agent", "business").await;
    let view = agent.get(&format!("/contacts/{id}")).await.expect(200);
    let keys: Vec<&str> = view["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    assert!(!keys.contains(&"followers") && !keys.contains(&"old_field") && !keys.contains(&"vip"));
    assert_eq!(
        keys[keys.len() - 3..],
        ["customer_id", "tier", "account_owner"]
    );
    let tier = attribute(&view, "tier").unwrap();
    assert_eq!(
        (
            tier["options"].clone(),
            tier["editable"].clone(),
            tier["value"].clone()
        ),
        (json!(["Gold", "Silver"]), json!(true), json!(null))
    );
    assert_eq!(
        attribute(&view, "account_owner").unwrap()["editable"],
        false
    );
    assert_eq!(attribute(&view, "bio").unwrap()["editable"], false);

    let team = api.caller(&org, "agent", "team").await;
    let view = team.get(&format!("/contacts/{id}")).await.expect(200);
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
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
    setup_attributes(&admin).await;
    admin
        .post(
            "/attributes",
            &json!({"label": "Account owner", "type": "text", "crm_managed": true}),
        )
        .await
        .expect(201);
    let id = api
        .contact_of(&inbound(&org, "whatsapp", "+1", "c", "m"))
        .await;
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
            attribute(&view, "customer_id").unwrap()["value"].clone(),
            attribute(&view, "tier").unwrap()["value"].clone()
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
        let reply = agent.patch(&path, &json!({"attributes": attributes})).await;
        reply.expect_error(422, "validation_failed");
        assert_eq!(reply.field(), field);
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
        attribute(&view, "tier").unwrap()["value"],
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
    assert_eq!(attribute(&view, "tier").unwrap()["value"], json!(null));
    admin
        .patch("/settings", &json!({"crm_edit_enabled": true}))
        .await
        .expect(200);
    let view = agent
        .patch(&path, &json!({"attributes": {"account_owner": "me"}}))
        .await
        .expect(200);
    assert_eq!(attribute(&view, "account_owner").unwrap()["value"], "me");
}

#[tokio::test]
async fn filling_values_needs_a_paid_plan() {
    let api = Api::new();
    let org = new_org();
    setup_attributes(&api.caller(&org, "admin", "team").await).await;
    let id = api.contact_of(&inbound(&org, "sms", "+1", "c", "m")).await;
    for role in ["agent", "admin"] {
        let team = api.caller(&org, role, "team").await;
        team.patch(
            &format!("/contacts/{id}"),
            &json!({"attributes": {"customer_id": "1"}}),
        )
        .await
        .expect_error(403, "plan_required");
    }
}

#[tokio::test]
async fn if_match_refuses_stale_writes() {
    let api = Api::new();
    let org = new_org();
    setup_attributes(&api.caller(&org, "admin", "team").await).await;
    let id = api
        .contact_of(&inbound(&org, "email", "a@example.com", "c", "m"))
        .await;
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
        attribute(&agent.get(&path).await.expect(200), "customer_id").unwrap()["value"],
        "1"
    );
}

#[tokio::test]
async fn parallel_edits_of_different_fields_both_land() {
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "business").await;
    for i in 0..6 {
        admin
            .post(
                "/attributes",
                &json!({"label": format!("Field {i}"), "type": "text"}),
            )
            .await
            .expect(201);
    }
    let id = api
        .contact_of(&inbound(&org, "webchat", "v", "c", "m"))
        .await;
    let agent = api.caller(&org, "agent", "business").await;
    let path = format!("/contacts/{id}");
    let bodies: Vec<Value> = (0..6)
        .map(|i| json!({"attributes": {format!("field_{i}"): format!("value {i}")}}))
        .collect();
    let replies = futures::future::join_all(bodies.iter().map(|b| agent.patch(&path, b))).await;
    for reply in replies {
        reply.expect(200);
    }
    let view = agent.get(&path).await.expect(200);
    for i in 0..6 {
        assert_eq!(
            attribute(&view, &format!("field_{i}")).unwrap()["value"],
            format!("value {i}"),
            "field_{i} lost"
        );
    }
    assert_eq!(view["version"], 7);
}

#[tokio::test]
async fn another_orgs_contacts_and_conversations_are_not_found() {
    let api = Api::new();
    let org = new_org();
    let id = api
        .contact_of(&inbound(&org, "x_dm", "1", "secret-conv", "m"))
        .await;
    let stranger = api.caller(&new_org(), "admin", "enterprise").await;
    stranger
        .get(&format!("/contacts/{id}"))
        .await
        .expect_error(404, "not_found");
    stranger
        .patch(&format!("/contacts/{id}"), &json!({"attributes": {}}))
        .await
        .expect_error(404, "not_found");
    stranger
        .get(&format!("/contacts/{id}/conversations"))
        .await
        .expect_error(404, "not_found");
    stranger
        .get("/conversations/secret-conv/messages")
        .await
        .expect_error(404, "not_found");
    assert_eq!(
        stranger.get("/contacts").await.expect(200)["items"],
        json!([])
    );

    let owner = api.caller(&org, "agent", "team").await;
    let page = owner.get("/contacts?limit=1").await.expect(200);
    assert_eq!(page["next_cursor"], json!(null));
    api.contact_of(&inbound(&org, "x_dm", "2", "c2", "m2"))
        .await;
    let page = owner.get("/contacts?limit=1").await.expect(200);
    let cursor = page["next_cursor"].as_str().unwrap();
    stranger
        .get(&format!("/contacts?cursor={cursor}"))
        .await
        .expect_error(400, "bad_request");
}

#[tokio::test]
async fn lists_page_newest_first() {
    let api = Api::new();
    let org = new_org();
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut message = inbound(&org, "sms", &format!("+{i}"), "c", &format!("m{i}"));
        message["message"]["sent_at"] = json!(format!("2026-01-0{}T10:00:00Z", i + 1));
        ids.push(api.contact_of(&message).await);
    }
    let agent = api.caller(&org, "agent", "team").await;
    let first = agent.get("/contacts?limit=2").await.expect(200);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = agent
        .get(&format!("/contacts?limit=2&cursor={cursor}"))
        .await
        .expect(200);
    let listed: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);
    assert_eq!(second["next_cursor"], json!(null));

    let page = agent
        .get("/conversations/c/messages?limit=2")
        .await
        .expect(200);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = agent
        .get(&format!(
            "/conversations/c/messages?limit=2&cursor={cursor}"
        ))
        .await
        .expect(200);
    let messages: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["m2", "m1", "m0"]);

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
    assert_eq!(
        paid.get("/contacts?vip=true").await.expect(200)["items"],
        json!([])
    );
}

#[tokio::test]
async fn contacts_sharing_the_matching_value_are_linked_with_their_history() {
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "business").await;
    setup_attributes(&admin).await;
    admin
        .patch("/settings", &json!({"matching_attribute": "customer_id"}))
        .await
        .expect(200);
    let email = api
        .contact_of(&inbound(&org, "email", "ana@example.com", "mail-1", "m1"))
        .await;
    let mut chat = inbound(&org, "webchat", "visitor-9", "chat-1", "m2");
    chat["message"]["sent_at"] = json!("2026-01-03T10:00:00Z");
    let webchat = api.contact_of(&chat).await;
    let other = api
        .contact_of(&inbound(&org, "sms", "+9", "sms-1", "m3"))
        .await;

    let agent = api.caller(&org, "agent", "business").await;
    agent
        .patch(
            &format!("/contacts/{email}"),
            &json!({"attributes": {"customer_id": "C-7"}}),
        )
        .await
        .expect(200);
    agent
        .patch(
            &format!("/contacts/{webchat}"),
            &json!({"attributes": {"customer_id": " c-7 "}}),
        )
        .await
        .expect(200);
    agent
        .patch(
            &format!("/contacts/{other}"),
            &json!({"attributes": {"customer_id": "C-8"}}),
        )
        .await
        .expect(200);

    eventually(&agent, &email, "linking", |v| {
        v["linked_contact_ids"] == json!([webchat])
    })
    .await;
    eventually(&agent, &webchat, "linking", |v| {
        v["linked_contact_ids"] == json!([email])
    })
    .await;
    let history = agent
        .get(&format!("/contacts/{email}/conversations"))
        .await
        .expect(200);
    let ids: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["chat-1", "mail-1"],
        "both contacts' conversations, newest first"
    );
    assert_eq!(
        agent.get(&format!("/contacts/{other}")).await.expect(200)["linked_contact_ids"],
        json!([])
    );

    agent
        .patch(
            &format!("/contacts/{webchat}"),
            &json!({"attributes": {"customer_id": null}}),
        )
        .await
        .expect(200);
    eventually(&agent, &email, "unlinking", |v| {
        v["linked_contact_ids"] == json!([])
    })
    .await;
    eventually(&agent, &webchat, "unlinking", |v| {
        v["linked_contact_ids"] == json!([])
    })
    .await;
}

#[tokio::test]
async fn changing_the_matching_attribute_relinks_existing_contacts() {
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "team").await;
    let mut whatsapp = inbound(&org, "whatsapp", "wa-1", "w", "m1");
    whatsapp["sender"]["attributes"] = json!({"phone": "+351 900"});
    let mut sms = inbound(&org, "sms", "sms-1", "s", "m2");
    sms["sender"]["attributes"] = json!({"phone": "+351 900"});
    let a = api.contact_of(&whatsapp).await;
    let b = api.contact_of(&sms).await;
    let agent = api.caller(&org, "agent", "team").await;
    assert_eq!(
        agent.get(&format!("/contacts/{a}")).await.expect(200)["linked_contact_ids"],
        json!([]),
        "no matching attribute, no links"
    );

    admin
        .patch("/settings", &json!({"matching_attribute": "phone"}))
        .await
        .expect(200);
    eventually(&agent, &a, "re-linking", |v| {
        v["linked_contact_ids"] == json!([b])
    })
    .await;
    eventually(&agent, &b, "re-linking", |v| {
        v["linked_contact_ids"] == json!([a])
    })
    .await;

    // A later sender with the same phone joins the group as it arrives.
    let mut third = inbound(&org, "whatsapp", "wa-2", "w2", "m3");
    third["sender"]["attributes"] = json!({"phone": "+351 900"});
    let c = api.contact_of(&third).await;
    let mut expected = vec![b.clone(), c.clone()];
    expected.sort();
    eventually(&agent, &a, "joining", |v| {
        v["linked_contact_ids"] == json!(expected)
    })
    .await;

    admin
        .patch("/settings", &json!({"matching_attribute": null}))
        .await
        .expect(200);
    eventually(&agent, &a, "un-linking", |v| {
        v["linked_contact_ids"] == json!([])
    })
    .await;
}
