//! Matching through the local runtime: contacts sharing the matching value are linked, with their history.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Api, Caller, inbound, new_org};
use serde_json::{Value, json};

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
async fn contacts_sharing_the_matching_value_are_linked_with_their_history() {
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "business").await;
    api_tests::sample_attributes(&admin).await;
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
