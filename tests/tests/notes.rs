//! Notes through the local runtime: contact notes, conversation notes and idempotent writes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Api, new_org};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn any_agent_adds_edits_and_deletes_contact_notes_newest_first() {
    let api = Api::new();
    let org = new_org();
    let c = api.whatsapp_contact(&org, "+1", "c1").await;
    let ana = api
        .token(&[
            ("org", &org),
            ("role", "agent"),
            ("plan", "business"),
            ("name", "Ana Agent"),
            ("sub", "ana"),
        ])
        .await;
    let ben = api
        .token(&[
            ("org", &org),
            ("role", "agent"),
            ("plan", "business"),
            ("name", "Ben Agent"),
            ("sub", "ben"),
        ])
        .await;
    let notes = format!("/contacts/{c}/notes");
    let send = |token: &str,
                method: Method,
                path: &str,
                body: Option<Value>,
                headers: Vec<(&'static str, String)>| {
        let api = &api;
        let token = token.to_owned();
        let path = path.to_owned();
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            api.raw(
                method,
                &path,
                Some(&token),
                body.map(|b| serde_json::to_vec(&b).unwrap()),
                &headers,
            )
            .await
        }
    };

    let first = send(
        &ana,
        Method::POST,
        &notes,
        Some(json!({"text": "  Prefers email  "})),
        vec![],
    )
    .await;
    assert_eq!(first.headers["etag"], "\"1\"");
    let first = first.expect(201);
    assert_eq!(
        (
            first["text"].clone(),
            first["author"].clone(),
            first["updated_by"].clone()
        ),
        (
            json!("Prefers email"),
            json!({"id": "ana", "name": "Ana Agent"}),
            json!(null)
        )
    );
    let second = send(
        &ana,
        Method::POST,
        &notes,
        Some(json!({"text": "Called back"})),
        vec![],
    )
    .await
    .expect(201);
    let third = send(
        &ben,
        Method::POST,
        &notes,
        Some(json!({"text": "VIP candidate"})),
        vec![],
    )
    .await
    .expect(201);

    let page = send(&ben, Method::GET, &format!("{notes}?limit=2"), None, vec![])
        .await
        .expect(200);
    assert_eq!(
        api_tests::ids(&page),
        [
            third["id"].as_str().unwrap(),
            second["id"].as_str().unwrap()
        ]
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = send(
        &ben,
        Method::GET,
        &format!("{notes}?limit=2&cursor={cursor}"),
        None,
        vec![],
    )
    .await
    .expect(200);
    assert_eq!(api_tests::ids(&rest), [first["id"].as_str().unwrap()]);
    assert_eq!(rest["next_cursor"], json!(null));

    let note = format!("{notes}/{}", first["id"].as_str().unwrap());
    let edited = send(
        &ben,
        Method::PATCH,
        &note,
        Some(json!({"text": "Prefers email, not phone"})),
        vec![("if-match", "\"1\"".into())],
    )
    .await;
    assert_eq!(edited.headers["etag"], "\"2\"");
    let edited = edited.expect(200);
    assert_eq!(
        (
            edited["author"]["id"].clone(),
            edited["updated_by"].clone(),
            edited["version"].clone()
        ),
        (
            json!("ana"),
            json!({"id": "ben", "name": "Ben Agent"}),
            json!(2)
        )
    );
    send(
        &ana,
        Method::PATCH,
        &note,
        Some(json!({"text": "stale"})),
        vec![("if-match", "\"1\"".into())],
    )
    .await
    .expect_error(412, "precondition_failed");
    send(
        &ana,
        Method::DELETE,
        &note,
        None,
        vec![("if-match", "\"1\"".into())],
    )
    .await
    .expect_error(412, "precondition_failed");
    assert_eq!(
        send(&ana, Method::DELETE, &note, None, vec![]).await.status,
        204
    );
    send(&ana, Method::DELETE, &note, None, vec![])
        .await
        .expect_error(404, "not_found");
    send(
        &ana,
        Method::PATCH,
        &note,
        Some(json!({"text": "gone"})),
        vec![],
    )
    .await
    .expect_error(404, "not_found");
    assert_eq!(
        send(&ana, Method::GET, &notes, None, vec![])
            .await
            .expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn note_text_is_1_to_2000_characters_after_trimming() {
    let api = Api::new();
    let org = new_org();
    let c = api.whatsapp_contact(&org, "+1", "c1").await;
    let agent = api.caller(&org, "agent", "enterprise").await;
    let notes = format!("/contacts/{c}/notes");
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
        let reply = agent.post(&notes, &json!({"text": text})).await;
        reply.expect_error(422, "validation_failed");
        assert_eq!(reply.field(), "text");
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
    assert_eq!(
        agent.get(&notes).await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn notes_need_a_paid_plan_to_write_and_the_callers_own_contact() {
    let api = Api::new();
    let org = new_org();
    let c = api.whatsapp_contact(&org, "+1", "c1").await;
    let writer = api.caller(&org, "agent", "business").await;
    let note = writer
        .post(&format!("/contacts/{c}/notes"), &json!({"text": "hi"}))
        .await
        .expect(201);
    let note_path = format!("/contacts/{c}/notes/{}", note["id"].as_str().unwrap());

    let team = api.caller(&org, "admin", "team").await;
    assert_eq!(
        team.get(&format!("/contacts/{c}/notes")).await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    team.post(&format!("/contacts/{c}/notes"), &json!({"text": "x"}))
        .await
        .expect_error(403, "plan_required");
    team.patch(&note_path, &json!({"text": "x"}))
        .await
        .expect_error(403, "plan_required");
    team.delete(&note_path)
        .await
        .expect_error(403, "plan_required");

    let stranger = api.caller(&new_org(), "agent", "enterprise").await;
    stranger
        .get(&format!("/contacts/{c}/notes"))
        .await
        .expect_error(404, "not_found");
    stranger
        .post(&format!("/contacts/{c}/notes"), &json!({"text": "x"}))
        .await
        .expect_error(404, "not_found");
    stranger
        .patch(&note_path, &json!({"text": "x"}))
        .await
        .expect_error(404, "not_found");
    stranger
        .delete(&note_path)
        .await
        .expect_error(404, "not_found");
    writer
        .post("/contacts/no-such-contact/notes", &json!({"text": "x"}))
        .await
        .expect_error(404, "not_found");
    writer
        .get("/contacts/no-such-contact/notes")
        .await
        .expect_error(404, "not_found");
    assert_eq!(
        writer
            .get(&format!("/contacts/{c}/notes"))
            .await
            .expect(200)["items"][0]["text"],
        "hi"
    );
}

#[tokio::test]
async fn conversation_notes_are_kept_apart_from_contact_notes() {
    let api = Api::new();
    let org = new_org();
    let c = api.whatsapp_contact(&org, "+1", "conv-a").await;
    let agent = api.caller(&org, "agent", "business").await;
    let on_contact = agent
        .post(
            &format!("/contacts/{c}/notes"),
            &json!({"text": "about the person"}),
        )
        .await
        .expect(201);
    let on_conversation = agent
        .post(
            "/conversations/conv-a/notes",
            &json!({"text": "about this chat"}),
        )
        .await
        .expect(201);
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
    agent
        .post("/conversations/no-such/notes", &json!({"text": "x"}))
        .await
        .expect_error(404, "not_found");
    agent
        .get("/conversations/no-such/notes")
        .await
        .expect_error(404, "not_found");
    let stranger = api.caller(&new_org(), "agent", "business").await;
    stranger
        .get("/conversations/conv-a/notes")
        .await
        .expect_error(404, "not_found");
    stranger
        .post("/conversations/conv-a/notes", &json!({"text": "x"}))
        .await
        .expect_error(404, "not_found");
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
