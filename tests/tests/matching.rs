//! Matching through the local runtime: contacts sharing the matching value are linked, with their history.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{fresh_as, inbound};
use serde_json::json;

#[tokio::test]
async fn contacts_sharing_the_matching_value_are_linked_with_their_history() {
    let (api, org, admin) = fresh_as("admin", "business").await;
    api_tests::sample_attributes(&admin).await;
    admin
        .set_settings(&json!({"matching_attribute": "customer_id"}))
        .await;
    let email = api
        .contact_from(&org, "email", "ana@example.com", "mail-1")
        .await;
    let mut chat = inbound(&org, "webchat", "visitor-9", "chat-1", "m2");
    chat["message"]["sent_at"] = json!("2026-01-03T10:00:00Z");
    let webchat = api.contact_of(&chat).await;
    let other = api.contact_from(&org, "sms", "+9", "sms-1").await;

    let agent = api.caller(&org, "agent", "business").await;
    agent
        .edit(&email, json!({"customer_id": "C-7"}))
        .await
        .expect(200);
    agent
        .edit(&webchat, json!({"customer_id": " c-7 "}))
        .await
        .expect(200);
    agent
        .edit(&other, json!({"customer_id": "C-8"}))
        .await
        .expect(200);

    agent
        .view_when(&email, "linking", |v| {
            v["linked_contact_ids"] == json!([webchat])
        })
        .await;
    agent
        .view_when(&webchat, "linking", |v| {
            v["linked_contact_ids"] == json!([email])
        })
        .await;
    let history = agent
        .get(&format!("/contacts/{email}/conversations"))
        .await
        .expect(200);
    let ids = api_tests::ids(&history);
    assert_eq!(
        ids,
        ["chat-1", "mail-1"],
        "both contacts' conversations, newest first"
    );
    assert_eq!(agent.view(&other).await["linked_contact_ids"], json!([]));

    agent
        .edit(&webchat, json!({"customer_id": null}))
        .await
        .expect(200);
    agent
        .view_when(&email, "unlinking", |v| {
            v["linked_contact_ids"] == json!([])
        })
        .await;
    agent
        .view_when(&webchat, "unlinking", |v| {
            v["linked_contact_ids"] == json!([])
        })
        .await;
}

#[tokio::test]
async fn changing_the_matching_attribute_relinks_existing_contacts() {
    let (api, org, admin) = fresh_as("admin", "team").await;
    let mut whatsapp = inbound(&org, "whatsapp", "wa-1", "w", "m1");
    whatsapp["sender"]["attributes"] = json!({"phone": "+351 900"});
    let mut sms = inbound(&org, "sms", "sms-1", "s", "m2");
    sms["sender"]["attributes"] = json!({"phone": "+351 900"});
    let a = api.contact_of(&whatsapp).await;
    let b = api.contact_of(&sms).await;
    let agent = api.caller(&org, "agent", "team").await;
    assert_eq!(
        agent.view(&a).await["linked_contact_ids"],
        json!([]),
        "no matching attribute, no links"
    );

    admin
        .set_settings(&json!({"matching_attribute": "phone"}))
        .await;
    agent
        .view_when(&a, "re-linking", |v| v["linked_contact_ids"] == json!([b]))
        .await;
    agent
        .view_when(&b, "re-linking", |v| v["linked_contact_ids"] == json!([a]))
        .await;

    // A later sender with the same phone joins the group as it arrives.
    let mut third = inbound(&org, "whatsapp", "wa-2", "w2", "m3");
    third["sender"]["attributes"] = json!({"phone": "+351 900"});
    let c = api.contact_of(&third).await;
    let mut expected = vec![b.clone(), c.clone()];
    expected.sort();
    agent
        .view_when(&a, "joining", |v| {
            v["linked_contact_ids"] == json!(expected)
        })
        .await;

    admin
        .set_settings(&json!({"matching_attribute": null}))
        .await;
    agent
        .view_when(&a, "un-linking", |v| v["linked_contact_ids"] == json!([]))
        .await;
}
