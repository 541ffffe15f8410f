//! Notes through the local runtime: contact notes, conversation notes and idempotent writes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Request, assert_fields, fresh, new_org, notes_as};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn any_agent_adds_edits_and_deletes_contact_notes_newest_first() {
    let (api, org) = fresh();
    let c = api.contact_from(&org, "whatsapp", "+1", "c1").await;
    let ana = api
        .caller_named(&org, "agent", "business", "ana", "Ana Agent")
        .await;
    let ben = api
        .caller_named(&org, "agent", "business", "ben", "Ben Agent")
        .await;
    let notes = format!("/contacts/{c}/notes");
    let stale = [("if-match", "\"1\"")];

    let first = ana
        .post(&notes, &json!({"text": "  Prefers email  "}))
        .await;
    assert_eq!(first.headers["etag"], "\"1\"");
    let first = first.expect(201);
    assert_fields(
        &first,
        json!({"text": "Prefers email", "author": {"id": "ana", "name": "Ana Agent"}, "updated_by": null}),
    );
    let second = ana.note(&notes, "Called back").await;
    let third = ben.note(&notes, "VIP candidate").await;

    let page = ben.get(&format!("{notes}?limit=2")).await.expect(200);
    assert_eq!(
        api_tests::ids(&page),
        [
            third["id"].as_str().unwrap(),
            second["id"].as_str().unwrap()
        ]
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = ben
        .get(&format!("{notes}?limit=2&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(api_tests::ids(&rest), [first["id"].as_str().unwrap()]);
    assert_eq!(rest["next_cursor"], json!(null));

    let note = format!("{notes}/{}", first["id"].as_str().unwrap());
    let edited = ben
        .send_with(
            Method::PATCH,
            &note,
            &json!({"text": "Prefers email, not phone"}),
            &stale,
        )
        .await;
    assert_eq!(edited.headers["etag"], "\"2\"");
    let edited = edited.expect(200);
    let (author, editor) = (
        json!({"id": "ana", "name": "Ana Agent"}),
        json!({"id": "ben", "name": "Ben Agent"}),
    );
    assert_fields(
        &edited,
        json!({"author": author, "updated_by": editor, "version": 2}),
    );
    ana.send_with(Method::PATCH, &note, &json!({"text": "stale"}), &stale)
        .await
        .expect_error(412, "precondition_failed");
    // A DELETE carries no body: only the header.
    api.raw(Method::DELETE, &note, Some(&ana.token), None, &stale)
        .await
        .expect_error(412, "precondition_failed");
    assert_eq!(ana.delete(&note).await.status, 204);
    ana.delete(&note).await.expect_error(404, "not_found");
    ana.patch(&note, &json!({"text": "gone"}))
        .await
        .expect_error(404, "not_found");
    assert_eq!(ana.count(&notes).await, 2);
}

#[tokio::test]
async fn note_text_is_1_to_2000_characters_after_trimming() {
    let (_, _, agent, notes) = notes_as("enterprise").await;
    let emoji = agent
        .post(&notes, &json!({"text": "😀".repeat(2000)}))
        .await
        .expect(201);
    assert_eq!(emoji["text"].as_str().unwrap().chars().count(), 2000);
    agent
        .post(
            &notes,
            &json!({"text": format!("  {}  ", "a".repeat(2000))}),
        )
        .await
        .expect(201);
    for text in [
        "a".repeat(2001),
        "😀".repeat(2001),
        "   ".to_string(),
        String::new(),
    ] {
        agent
            .post(&notes, &json!({"text": text}))
            .await
            .expect_error_at(422, "validation_failed", "text");
    }
    let note = format!("{notes}/{}", emoji["id"].as_str().unwrap());
    agent
        .patch(&note, &json!({"text": "a".repeat(2001)}))
        .await
        .expect_error(422, "validation_failed");
    for body in [
        json!({}),
        json!({"text": 5}),
        json!({"text": "x", "author": {"id": "boss", "name": "Boss"}}),
    ] {
        agent
            .post(&notes, &body)
            .await
            .expect_error(400, "bad_request");
    }
    assert_eq!(agent.count(&notes).await, 2);
}

#[tokio::test]
async fn notes_need_a_paid_plan_to_write_and_the_callers_own_contact() {
    let (api, org, writer, notes) = notes_as("business").await;
    let note = writer.note(&notes, "hi").await;
    let note_path = format!("{notes}/{}", note["id"].as_str().unwrap());

    let x = json!({"text": "x"});
    let team = api.caller(&org, "admin", "team").await;
    assert_eq!(team.count(&notes).await, 1);
    let writes = [
        Request::post(&notes, &x),
        Request::patch(&note_path, &x),
        Request::delete(&note_path),
    ];
    team.expect_each_error(403, "plan_required", &writes).await;

    let stranger = api.caller(&new_org(), "agent", "enterprise").await;
    stranger.get(&notes).await.expect_error(404, "not_found");
    stranger.expect_each_error(404, "not_found", &writes).await;
    let nobody = "/contacts/no-such-contact/notes";
    let nobodys = [Request::post(nobody, &x), Request::get(nobody)];
    writer.expect_each_error(404, "not_found", &nobodys).await;
    assert_eq!(
        writer.get(&notes).await.expect(200)["items"][0]["text"],
        "hi"
    );
}

#[tokio::test]
async fn conversation_notes_are_kept_apart_from_contact_notes() {
    let (api, org) = fresh();
    let c = api.contact_from(&org, "whatsapp", "+1", "conv-a").await;
    let agent = api.caller(&org, "agent", "business").await;
    let on_contact = agent
        .note(&format!("/contacts/{c}/notes"), "about the person")
        .await;
    let on_conversation = agent
        .note("/conversations/conv-a/notes", "about this chat")
        .await;
    assert_eq!(
        api_tests::ids(&agent.get(&format!("/contacts/{c}/notes")).await.expect(200)),
        [on_contact["id"].as_str().unwrap()]
    );
    assert_eq!(
        api_tests::ids(&agent.get("/conversations/conv-a/notes").await.expect(200)),
        [on_conversation["id"].as_str().unwrap()]
    );
    // A note's id under the other parent is not found.
    agent
        .patch(
            &format!(
                "/conversations/conv-a/notes/{}",
                on_contact["id"].as_str().unwrap()
            ),
            &json!({"text": "x"}),
        )
        .await
        .expect_error(404, "not_found");
    let edited = agent
        .patch(
            &format!(
                "/conversations/conv-a/notes/{}",
                on_conversation["id"].as_str().unwrap()
            ),
            &json!({"text": "updated"}),
        )
        .await
        .expect(200);
    assert_eq!(edited["text"], "updated");
    let missing = [
        Request::post("/conversations/no-such/notes", json!({"text": "x"})),
        Request::get("/conversations/no-such/notes"),
    ];
    agent.expect_each_error(404, "not_found", &missing).await;
    let stranger = api.caller(&new_org(), "agent", "business").await;
    let missing = [
        Request::get("/conversations/conv-a/notes"),
        Request::post("/conversations/conv-a/notes", json!({"text": "x"})),
    ];
    stranger.expect_each_error(404, "not_found", &missing).await;
    api.caller(&org, "agent", "team")
        .await
        .post("/conversations/conv-a/notes", &json!({"text": "x"}))
        .await
        .expect_error(403, "plan_required");
    let reply = agent
        .post(
            "/conversations/conv-a/notes",
            &json!({"text": "a".repeat(2001)}),
        )
        .await;
    reply.expect_error(422, "validation_failed");
}
