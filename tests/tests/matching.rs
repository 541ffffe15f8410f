//! Matching through the local runtime: contacts sharing the matching value are linked, with their history.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{fresh_as, inbound};
use futures::StreamExt;
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
    let fourth = api.contact_from(&org, "sms", "+10", "sms-2").await;

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
        .edit(&fourth, json!({"customer_id": "C-8"}))
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
    // Both contacts' conversations, newest first.
    agent
        .history_when(&email, 10, "the group's history", |ids| {
            ids == ["chat-1", "mail-1"]
        })
        .await;
    // Another value makes another group: once its matching has run, it holds only its own.
    agent
        .view_when(&other, "the other group", |v| {
            v["linked_contact_ids"] == json!([fourth])
        })
        .await;
    assert_eq!(
        agent.view(&email).await["linked_contact_ids"],
        json!([webchat]),
        "and the first group none of it"
    );

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

/// Contacts on email sharing one support address (the matching value), one for each `n`,
/// ingested `in_flight` at a time (in no particular order when more than one).
async fn support_address_group(
    api: &api_tests::Api,
    org: &str,
    range: std::ops::Range<usize>,
    in_flight: usize,
) -> Vec<api_tests::Reply> {
    let messages = range.map(|n| {
        let mut message = inbound(
            org,
            "email",
            &format!("person-{n}@mail.example"),
            &format!("mail-{n}"),
            &format!("m-{n}"),
        );
        message["sender"]["attributes"] = json!({"email_address": "Support@Acme.example"});
        message["message"]["sent_at"] = json!(format!(
            "2026-01-01T{:02}:{:02}:{:02}Z",
            n / 3600,
            n / 60 % 60,
            n % 60
        ));
        (n, message)
    });
    let mut replies: Vec<(usize, api_tests::Reply)> = futures::stream::iter(messages)
        .map(|(n, message)| async move { (n, api.inbound(&message).await) })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    replies.sort_by_key(|(n, _)| *n);
    replies
        .into_iter()
        .map(|(_, reply)| {
            assert!(reply.status.is_success(), "{}", reply.body);
            reply
        })
        .collect()
}

#[tokio::test]
async fn a_value_1000_contacts_share_is_a_paged_group_a_new_member_joins_in_constant_writes() {
    const MEMBERS: usize = 1000;
    let (api, org, admin) = fresh_as("admin", "business").await;
    admin
        .set_settings(&json!({"matching_attribute": "email_address"}))
        .await;
    let first = support_address_group(&api, &org, 0..2, 1).await;
    let many = support_address_group(&api, &org, 2..MEMBERS - 1, 8).await;
    let last = support_address_group(&api, &org, MEMBERS - 1..MEMBERS, 1).await;
    // The 1,000th member costs its message what the 2nd did: its own writes, none per member.
    assert_eq!(
        last[0].dynamodb_requests(),
        first[1].dynamodb_requests(),
        "a new member's ingest requests do not grow with its group"
    );
    let ids: Vec<String> = first
        .iter()
        .chain(&many)
        .chain(&last)
        .map(|r| r.body["contact_id"].as_str().unwrap().to_owned())
        .collect();
    let agent = api.caller(&org, "agent", "business").await;
    let ana = &ids[0];
    let view = agent
        .view_when(ana, "the group counted", |v| {
            v["linked_count"] == MEMBERS - 1
        })
        .await;
    let preview = view["linked_contact_ids"].as_array().unwrap();
    assert_eq!(preview.len(), 100, "a view carries at most 100 linked ids");
    assert!(!preview.contains(&json!(ana)));
    let vip = agent.make_vip(ana).await;
    assert_eq!(
        (
            vip["linked_count"].clone(),
            vip["linked_contact_ids"].as_array().unwrap().len()
        ),
        (json!(MEMBERS - 1), 100),
        "every route answering the view shows the group"
    );

    let mut linked = Vec::new();
    for page in agent.pages(&format!("/contacts/{ana}/linked"), 100).await {
        assert!(page["items"].as_array().unwrap().len() <= 100);
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["network"], "email");
            assert!(item["name"].as_str().unwrap().starts_with("Person "));
            linked.push(item["id"].as_str().unwrap().to_owned());
        }
    }
    let mut expected: Vec<String> = ids[1..].to_vec();
    expected.sort();
    assert_eq!(linked, expected, "every other member once, in id order");

    // Cross-channel history: every member's conversation, newest first, paged.
    let newest_first: Vec<String> = (0..MEMBERS).rev().map(|n| format!("mail-{n}")).collect();
    agent
        .history_when(ana, 100, "every member's conversation", |ids| {
            ids == newest_first
        })
        .await;
    let first_page = agent
        .get(&format!("/contacts/{ana}/conversations?limit=100"))
        .await;
    assert_eq!(
        first_page.dynamodb_requests(),
        3,
        "a page of a 1,000-member history: the profile, one index query, the members' liveness"
    );

    // A member who leaves is out of the group at once, and out of its count once recounted.
    let leaver = &ids[5];
    admin
        .delete(&format!("/contacts/{leaver}"))
        .await
        .expect(204);
    let page = agent
        .get(&format!("/contacts/{ana}/linked?limit=100"))
        .await
        .expect(200);
    assert!(!api_tests::ids(&page).contains(leaver));
    let history: Vec<String> = agent
        .pages(&format!("/contacts/{ana}/conversations"), 100)
        .await
        .iter()
        .flat_map(api_tests::ids)
        .collect();
    assert_eq!(
        (history.len(), history.contains(&"mail-5".to_owned())),
        (MEMBERS - 1, false),
        "its conversation is out of the history at the 204, before its purge"
    );
    agent
        .view_when(ana, "the group recounted", |v| {
            v["linked_count"] == MEMBERS - 2
        })
        .await;
}
