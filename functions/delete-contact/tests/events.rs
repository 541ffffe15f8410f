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
        ..PurgeTuning::default()
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

/// An ingest of `sender`'s message `id` with one attachment, in `org`.
fn message_with_file(org: &str, id: &str) -> String {
    json!({"org_id": org, "channel": "email", "sender": {"user_id": "late@example.com"},
           "conversation": {"id": "conv-late", "status": "open"},
           "message": {"id": id, "text": "hi", "sent_at": "2026-01-01T10:00:00Z",
                       "attachments": [{"id": "a", "content_type": "text/plain",
                                        "content_base64": "aGk="}]}})
    .to_string()
}

/// A contact made by ingest, and an ingest of its next message held after it read the contact
/// and before it uploads the message's file; meanwhile the contact is deleted and purged.
/// Returns the running ingest, its hold point, the purge and the job that purged.
async fn an_ingest_racing_a_purge(
    org_name: &str,
    ingest_services: &Services,
) -> (
    tokio::task::JoinHandle<Result<ingest_messages::Ingested, ingest_messages::IngestError>>,
    ingest_messages::IngestTuning,
    App,
    PurgeJob,
) {
    let local = local_services().await;
    let org = OrgId::parse(org_name).unwrap();
    let plain = ingest_messages::App::build(ingest_services, &Env::system());
    let first = plain
        .ingest_body(&message_with_file(org_name, "m-1"))
        .await
        .unwrap();
    let hold = shared::invocation::HoldPoint::default();
    let tuning = ingest_messages::IngestTuning {
        hold_before_upload: Some(hold.clone()),
        ..Default::default()
    };
    let held = ingest_messages::App::build(ingest_services, &Env::system()).tuned(tuning.clone());
    let body = message_with_file(org_name, "m-2");
    let late = tokio::spawn(async move { held.ingest_body(&body).await });
    hold.reached().await;

    delete_without_purge(&local, &org, &first.contact_id).await;
    let purge = App::build(&local, &Env::system());
    let job = PurgeJob {
        left_group: None,
        org_id: org.clone(),
        contact_id: ContactId::parse(&first.contact_id).unwrap(),
    };
    purge.purge(&job, &mut whole_invocation()).await.unwrap();
    assert!(!purge_pending(&local, &org, &first.contact_id).await);
    (late, tuning, purge, job)
}

/// Whether the file of message `m-2` (the racing one) is stored under `contact_id`.
async fn late_file_under(org: &OrgId, contact_id: &str) -> bool {
    let key = format!("{}m-2/a", keys::attachment_prefix(org, contact_id));
    local_services()
        .await
        .blobs()
        .size(&key)
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn a_file_uploaded_after_the_purge_by_an_ingest_that_loses_to_the_delete_goes_at_once() {
    let org_name = new_org("late-file");
    let org = OrgId::parse(&org_name).unwrap();
    let (services, _) = local::testing::services_watched("ingest-messages", &[]).await;
    let (late, tuning, _, job) = an_ingest_racing_a_purge(&org_name, &services).await;
    tuning.hold_before_upload.unwrap().release();
    let filed = late.await.unwrap().unwrap();
    assert_ne!(
        filed.contact_id,
        job.contact_id.as_str(),
        "the message found its sender's contact gone and made a new one"
    );
    assert!(
        !late_file_under(&org, job.contact_id.as_str()).await,
        "the file it uploaded under the deleted contact went when its write lost"
    );
    assert!(late_file_under(&org, &filed.contact_id).await);
}

#[tokio::test]
async fn a_file_left_by_an_ingest_that_died_after_the_purge_goes_at_the_purge_s_second_pass() {
    let org_name = new_org("late-death");
    let org = OrgId::parse(&org_name).unwrap();
    let (services, faults) = local::testing::services_watched("ingest-messages", &[]).await;
    let (late, tuning, purge, job) = an_ingest_racing_a_purge(&org_name, &services).await;
    // The ingest uploads, then dies before its write.
    faults.pause(&org_name, "TransactWriteItems");
    tuning.hold_before_upload.unwrap().release();
    until(|| faults.counts(Some(&org_name)).held).await;
    late.abort();
    assert!(faults.resume(&org_name), "held at its write when it died");
    assert!(
        late_file_under(&org, job.contact_id.as_str()).await,
        "the file outlived the purge's first pass"
    );

    // The pass queued 5 minutes on (SAFETY_NET_DELAY_SECONDS) sweeps it.
    purge.purge(&job, &mut whole_invocation()).await.unwrap();
    assert!(!late_file_under(&org, job.contact_id.as_str()).await);
}

/// Waits until `done`: a state the test itself drives the function into (held at a pause
/// point), checked every 10 ms for at most 6 s.
async fn until(done: impl Fn() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("never got there");
}

#[test]
fn the_purge_s_second_pass_comes_after_any_ingest_that_read_the_contact_has_ended() {
    let template = local::template::Template::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"),
    )
    .unwrap();
    let ingest = template
        .functions
        .iter()
        .find(|f| f.binary == "ingest-messages")
        .expect("template.yaml has ingest-messages");
    assert!(
        i64::from(ingest.timeout_s) < i64::from(delete_contact::SAFETY_NET_DELAY_SECONDS),
        "an ingest may upload until its timeout ({} s); the sweep comes {} s after the delete",
        ingest.timeout_s,
        delete_contact::SAFETY_NET_DELAY_SECONDS
    );
}

/// Puts `(PK, SK)` back as a bare item, as a purge that died before removing it left it.
async fn left_behind(pk: String, sk: String) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let config = shared::config::Config::from_env().unwrap();
    aws_sdk_dynamodb::Client::new(&config.aws().await)
        .put_item()
        .table_name(&config.table_name)
        .item("PK", AttributeValue::S(pk))
        .item("SK", AttributeValue::S(sk))
        .item("entity", AttributeValue::S("left_behind".into()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_returning_sender_waits_for_the_purge_which_never_takes_its_new_conversation() {
    let local = local_services().await;
    let org_name = new_org("back");
    let org = OrgId::parse(&org_name).unwrap();
    let ingest = ingest_messages::App::build(&local, &Env::system());
    let message = |id: &str| {
        json!({"org_id": org_name, "channel": "webchat", "sender": {"user_id": "visitor-1"},
               "conversation": {"id": "conv-back", "status": "open"},
               "message": {"id": id, "text": "hi", "sent_at": "2026-01-01T10:00:00Z"}})
        .to_string()
    };
    let old = ingest
        .ingest_body(&message("m-1"))
        .await
        .unwrap()
        .contact_id;
    delete_without_purge(&local, &org, &old).await;

    // While the purge runs (held after it read whose the conversation is), the sender writes
    // again in the same conversation: it waits, as the conversation is still the old contact's.
    let hold = shared::invocation::HoldPoint::default();
    let holding = PurgeTuning {
        hold_after_owner_read: Some(hold.clone()),
        ..PurgeTuning::default()
    };
    let purge = App::build(&local, &Env::system()).tuned(holding.clone());
    let job = PurgeJob {
        left_group: None,
        org_id: org.clone(),
        contact_id: ContactId::parse(&old).unwrap(),
    };
    let first_pass = {
        let job = job.clone();
        tokio::spawn(async move { purge.purge(&job, &mut whole_invocation()).await })
    };
    hold.reached().await;
    let waiting = ingest.ingest_body(&message("m-2")).await;
    assert!(
        matches!(
            &waiting,
            Err(ingest_messages::IngestError::Failed(shared::DomainError::Contended(why)))
                if why.contains("still being purged")
        ),
        "the message waits for the purge (its delivery is retried): {:?}",
        waiting.as_ref().map(|i| i.contact_id.clone())
    );
    hold.release();
    first_pass.await.unwrap().unwrap();

    // The purge died after removing the conversation's owner, before its own reference to it:
    // it runs again, and reads the conversation as nobody's. Meanwhile the redelivery finds the
    // conversation free and starts it afresh for a new contact, and an agent writes a note on it.
    left_behind(keys::contact_pk(&org, &old), "CONV#conv-back".into()).await;
    left_behind(keys::audit_pk(&org), keys::purge_sk(&old)).await;
    let hold = shared::invocation::HoldPoint::default();
    let purge = App::build(&local, &Env::system()).tuned(PurgeTuning {
        hold_after_owner_read: Some(hold.clone()),
        ..PurgeTuning::default()
    });
    let second_pass = {
        let job = job.clone();
        tokio::spawn(async move { purge.purge(&job, &mut whole_invocation()).await })
    };
    hold.reached().await;
    let new = ingest
        .ingest_body(&message("m-2"))
        .await
        .unwrap()
        .contact_id;
    assert_ne!(new, old);
    let note = shared::notes::Note {
        id: "01a1fc70-0000-7000-8000-0000000000a9".into(),
        text: shared::notes::NoteText::parse("about the new conversation").unwrap(),
        author: Person {
            id: "agent".into(),
            name: "Agent".into(),
        },
        created_at: "2026-01-02T10:00:00Z".into(),
        updated_at: "2026-01-02T10:00:00Z".into(),
        updated_by: None,
        version: 1,
    };
    let about = local
        .store()
        .add_note(
            &org,
            shared::notes::NoteParent::Conversation("conv-back"),
            &note,
        )
        .await
        .unwrap();
    assert_eq!(about, new);
    hold.release();
    second_pass.await.unwrap().unwrap();

    let left: Vec<Option<String>> = local
        .store()
        .partition(&keys::conversation_pk(&org, "conv-back"))
        .await
        .unwrap()
        .into_iter()
        .map(|(_, contact)| contact)
        .collect();
    assert_eq!(
        left,
        [Some(new.clone()), Some(new.clone()), Some(new.clone())],
        "the new contact's message, note and owner are all still there"
    );
    assert!(!purge_pending(&local, &org, &old).await);
}
