//! Hostile input, continued: If-Match, deleted-means-deleted, attachment keys, and concurrent
//! writers of different fields.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Request, entry, fresh, fresh_as, inbound};
use reqwest::Method;
use serde_json::{Value, json};

// ---- 7. If-Match ----

#[tokio::test]
async fn vip_and_delete_honour_if_match() {
    let (api, org, admin) = fresh_as("admin", "business").await;
    let contact = api.contact_from(&org, "sms", "+1900", "c-1").await;
    let path = format!("/contacts/{contact}");
    let stale = [("if-match", "\"7\"")];
    admin
        .send_with(Method::PUT, &format!("{path}/vip"), &json!({}), &stale)
        .await
        .expect_error(412, "precondition_failed");
    assert_eq!(admin.get(&path).await.expect(200)["vip"], false);
    let current = [("if-match", "\"1\"")];
    let view = admin
        .send_with(Method::PUT, &format!("{path}/vip"), &json!({}), &current)
        .await
        .expect(200);
    assert_eq!(
        (view["vip"].clone(), view["version"].clone()),
        (json!(true), json!(2))
    );
    admin
        .send_with(Method::DELETE, &format!("{path}/vip"), &json!({}), &current)
        .await
        .expect_error(412, "precondition_failed");
    admin
        .send_with(Method::DELETE, &path, &json!({}), &current)
        .await
        .expect_error(412, "precondition_failed");
    admin.get(&path).await.expect(200);
    let reply = admin
        .send_with(Method::DELETE, &path, &json!({}), &[("if-match", "\"2\"")])
        .await;
    assert_eq!(reply.status, 204);
    admin.get(&path).await.expect_error(404, "not_found");
}

// ---- 8. Deleted means deleted at once ----

#[tokio::test]
async fn from_the_204_on_every_read_and_write_of_the_contacts_data_is_404() {
    let (api, org) = fresh();
    let conversation = "conv-x";
    let contact = api.contact_from(&org, "sms", "+2000", conversation).await;
    let agent = api.caller(&org, "agent", "business").await;
    let note = agent.note(&format!("/contacts/{contact}/notes"), "a").await;
    let conversation_note = agent
        .note(&format!("/conversations/{conversation}/notes"), "b")
        .await;
    let admin = api.caller(&org, "admin", "business").await;
    admin
        .delete(&format!("/contacts/{contact}"))
        .await
        .expect(204);
    let (n, cn) = (
        note["id"].as_str().unwrap(),
        conversation_note["id"].as_str().unwrap(),
    );
    let patch = json!({"text": "edited"});
    let gone = [
        Request::get(format!("/conversations/{conversation}/messages")),
        Request::get(format!("/conversations/{conversation}/notes")),
        Request::post(format!("/conversations/{conversation}/notes"), &patch),
        Request::patch(format!("/conversations/{conversation}/notes/{cn}"), &patch),
        Request::delete(format!("/conversations/{conversation}/notes/{cn}")),
        Request::get(format!("/contacts/{contact}/notes")),
        Request::patch(format!("/contacts/{contact}/notes/{n}"), &patch),
        Request::delete(format!("/contacts/{contact}/notes/{n}")),
        Request::get(format!("/contacts/{contact}/conversations")),
        Request::put(format!("/contacts/{contact}/vip"), &patch),
        Request::patch(format!("/contacts/{contact}"), json!({"attributes": {}})),
    ];
    agent.expect_each_error(404, "not_found", &gone).await;
}

#[tokio::test]
async fn the_purge_removes_the_idempotency_records_that_hold_a_contacts_data() {
    let (api, org) = fresh();
    let conversation = "conv-y";
    let contact = api.contact_from(&org, "sms", "+2100", conversation).await;
    let agent = api.caller(&org, "agent", "business").await;
    let notes = [
        format!("/contacts/{contact}/notes"),
        format!("/conversations/{conversation}/notes"),
    ];
    for (n, path) in notes.iter().enumerate() {
        let (body, key) = (json!({"text": format!("secret {n}")}), format!("k-{n}"));
        agent.post_with_key(path, &body, &key).await.expect(201);
    }
    // The records themselves, read straight from the table: whatever finds them, they must go.
    let stored = format!("ORG#{org}#IDEM#");
    let records = || api_tests::stored_under(&stored);
    assert_eq!(records().await, 2);
    let admin = api.caller(&org, "admin", "business").await;
    admin
        .delete(&format!("/contacts/{contact}"))
        .await
        .expect(204);
    let what = "the purge of the idempotency records holding note text";
    api_tests::retry(what, 150, || async { (records().await == 0).then_some(()) }).await;
}

// ---- 9. Attachments only from the org's incoming prefix ----

#[tokio::test]
async fn an_attachment_key_outside_the_orgs_incoming_prefix_is_refused() {
    let (api, org) = fresh();
    for key in [
        "incoming/someone-else/x.png".to_owned(),
        format!("incoming/{org}/../../exports/{org}/e/attempt-1.csv"),
        format!("exports/{org}/e/attempt-1.csv"),
        format!("attachments/{org}/c/m/a"),
        format!("incoming/{org}/"),
    ] {
        let mut message = inbound(&org, "sms", "+2200", "c-1", "m-1");
        message["message"]["attachments"] =
            json!([{"id": "a", "content_type": "image/png", "s3_key": key}]);
        api.inbound(&message).await.expect_error(400, "bad_request");
    }
}

// ---- 10. Concurrent writers of different fields all succeed ----

#[tokio::test]
async fn sixteen_agents_editing_different_attributes_of_one_contact_all_succeed() {
    let (api, org, admin) = fresh_as("admin", "business").await;
    for n in 0..16 {
        admin.define_text(&format!("Field {n}")).await;
    }
    let contact = api.contact_from(&org, "sms", "+2300", "c-1").await;
    let mut agents = Vec::new();
    for n in 0..16 {
        agents.push(
            api.caller_as(&org, "agent", "business", &format!("agent-{n}"))
                .await,
        );
    }
    let path = format!("/contacts/{contact}");
    let bodies: Vec<Value> = (0..16)
        .map(|n| json!({"attributes": {format!("field_{n}"): format!("v{n}")}}))
        .collect();
    let edits = agents
        .iter()
        .zip(&bodies)
        .map(|(agent, body)| agent.patch(&path, body));
    let replies = futures::future::join_all(edits).await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let view = admin.get(&path).await.expect(200);
    assert_eq!(view["version"], 17);
    for n in 0..16 {
        let field = format!("field_{n}");
        assert_eq!(
            entry(&view, &field).unwrap()["value"],
            format!("v{n}"),
            "{field} lost"
        );
    }
    // If-Match stays exact: a writer holding version 1 is refused, and nothing changes.
    admin
        .send_with(
            Method::PATCH,
            &path,
            &json!({"attributes": {"field_0": "stale"}}),
            &[("if-match", "\"1\"")],
        )
        .await
        .expect_error(412, "precondition_failed");
    let after = admin.get(&path).await.expect(200);
    assert_eq!(after["version"], 17);
}
