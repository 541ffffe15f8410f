//! The purge is idempotent and resumable: a delete whose function died right after the
//! transaction is finished by the purge job, and running it again changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use delete_contact::{App, PurgeTuning};
use serde_json::json;
use shared::clock::{Env, Timestamp};
use shared::deletion::{DeletionRecord, PurgeJob};
use shared::ids::{ContactId, OrgId};
use shared::invocation::{Budget, BudgetPolicy, Deadline};
use shared::keys;
use shared::notes::Person;
use shared::serve::Build;
use shared::serve::QueueFunction;
use shared::services::Services;
use shared::store::Message;
use shared::testing::{TestQueue, local_services, new_org};

#[tokio::test]
async fn a_purge_after_a_crash_finishes_the_cascade_and_can_run_again() {
    let local = local_services().await;
    let org_name = new_org("purge");
    let org = OrgId::parse(&org_name).unwrap();
    let ingest = ingest_messages::App::build(&local, &Env::system());
    let mut ids = None;
    for i in 0..3 {
        let message = json!({"org_id": org_name, "channel": "email", "sender": {"user_id": "ana@example.com", "name": "Ana"},
                             "conversation": {"id": format!("conv-{i}"), "status": "open"},
                             "message": {"id": format!("m-{i}"), "text": "hi", "sent_at": "2026-01-01T10:00:00Z",
                                         "attachments": [{"id": "a", "content_type": "text/plain", "content_base64": "aGk="}]}});
        ids = Some(ingest.ingest_body(&message.to_string()).await.unwrap());
    }
    let contact_id = ids.unwrap().contact_id;

    // The function "dies" right after its transaction: no purge job is sent.
    delete_without_purge(&local, &org, &contact_id).await;
    assert!(
        local
            .store()
            .purge_pending(&org, &contact_id)
            .await
            .unwrap()
    );
    assert!(
        !local
            .store()
            .partition(&keys::contact_pk(&org, &contact_id))
            .await
            .unwrap()
            .is_empty()
    );

    let app = App::build(&local, &Env::system());
    let job = PurgeJob {
        left_group: None,
        org_id: OrgId::parse(&org_name).unwrap(),
        contact_id: ContactId::parse(&contact_id).unwrap(),
    };
    app.purge(&job, &mut whole_invocation()).await.unwrap();
    assert!(
        local
            .store()
            .partition(&keys::contact_pk(&org, &contact_id))
            .await
            .unwrap()
            .is_empty()
    );
    for i in 0..3 {
        let left = local
            .store()
            .partition(&keys::conversation_pk(&org, &format!("conv-{i}")))
            .await
            .unwrap();
        assert!(left.is_empty(), "conv-{i} still holds {} items", left.len());
    }
    assert_eq!(
        local
            .blobs()
            .delete_prefix(&keys::attachment_prefix(&org, &contact_id))
            .await
            .unwrap(),
        0
    );
    assert!(!purge_pending(&local, &org, &contact_id).await);
    app.purge(&job, &mut whole_invocation()).await.unwrap();
}

/// Deletes a contact as the function does, but sends no purge job.
/// Whether the deleted contact's purge marker is still there.
async fn purge_pending(local: &Services, org: &OrgId, contact_id: &str) -> bool {
    local.store().purge_pending(org, contact_id).await.unwrap()
}

async fn delete_without_purge(local: &Services, org: &OrgId, contact_id: &str) {
    let contact = local
        .store()
        .contact(org, contact_id)
        .await
        .unwrap()
        .unwrap();
    let record = DeletionRecord {
        id: uuid_like(),
        contact_id: contact_id.to_owned(),
        contact_hint: "A.".into(),
        platform: "email".into(),
        deleted_at: "2026-01-02T00:00:00Z".into(),
        deleted_by: Person {
            id: "admin".into(),
            name: "Admin".into(),
        },
    };
    local
        .store()
        .delete_contact(org, &contact, &record)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_purge_of_a_long_history_continues_across_invocations_and_leaves_nothing() {
    let local = local_services().await;
    let org_name = new_org("longpurge");
    let org = OrgId::parse(&org_name).unwrap();
    let sender = json!({"user_id": "bo@example.com", "name": "Bo"});
    let contact_id = ingest_messages::App::first_contact(&local, &org_name, "email", sender)
        .await
        .unwrap();
    let history: Vec<Message> = (0..3_000)
        .map(|n| Message {
            id: format!("m-{n:05}"),
            conversation_id: "conv-1".into(),
            contact_id: contact_id.clone(),
            text: "hello".into(),
            sent_at: Timestamp::parse(&format!("2026-01-02T10:{:02}:{:02}Z", n / 60 % 60, n % 60))
                .unwrap(),
            attachments: vec![],
        })
        .collect();
    local
        .store()
        .import_messages(&org, &history, "2026-01-03T00:00:00Z")
        .await
        .unwrap();
    delete_without_purge(&local, &org, &contact_id).await;

    let queue = TestQueue::new(&format!("purge-{org_name}")).await;
    // 100 items a page, 10 pages an invocation.
    let services =
        local::testing::services_as("purge-contact", &[(queue.url(), "PurgeQueue")]).await;
    let app = App::build(&services, &Env::system()).tuned(PurgeTuning {
        page_size: 100,
        budget: BudgetPolicy::Steps(10),
    });
    let job = PurgeJob {
        left_group: None,
        org_id: org.clone(),
        contact_id: ContactId::parse(&contact_id).unwrap(),
    };
    queue.queue().send(&job).await.unwrap();
    let invocations = queue.drain(&app).await;
    assert_eq!(
        invocations, 4,
        "31 pages of the conversation, then the rest"
    );
    for pk in [
        keys::conversation_pk(&org, "conv-1"),
        keys::contact_pk(&org, &contact_id),
    ] {
        let left = local.store().partition(&pk).await.unwrap();
        assert!(left.is_empty(), "{} items left", left.len());
    }
    assert!(!purge_pending(&local, &org, &contact_id).await);
}

fn whole_invocation() -> Budget {
    Budget::new(BudgetPolicy::UntilDeadline, Deadline::longest())
}

fn uuid_like() -> String {
    format!("00000000-0000-7000-8000-{:012x}", std::process::id())
}

/// The sample events: delete, the log, and the purge job, for a contact made by ingest.
#[tokio::test]
async fn the_sample_events_delete_list_and_purge() {
    use shared::testing::load_event;
    let local = local_services().await;
    let sender = json!({"user_id": "9", "name": "Ana Lima", "handle": "@ana"});
    let app = App::build(&local, &Env::system());
    let h = ingest_messages::over_first_contact(app, &local, &new_org("evt"), "x_dm", sender).await;
    assert_eq!(h.run_as("delete-contact", Some("agent"), &[]).await.0, 403);
    assert_eq!(h.run("delete-contact").await.0, 204);
    assert_eq!(h.run("delete-contact").await.0, 404);
    let (status, log) = h.run("list-deleted-contacts").await;
    assert_eq!(
        (status, log["items"][0]["contact_hint"].clone()),
        (200, json!("A. L. · @a…"))
    );

    let mut event = load_event("delete-contact", "sqs-purge-job");
    event["Records"][0]["body"] = json!({"org_id": h.org, "contact_id": h.contact_id})
        .to_string()
        .into();
    let response = h
        .app
        .handle_batch(serde_json::from_value(event).unwrap(), Deadline::longest())
        .await;
    assert!(response.batch_item_failures.is_empty());
    let org = OrgId::parse(&h.org).unwrap();
    assert!(
        local
            .store()
            .partition(&keys::conversation_pk(&org, "conv-1"))
            .await
            .unwrap()
            .is_empty()
    );
}
