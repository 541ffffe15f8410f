//! Handler tests: the sample events in `events/contact-notes/` over a contact and conversation
//! made by the ingest handler, each test in an org of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use contact_notes::App;
use serde_json::json;
use shared::clock::Env;
use shared::serve::Build;
use shared::testing::{OverContact, local_services, new_org};

const SAMPLE_NOTE: &str = "01a1fc52-0000-7000-8000-0000000000aa";

type Harness = OverContact<App>;

async fn harness() -> Harness {
    let local = local_services().await;
    let app = App::build(&local, &Env::system());
    let sender = json!({"user_id": "+351900"});
    ingest_messages::over_first_contact(app, &local, &new_org("evt"), "sms", sender).await
}

#[tokio::test]
async fn the_sample_events_add_list_edit_and_delete_notes() {
    let h = harness().await;
    let (status, note) = h.run("add-contact-note").await;
    assert_eq!(status, 201, "{note}");
    assert_eq!(
        note["author"],
        json!({"id": "user-agent-1", "name": "Alex Agent"})
    );
    let (status, replay) = h.run("add-contact-note").await;
    assert_eq!(
        (status, replay),
        (201, note.clone()),
        "the sample's Idempotency-Key replays"
    );
    let id = note["id"].as_str().unwrap();
    let (status, list) = h.run("list-contact-notes").await;
    assert_eq!((status, list["items"].as_array().unwrap().len()), (200, 1));
    let (status, edited) = h
        .run_as("edit-contact-note", None, &[(SAMPLE_NOTE, id)])
        .await;
    assert_eq!((status, edited["version"].clone()), (200, json!(2)));
    let (status, _) = h
        .run_as("edit-contact-note", None, &[(SAMPLE_NOTE, id)])
        .await;
    assert_eq!(status, 412, "the sample's If-Match is now stale");
    let (status, _) = h
        .run_as("delete-contact-note", None, &[(SAMPLE_NOTE, id)])
        .await;
    assert_eq!(status, 204);

    let (status, _) = h.run("add-conversation-note").await;
    assert_eq!(status, 201);
    let (status, list) = h.run("list-conversation-notes").await;
    assert_eq!(
        (status, list["items"][0]["text"].clone()),
        (200, json!("Escalated to billing."))
    );
    let (_, contact_notes) = h.run("list-contact-notes").await;
    assert_eq!(
        contact_notes["items"],
        json!([]),
        "conversation notes stay apart"
    );
}

#[tokio::test]
async fn another_orgs_contact_or_conversation_is_not_found() {
    let h = harness().await;
    h.assert_other_orgs_find_nothing(&[
        "add-contact-note",
        "list-contact-notes",
        "add-conversation-note",
        "list-conversation-notes",
    ])
    .await;
}
