//! Ingest through the local runtime: a message makes or finds its contact, conversation and message.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{assert_fields, entry, fresh, inbound};
use base64::Engine;
use serde_json::{Value, json};

#[tokio::test]
async fn a_first_message_makes_a_contact_with_its_conversation_message_and_attachment() {
    let (api, org) = fresh();
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
    assert_fields(
        &view,
        json!({"name": "Person 1234", "handle": "@1234", "network": "x"}),
    );
    assert_eq!(view["avatar_url"], "https://cdn.example/1234.png");
    assert_eq!(
        view["identities"],
        json!([{"channel": "x_dm", "network": "x", "user_id": "1234", "handle": "@1234"}])
    );
    assert_fields(
        &view,
        json!({"vip": false, "validated": false, "version": 1}),
    );
    assert_eq!(entry(&view, "followers").unwrap()["value"], "120");
    assert_eq!(entry(&view, "bio").unwrap()["value"], "Coffee");
    assert!(
        entry(&view, "phone").is_none(),
        "WhatsApp's attribute is not an X contact's"
    );
    assert!(entry(&view, "vip").is_none());

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
async fn only_allow_listed_attachment_types_are_shown_inline_the_rest_download_as_files() {
    let (api, org) = fresh();
    let mut message = inbound(&org, "webchat", "visitor-a", "conv-a", "m-a");
    let html = base64::engine::general_purpose::STANDARD.encode("<script>alert(1)</script>");
    message["message"]["attachments"] = json!([
        {"id": "page.html", "content_type": "text/html; charset=utf-8", "content_base64": html},
        {"id": "logo.svg", "content_type": "image/svg+xml", "content_base64": html},
        {"id": "photo.png", "content_type": "IMAGE/PNG", "content_base64": "iVBORw0KGgo="},
    ]);
    api.contact_of(&message).await;
    let agent = api.caller(&org, "agent", "team").await;
    let messages = agent
        .get("/conversations/conv-a/messages")
        .await
        .expect(200);
    let mut served = Vec::new();
    for attachment in messages["items"][0]["attachments"].as_array().unwrap() {
        let url = attachment["download_url"].as_str().unwrap();
        let (status, headers, _) = api.download_with_headers(url).await;
        assert_eq!(status, 200);
        let header = |name: &str| {
            headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        served.push((
            attachment["id"].as_str().unwrap().to_owned(),
            header("content-type"),
            header("content-disposition"),
        ));
    }
    let file = |name: &str| {
        (
            name.to_owned(),
            "application/octet-stream".to_owned(),
            format!("attachment; filename=\"{name}\""),
        )
    };
    assert_eq!(
        served,
        [
            file("page.html"),
            file("logo.svg"),
            (
                "photo.png".to_owned(),
                "image/png".to_owned(),
                "inline".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn x_and_instagram_senders_are_one_contact_across_channels_others_one_per_channel() {
    let (api, org) = fresh();
    let dm = api.contact_from(&org, "x_dm", "42", "c1").await;
    let public = api.contact_from(&org, "x_public", "42", "c2").await;
    assert_eq!(dm, public);
    let ig_dm = api.contact_from(&org, "instagram_dm", "42", "c3").await;
    let ig_comment = api
        .contact_from(&org, "instagram_comment", "42", "c4")
        .await;
    assert_eq!(ig_dm, ig_comment);
    assert_ne!(
        ig_dm, dm,
        "the same number on another network is another person"
    );
    let whatsapp = api.contact_from(&org, "whatsapp", "+351900", "c5").await;
    let sms = api.contact_from(&org, "sms", "+351900", "c6").await;
    assert_ne!(whatsapp, sms);

    let agent = api.caller(&org, "agent", "team").await;
    let view = agent.view(&dm).await;
    let channels = api_tests::column(&view["identities"], "channel");
    assert_eq!(channels, ["x_dm", "x_public"]);
    agent
        .list_when("/contacts", "four listed", |page| {
            api_tests::ids(page).len() == 4
        })
        .await;
}

#[tokio::test]
async fn a_redelivered_message_changes_nothing() {
    let (api, org) = fresh();
    let message = inbound(&org, "whatsapp", "+1555", "conv-r", "m-r");
    let first = api.contact_of(&message).await;
    let agent = api.caller(&org, "agent", "team").await;
    let before = agent.view(&first).await;
    let mut again = message.clone();
    again["sender"]["name"] = json!("Someone Else");
    assert_eq!(api.contact_of(&again).await, first);
    assert_eq!(agent.view(&first).await, before);
    assert_eq!(agent.count("/conversations/conv-r/messages").await, 1);

    // A connector that sends the same message again stamps it anew: still a redelivery.
    let mut resent = message.clone();
    resent["message"]["sent_at"] = json!("2026-01-05T08:00:00Z");
    assert_eq!(api.contact_of(&resent).await, first);
    let messages = agent
        .get("/conversations/conv-r/messages")
        .await
        .expect(200);
    assert_eq!(
        api_tests::column(&messages["items"], "sent_at"),
        [message["message"]["sent_at"].as_str().unwrap()],
        "stored once, as first delivered"
    );
    let history = agent
        .get(&format!("/contacts/{first}/conversations"))
        .await
        .expect(200);
    assert_eq!(
        history["items"][0]["last_message_at"], message["message"]["sent_at"],
        "the conversation's time is not moved by it"
    );
}

#[tokio::test]
async fn name_handle_and_avatar_follow_the_latest_message() {
    let (api, org) = fresh();
    let id = api
        .contact_of(&inbound(&org, "facebook_messenger", "fb-1", "c", "m1"))
        .await;
    let mut later = inbound(&org, "facebook_messenger", "fb-1", "c", "m2");
    later["sender"] = json!({"user_id": "fb-1", "name": "Renamed", "handle": "@new", "avatar_url": "https://cdn.example/new.png",
                              "attributes": {"locale": "pt_BR"}});
    later["message"]["sent_at"] = json!("2026-01-02T09:00:00Z");
    api.contact_of(&later).await;
    let agent = api.caller(&org, "agent", "team").await;
    let view = agent.view(&id).await;
    assert_fields(
        &view,
        json!({"name": "Renamed", "handle": "@new", "avatar_url": "https://cdn.example/new.png"}),
    );
    assert_eq!(entry(&view, "locale").unwrap()["value"], "pt_BR");
    let conversations = agent
        .get(&format!("/contacts/{id}/conversations"))
        .await
        .expect(200);
    assert_eq!(
        conversations["items"][0]["last_message_at"],
        "2026-01-02T09:00:00Z"
    );
    let messages = agent.get("/conversations/c/messages").await.expect(200);
    let ids = api_tests::ids(&messages);
    assert_eq!(ids, ["m2", "m1"], "newest first");
}

#[tokio::test]
async fn what_a_channel_says_of_a_person_gets_the_text_rules_and_only_https_links() {
    let (api, org) = fresh();
    let mut message = inbound(&org, "facebook_messenger", "fb-h", "c-h", "m1");
    message["sender"] = json!({"user_id": "fb-h",
        "name": format!("Ana\u{0}\u{202E}Lima{}", "a".repeat(300)),
        "handle": "\u{1b}[31m@ana",
        "avatar_url": "javascript:alert(1)",
        "profile_url": "http://facebook.example/ana",
        "attributes": {"locale": "pt\u{7}_BR\u{2066}"}});
    let id = api.contact_of(&message).await;
    let agent = api.caller(&org, "agent", "team").await;
    let view = agent.view(&id).await;
    let name = view["name"].as_str().unwrap();
    assert!(name.starts_with("AnaLimaaaa"), "{name}");
    assert_eq!(name.chars().count(), 200);
    assert_eq!(view["handle"], "[31m@ana");
    assert_eq!(
        (view["avatar_url"].clone(), view["profile_url"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(entry(&view, "locale").unwrap()["value"], "pt_BR");

    // A later message's https links are kept, and a bad one never replaces them.
    let mut later = inbound(&org, "facebook_messenger", "fb-h", "c-h", "m2");
    later["sender"]["avatar_url"] = json!("https://cdn.example/ana.png");
    later["sender"]["profile_url"] = json!("https://facebook.example/ana");
    api.contact_of(&later).await;
    let mut worse = inbound(&org, "facebook_messenger", "fb-h", "c-h", "m3");
    worse["sender"]["avatar_url"] = json!("data:image/svg+xml,<svg onload=alert(1)>");
    api.contact_of(&worse).await;
    let view = agent.view(&id).await;
    assert_eq!(view["avatar_url"], "https://cdn.example/ana.png");
    assert_eq!(view["profile_url"], "https://facebook.example/ana");
}

#[tokio::test]
async fn a_message_delivered_late_rolls_back_neither_the_status_nor_the_profile() {
    let (api, org) = fresh();
    let at = |day: u32| format!("2026-01-0{day}T10:00:00Z");
    let message = |id: &str, day: u32, status: &str, name: &str, locale: &str| {
        let mut m = inbound(&org, "facebook_messenger", "fb-late", "c-late", id);
        m["message"]["sent_at"] = json!(at(day));
        m["conversation"]["status"] = json!(status);
        m["sender"]["name"] = json!(name);
        m["sender"]["attributes"] = json!({"locale": locale});
        m
    };
    let id = api
        .contact_of(&message("m2", 2, "open", "Ana", "pt_PT"))
        .await;
    api.contact_of(&message("m3", 3, "closed", "Ana Lima", "pt_BR"))
        .await;
    // m1 was sent before both and reaches ingest last, as a standard queue may deliver it.
    api.contact_of(&message("m1", 1, "open", "A. L.", "en_GB"))
        .await;

    let agent = api.caller(&org, "agent", "team").await;
    let view = agent.view(&id).await;
    assert_eq!(view["name"], "Ana Lima");
    assert_eq!(entry(&view, "locale").unwrap()["value"], "pt_BR");
    let history = agent
        .get(&format!("/contacts/{id}/conversations"))
        .await
        .expect(200);
    assert_eq!(history["items"][0]["status"], "closed");
    assert_eq!(history["items"][0]["last_message_at"], json!(at(3)));
    let messages = agent
        .get("/conversations/c-late/messages")
        .await
        .expect(200);
    assert_eq!(
        api_tests::ids(&messages),
        ["m3", "m2", "m1"],
        "stored all the same"
    );
    // Events of one contact arrive in order: after the contact's creation and m3's change,
    // nothing reopened the conversation.
    let events = api
        .events_when(&org, "conversation.status_changed", 1)
        .await;
    let changes: Vec<(&Value, &Value)> = events
        .iter()
        .filter(|e| e["type"] == "conversation.status_changed")
        .map(|e| (&e["data"]["from"], &e["data"]["to"]))
        .collect();
    assert_eq!(changes, [(&json!("open"), &json!("closed"))]);
}

#[tokio::test]
async fn a_sender_cannot_write_into_another_senders_conversation() {
    let (api, org) = fresh();
    let owner = api
        .contact_from(&org, "webchat", "visitor-1", "chat-x")
        .await;
    let intruder = inbound(&org, "webchat", "visitor-2", "chat-x", "m-intruder");
    let reply = api.inbound(&intruder).await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another sender's conversation"),
        "{}",
        reply.body
    );
    let agent = api.caller(&org, "agent", "team").await;
    assert_eq!(agent.count("/contacts").await, 1, "nothing of it written");
    assert_eq!(agent.count("/conversations/chat-x/messages").await, 1);
    let mut status_change = inbound(&org, "webchat", "visitor-2", "chat-x", "m-close");
    status_change["conversation"]["status"] = json!("closed");
    assert_eq!(api.inbound(&status_change).await.status.as_u16(), 400);
    let history = agent
        .get(&format!("/contacts/{owner}/conversations"))
        .await
        .expect(200);
    assert_eq!(
        history["items"][0]["status"], "open",
        "its status is the owner's"
    );
    // The owner goes on writing in it.
    api.contact_from(&org, "webchat", "visitor-1", "chat-x")
        .await;
    assert_eq!(agent.count("/conversations/chat-x/messages").await, 2);
}

#[tokio::test]
async fn parallel_first_messages_from_one_sender_make_one_contact() {
    let (api, org) = fresh();
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
    assert_eq!(agent.count("/contacts").await, 1);
    let id = ids.into_iter().next().unwrap();
    let conversations = format!("/contacts/{id}/conversations?limit=100");
    assert_eq!(agent.count(&conversations).await, 8);
}

#[tokio::test]
async fn malformed_inbound_messages_are_refused_with_a_reason() {
    let (api, org) = fresh();
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
    assert_eq!(agent.count("/contacts").await, 0, "nothing half-written");
    api.contact_of(&good).await;
}

/// The messaging layer hands large attachments over in the bucket (`incoming/<org>/…`): ingest
/// copies each under the contact, the history serves it, and a key with nothing behind it is
/// refused (on AWS a missing object reads as 403 to ingest, which may not list the bucket).
#[tokio::test]
async fn an_attachment_handed_over_in_the_bucket_is_copied_under_the_contact() {
    let (api, org) = fresh();
    let key = format!("incoming/{org}/voice-note.ogg");
    let bytes = b"OggS a voice note".to_vec();
    shared::testing::local_services()
        .await
        .blobs()
        .put(&key, bytes.clone(), "audio/ogg")
        .await
        .unwrap();
    let mut message = inbound(&org, "whatsapp", "+2400", "c-1", "m-1");
    message["message"]["attachments"] =
        json!([{"id": "a", "content_type": "audio/ogg", "s3_key": key}]);
    api.contact_of(&message).await;
    let agent = api.caller(&org, "agent", "team").await;
    let history = agent.get("/conversations/c-1/messages").await.expect(200);
    let attachment = &history["items"][0]["attachments"][0];
    assert_eq!(attachment["size"], bytes.len(), "{history}");
    let (status, body) = api
        .download(attachment["download_url"].as_str().unwrap())
        .await;
    assert_eq!((status.as_u16(), body), (200, bytes));

    let mut missing = inbound(&org, "whatsapp", "+2400", "c-1", "m-2");
    missing["message"]["attachments"] = json!([{"id": "a", "content_type": "audio/ogg",
        "s3_key": format!("incoming/{org}/never-uploaded.ogg")}]);
    api.inbound(&missing).await.expect_error(400, "bad_request");
}

/// Two first messages of one sender race for the sender's identity claim. The race is injected
/// at its exact point: the first message's transaction is held until the second has made the
/// contact. The loser joins the winner's contact and removes the attachment it had stored under
/// the contact it meant to make: every attachment left is the winner's.
#[tokio::test]
async fn the_message_that_loses_the_race_for_a_new_sender_leaves_no_attachment_behind() {
    let (api, org) = fresh();
    let with_attachment = |conversation: &str, id: &str| {
        let mut message = inbound(&org, "webchat", "visitor-1", conversation, id);
        message["message"]["attachments"] =
            json!([{"id": "a", "content_type": "image/png", "content_base64": "iVBORw0KGgo="}]);
        message
    };
    api.pause(&org, "TransactWriteItems").await;
    let held = tokio::spawn({
        let (api, first) = (api.clone(), with_attachment("c1", "m1"));
        async move { api.inbound(&first).await }
    });
    api_tests::eventually("the first message's transaction held", || async {
        api.held(&org).await.then_some(())
    })
    .await;
    let winner = api.contact_of(&with_attachment("c2", "m2")).await;
    api.resume(&org).await;
    let loser = held.await.unwrap().expect(200);
    assert_eq!(
        loser["contact_id"],
        json!(winner),
        "the loser joins the winner"
    );

    let keys = api.stored_objects(&format!("attachments/{org}/")).await;
    assert_eq!(
        keys,
        [
            format!("attachments/{org}/{winner}/m1/a"),
            format!("attachments/{org}/{winner}/m2/a")
        ],
        "no attachment left under the contact the loser meant to make"
    );
}
