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

#[tokio::test]
async fn a_status_change_whose_first_delivery_died_is_written_back_on_redelivery_under_one_id() {
    let local = local_services().await;
    let org = new_org("wb-redo");
    let org_id = OrgId::parse(&org).unwrap();
    let crm_queue = shared::testing::TestQueue::new(&format!("crm-{org}")).await;
    let (services, sends) =
        local::testing::services_watched("ingest-messages", &[(crm_queue.url(), "CrmQueue")]).await;
    sends.watch_sends(&org);
    let store = local.store();
    shared::testing::connect_writing_back(&store, &org_id).await;
    let app = App::build(&services, &Env::system());
    let dying = App::build(&services, &Env::system()).tuned(IngestTuning {
        die_after_commit: true,
        ..IngestTuning::default()
    });
    let message = |id: &str, status: &str, at: &str| {
        serde_json::json!({"org_id": org, "channel": "sms", "sender": {"user_id": "+351955"},
            "conversation": {"id": "conv-wb", "status": status},
            "message": {"id": id, "text": "hi", "sent_at": at}})
        .to_string()
    };
    let first = app
        .ingest_body(&message("m1", "open", "2026-01-01T10:00:00Z"))
        .await
        .unwrap();
    // An agent's change to a CRM-managed value waits for the conversation's next status.
    let at = "2026-01-01T10:01:00Z";
    shared::testing::account_change_pending(&store, &org_id, &first.contact_id, at).await;
    let write_backs = || {
        sends
            .sent(&org)
            .into_iter()
            .filter(|m| m.body["type"] == "write_back")
            .map(|m| m.body)
            .collect::<Vec<_>>()
    };

    let closing = message("m2", "closed", "2026-01-01T10:02:00Z");
    assert!(
        dying.ingest_body(&closing).await.is_err(),
        "died after its commit"
    );
    assert!(write_backs().is_empty(), "its write-back was never queued");

    app.ingest_body(&closing).await.unwrap();
    let queued = write_backs();
    assert_eq!(queued.len(), 1, "the redelivery queued it");
    assert_eq!(
        queued[0]["conversation"],
        serde_json::json!({"id": "conv-wb", "status": "closed"})
    );
    assert_eq!(queued[0]["contact_id"], first.contact_id.as_str());

    // Another redelivery queues it again under the same id, which the CRM drops as a repeat;
    // a redelivered message that changed no status queues none.
    app.ingest_body(&closing).await.unwrap();
    app.ingest_body(&message("m1", "open", "2026-01-01T10:00:00Z"))
        .await
        .unwrap();
    let queued = write_backs();
    assert_eq!(queued.len(), 2);
    assert_eq!(queued[0]["webhook_id"], queued[1]["webhook_id"]);
}
