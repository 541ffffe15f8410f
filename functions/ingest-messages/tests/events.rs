//! Handler tests: the sample SQS batch in `events/ingest-messages/` through the handler.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use aws_lambda_events::event::sqs::SqsEvent;
use ingest_messages::{App, IngestTuning};
use serde_json::Value;
use shared::clock::Env;
use shared::contacts::Contact;
use shared::ids::OrgId;
use shared::serve::Build;
use shared::serve::QueueFunction;
use shared::services::Services;
use shared::testing::{failed_records, load_event, local_services, new_org};

/// The sample batch with every message moved into `org`.
fn batch_for(org: &str) -> SqsEvent {
    let mut event = load_event("ingest-messages", "sqs-batch-with-one-malformed");
    for record in event["Records"].as_array_mut().unwrap() {
        let mut body: Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
        body["org_id"] = org.into();
        record["body"] = body.to_string().into();
    }
    serde_json::from_value(event).expect("an SQS event")
}

/// Up to ten of the org's contacts, newest first.
async fn first_page_of_contacts(local: &Services, org: &str) -> Vec<Contact> {
    let org = OrgId::parse(org).unwrap();
    local
        .store()
        .contacts_walk_page(&org, false, Some(10), None)
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn a_malformed_message_fails_alone_and_the_rest_of_the_batch_lands() {
    let local = local_services().await;
    let app = App::build(&local, &Env::system());
    let org = new_org("ingest");
    let response = app
        .handle_batch(batch_for(&org), shared::invocation::Deadline::longest())
        .await;

    assert_eq!(
        failed_records(&response),
        ["2e1424d4-f796-459a-8184-9c92662be6da"]
    );
    let contacts = first_page_of_contacts(&local, &org).await;
    let mut names: Vec<&str> = contacts.iter().map(|c| c.profile.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Ana Lima", "Bruno"]);
    let ana = contacts
        .iter()
        .find(|c| c.profile.name == "Ana Lima")
        .unwrap();
    assert_eq!(
        ana.platform.get("location").map(String::as_str),
        Some("Lisbon")
    );

    // Redelivering the whole batch changes nothing and fails the same record again.
    let again = app
        .handle_batch(batch_for(&org), shared::invocation::Deadline::longest())
        .await;
    assert_eq!(again.batch_item_failures.len(), 1);
    let after = first_page_of_contacts(&local, &org).await;
    assert_eq!(after, contacts);
}

#[tokio::test]
async fn a_message_whose_first_delivery_died_after_its_commit_is_followed_up_on_redelivery() {
    let local = local_services().await;
    let org = new_org("ing");
    let app = App::build(&local, &Env::system());
    let dying = App::build(&local, &Env::system()).tuned(IngestTuning {
        die_after_commit: true,
        ..IngestTuning::default()
    });
    let message = |id: &str, at: &str| {
        serde_json::json!({"org_id": org, "channel": "sms", "sender": {"user_id": "+351966"},
            "conversation": {"id": "conv-d", "status": "open"},
            "message": {"id": id, "text": "hi", "sent_at": at}})
        .to_string()
    };
    let first = app
        .ingest_body(&message("m1", "2026-01-01T10:00:00Z"))
        .await
        .unwrap();
    let later = message("m2", "2026-01-02T10:00:00Z");
    assert!(
        dying.ingest_body(&later).await.is_err(),
        "died after its commit"
    );
    let org_id = OrgId::parse(&org).unwrap();
    let contact = local
        .store()
        .contact(&org_id, &first.contact_id)
        .await
        .unwrap()
        .unwrap();
    let listed_time = || async {
        let (listed, _) = local
            .store()
            .linked_conversations(
                &org_id,
                &contact,
                shared::cursor::PageRequest {
                    limit: 10,
                    start: None,
                },
            )
            .await
            .unwrap();
        listed[0].last_message_at.as_str().to_owned()
    };
    assert_eq!(
        listed_time().await,
        "2026-01-01T10:00:00Z",
        "its follow-up never ran"
    );
    app.ingest_body(&later).await.unwrap();
    assert_eq!(
        listed_time().await,
        "2026-01-02T10:00:00Z",
        "the redelivery did what the first delivery's death left undone"
    );
}
