//! VIP, contact notes, conversation notes and Idempotency-Key through the local runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Api, Caller, inbound, new_org};
use reqwest::Method;
use serde_json::{Value, json};

async fn contact(api: &Api, org: &str, user: &str, conversation: &str) -> String {
    let reply = api
        .inbound(&inbound(
            org,
            "whatsapp",
            user,
            conversation,
            &format!("m-{user}"),
        ))
        .await;
    reply.expect(200)["contact_id"].as_str().unwrap().to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn post_keyed(caller: &Caller<'_>, path: &str, body: &Value, key: &str) -> api_tests::Reply {
    caller
        .send_with(Method::POST, path, body, &[("idempotency-key", key)])
        .await
}

#[tokio::test]
async fn vip_is_designated_idempotently_and_forms_the_vip_group() {
    let api = Api::new();
    let org = new_org();
    let a = contact(&api, &org, "+1", "c1").await;
    let b = contact(&api, &org, "+2", "c2").await;
    let agent = api.caller(&org, "agent", "business").await;
    let vip_path = format!("/contacts/{a}/vip");

    let first = agent.put(&vip_path, &json!(null)).await;
    assert_eq!(first.headers["etag"], "\"2\"");
    let view = first.expect(200);
    assert_eq!(
        (view["vip"].clone(), view["version"].clone()),
        (json!(true), json!(2))
    );
    assert_eq!(
        agent.put(&vip_path, &json!(null)).await.expect(200)["version"],
        2,
        "a second PUT changes nothing"
    );
    assert_eq!(
        ids(&agent.get("/contacts?vip=true").await.expect(200)),
        [a.as_str()]
    );
    let all = agent.get("/contacts").await.expect(200);
    let summary = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == a)
        .unwrap();
    assert_eq!(summary["vip"], true);
    assert_eq!(
        agent.get(&format!("/contacts/{b}")).await.expect(200)["vip"],
        false
    );

    // A new message rewrites the profile; the contact stays in the VIP group.
    let mut later = inbound(&org, "whatsapp", "+1", "c1", "m-later");
    later["sender"]["name"] = json!("Renamed");
    api.inbound(&later).await.expect(200);
    assert_eq!(
        ids(&agent.get("/contacts?vip=true").await.expect(200)),
        [a.as_str()]
    );

    assert_eq!(agent.delete(&vip_path).await.expect(200)["vip"], false);
    assert_eq!(agent.delete(&vip_path).await.expect(200)["vip"], false);
    assert_eq!(
        agent.get("/contacts?vip=true").await.expect(200)["items"],
        json!([])
    );
}

#[tokio::test]
async fn vip_needs_a_paid_plan_the_vip_attribute_and_the_callers_own_contact() {
    let api = Api::new();
    let org = new_org();
    let a = contact(&api, &org, "+1", "c1").await;
    let path = format!("/contacts/{a}/vip");
    for role in ["agent", "admin"] {
        let team = api.caller(&org, role, "team").await;
        team.put(&path, &json!(null))
            .await
            .expect_error(403, "plan_required");
        team.delete(&path).await.expect_error(403, "plan_required");
    }
    let stranger = api.caller(&new_org(), "agent", "enterprise").await;
    stranger
        .put(&path, &json!(null))
        .await
        .expect_error(404, "not_found");
    stranger.delete(&path).await.expect_error(404, "not_found");
    let agent = api.caller(&org, "agent", "business").await;
    agent
        .put("/contacts/no-such-contact/vip", &json!(null))
        .await
        .expect_error(404, "not_found");

    let admin = api.caller(&org, "admin", "business").await;
    admin
        .patch("/attributes/vip", &json!({"enabled": false}))
        .await
        .expect(200);
    agent
        .put(&path, &json!(null))
        .await
        .expect_error(403, "feature_disabled");
    agent
        .delete(&path)
        .await
        .expect_error(403, "feature_disabled");
    assert_eq!(
        agent.get(&format!("/contacts/{a}")).await.expect(200)["vip"],
        false
    );
}

#[tokio::test]
async fn any_agent_adds_edits_and_deletes_contact_notes_newest_first() {
    let api = Api::new();
    let org = new_org();
    let c = contact(&api, &org, "+1", "c1").await;
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
        ids(&page),
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
    assert_eq!(ids(&rest), [first["id"].as_str().unwrap()]);
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
    let c = contact(&api, &org, "+1", "c1").await;
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
    let c = contact(&api, &org, "+1", "c1").await;
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
    let c = contact(&api, &org, "+1", "conv-a").await;
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
        ids(&agent.get(&format!("/contacts/{c}/notes")).await.expect(200)),
        [on_contact["id"].as_str().unwrap()]
    );
    assert_eq!(
        ids(&agent.get("/conversations/conv-a/notes").await.expect(200)),
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

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response_without_a_second_note() {
    let api = Api::new();
    let org = new_org();
    let c = contact(&api, &org, "+1", "c1").await;
    let agent = api.caller(&org, "agent", "business").await;
    let notes = format!("/contacts/{c}/notes");
    let body = json!({"text": "once"});
    let first = post_keyed(&agent, &notes, &body, "key-1").await;
    assert_eq!(first.status, 201);
    let again = post_keyed(&agent, &notes, &body, "key-1").await;
    assert_eq!(
        (
            again.status.as_u16(),
            again.headers["idempotent-replayed"].to_str().unwrap()
        ),
        (201, "true")
    );
    assert_eq!(again.body, first.body);
    let other = post_keyed(&agent, &notes, &json!({"text": "different"}), "key-1").await;
    other.expect_error(422, "validation_failed");
    assert_eq!(other.field(), "Idempotency-Key");
    assert_eq!(
        agent.get(&notes).await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Another org may use the same key for its own request.
    let other_org = new_org();
    let theirs = contact(&api, &other_org, "+1", "c1").await;
    let stranger = api.caller(&other_org, "agent", "business").await;
    post_keyed(
        &stranger,
        &format!("/contacts/{theirs}/notes"),
        &body,
        "key-1",
    )
    .await
    .expect(201);

    agent
        .send_with(
            Method::POST,
            &notes,
            &body,
            &[("idempotency-key", "has space")],
        )
        .await
        .expect_error(400, "bad_request");
}

#[tokio::test]
async fn simultaneous_requests_with_one_key_make_one_note() {
    let api = Api::new();
    let org = new_org();
    let c = contact(&api, &org, "+1", "c1").await;
    let agent = api.caller(&org, "agent", "business").await;
    let notes = format!("/contacts/{c}/notes");
    let body = json!({"text": "exactly once"});
    let replies =
        futures::future::join_all((0..6).map(|_| post_keyed(&agent, &notes, &body, "race-key")))
            .await;
    let mut ids_seen = std::collections::BTreeSet::new();
    for reply in replies {
        let note = reply.expect(201);
        ids_seen.insert(note["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids_seen.len(), 1, "every caller sees the one note");
    assert_eq!(
        agent.get(&notes).await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn creating_an_attribute_with_a_replayed_key_is_not_a_conflict() {
    let api = Api::new();
    let admin = api.caller(&new_org(), "admin", "team").await;
    let body = json!({"label": "Tier", "type": "text"});
    let first = post_keyed(&admin, "/attributes", &body, "attr-1").await;
    let again = post_keyed(&admin, "/attributes", &body, "attr-1").await;
    assert_eq!((first.status.as_u16(), again.status.as_u16()), (201, 201));
    assert_eq!(first.body, again.body);
    // Without the key the same request is a second attempt, and the key is taken.
    admin
        .post("/attributes", &body)
        .await
        .expect_error(409, "conflict");
}
