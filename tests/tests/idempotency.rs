//! Idempotency keys through the local runtime: replays, simultaneous requests, keyed creates.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{fresh_as, new_org, notes_as};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response_without_a_second_note() {
    let (api, _, agent, notes) = notes_as("business").await;
    let body = json!({"text": "once"});
    let first = agent.post_with_key(&notes, &body, "key-1").await;
    assert_eq!(first.status, 201);
    let again = agent.post_with_key(&notes, &body, "key-1").await;
    assert_eq!(
        (
            again.status.as_u16(),
            again.headers["idempotent-replayed"].to_str().unwrap()
        ),
        (201, "true")
    );
    assert_eq!(again.body, first.body);
    let other = agent
        .post_with_key(&notes, &json!({"text": "different"}), "key-1")
        .await;
    other.expect_error(422, "validation_failed");
    assert_eq!(other.field(), "Idempotency-Key");
    assert_eq!(agent.count(&notes).await, 1);

    // Another org may use the same key for its own request.
    let other_org = new_org();
    let theirs = api.contact_from(&other_org, "whatsapp", "+1", "c1").await;
    let stranger = api.caller(&other_org, "agent", "business").await;
    stranger
        .post_with_key(&format!("/contacts/{theirs}/notes"), &body, "key-1")
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
    let (_, _, agent, notes) = notes_as("business").await;
    let body = json!({"text": "exactly once"});
    let replies =
        futures::future::join_all((0..6).map(|_| agent.post_with_key(&notes, &body, "race-key")))
            .await;
    let mut ids_seen = std::collections::BTreeSet::new();
    for reply in replies {
        let note = reply.expect(201);
        ids_seen.insert(note["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids_seen.len(), 1, "every caller sees the one note");
    assert_eq!(agent.count(&notes).await, 1);
}

#[tokio::test]
async fn creating_an_attribute_with_a_replayed_key_is_not_a_conflict() {
    let (_, _, admin) = fresh_as("admin", "team").await;
    let body = json!({"label": "Tier", "type": "text"});
    let first = admin.post_with_key("/attributes", &body, "attr-1").await;
    let again = admin.post_with_key("/attributes", &body, "attr-1").await;
    assert_eq!((first.status.as_u16(), again.status.as_u16()), (201, 201));
    assert_eq!(first.body, again.body);
    // Without the key the same request is a second attempt, and the key is taken.
    admin
        .post("/attributes", &body)
        .await
        .expect_error(409, "conflict");
}

/// A refused request does not use up its Idempotency-Key: the corrected request, sent again
/// with the same key, runs (the key's claim is let go, for attributes and exports alike).
#[tokio::test]
async fn a_refused_post_leaves_its_key_free_for_the_corrected_request() {
    let (_, _, admin) = api_tests::fresh_as("admin", "enterprise").await;
    let refused = admin
        .post_with_key(
            "/attributes",
            &json!({"label": "Tier", "type": "dropdown"}),
            "k-attr",
        )
        .await;
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    admin
        .post_with_key(
            "/attributes",
            &json!({"label": "Tier", "type": "dropdown", "options": ["Gold", "Silver"]}),
            "k-attr",
        )
        .await
        .expect(201);
    let refused = admin
        .post_with_key("/exports", &json!({"format": "pdf"}), "k-export")
        .await;
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    admin
        .post_with_key("/exports", &json!({"format": "csv"}), "k-export")
        .await
        .expect(202);
}
