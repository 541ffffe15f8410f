//! Handler tests: the sample events in `events/crm-sync/`, against the demo CRM
//! `./scripts/test` starts, and the write-back worker's retries driven directly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use crm_sync::App;
use serde_json::{Value, json};
use shared::clock::{Env, rfc3339};
use shared::contacts::{Contact, SyncState, ValueChange, ValueSource};
use shared::ids::OrgId;
use shared::invocation::Deadline;
use shared::serve::{Build, QueueFunction};
use shared::services::Services;
use shared::testing::{OverContact, TestQueue, load_event, local_services, new_org};

fn demo_crm(org: &str) -> String {
    format!(
        "{}/t/{org}",
        std::env::var("DEMO_CRM_URL").expect("DEMO_CRM_URL is set by ./scripts/test")
    )
}

async fn tell_demo_crm(org: &str, config: Value) {
    let status = reqwest::Client::new()
        .put(format!("{}/_control", demo_crm(org)))
        .json(&config)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 204);
}

/// The function over a contact made by ingest (in conversation `conv-1`) in `org`.
async fn over_contact(local: &Services, org: &str, user: &str) -> OverContact<App> {
    let app = App::build(local, &Env::system());
    ingest_messages::over_first_contact(app, local, org, "sms", json!({"user_id": user})).await
}

/// The function, on a clock standing at `at` until the test moves it, over a contact made by
/// ingest in `org`.
async fn over_contact_at(
    org: &str,
    at: time::OffsetDateTime,
) -> (OverContact<App>, std::sync::Arc<shared::clock::FixedClock>) {
    let local = local_services().await;
    let clock = std::sync::Arc::new(shared::clock::FixedClock::at(at));
    let env = Env {
        clock: clock.clone(),
        ..Env::system()
    };
    let app = App::build(&local, &env);
    let sender = json!({"user_id": "+351977"});
    let h = ingest_messages::over_first_contact(app, &local, org, "sms", sender).await;
    (h, clock)
}

/// A sample event on the harness's org and contact, the demo CRM's address replaced by the
/// running one.
async fn run(h: &OverContact<App>, name: &str) -> (u16, Value) {
    let crm = demo_crm(&h.org);
    h.run_as(name, None, &[("http://127.0.0.1:3100/t/acme", &crm)])
        .await
}

/// The sample SQS event `name`, its body's org and contact replaced and then `patch`ed, handled
/// by the worker; the contact as stored after it.
async fn run_job(
    local: &Services,
    name: &str,
    (org, contact): (&str, &str),
    patch: impl FnOnce(&mut Value),
) -> Contact {
    let mut event = load_event("crm-sync", name);
    let mut body: Value =
        serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
    body["org_id"] = org.into();
    body["contact_id"] = contact.into();
    patch(&mut body);
    event["Records"][0]["body"] = body.to_string().into();
    let batch = App::build(local, &Env::system())
        .handle_batch(serde_json::from_value(event).unwrap(), Deadline::longest())
        .await;
    assert!(batch.batch_item_failures.is_empty(), "{name} is handled");
    let org = OrgId::parse(org).unwrap();
    shared::testing::local_store()
        .await
        .contact(&org, contact)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn the_sample_events_connect_test_look_up_rotate_and_disconnect() {
    let local = local_services().await;
    let h = over_contact(&local, &new_org("crm"), "+351900").await;

    let (status, connected) = run(&h, "put-crm").await;
    assert_eq!(status, 200, "{connected}");
    let secret = connected["signing_secret"].as_str().unwrap().to_owned();
    tell_demo_crm(
        &h.org,
        json!({"secrets": [secret], "records": [{"match": "+351900", "id": "R-1"}]}),
    )
    .await;
    let (status, read) = run(&h, "get-crm").await;
    assert_eq!(
        (status, read["secret_hint"].clone()),
        (200, connected["secret_hint"].clone())
    );
    let (status, tested) = run(&h, "test-crm").await;
    assert_eq!(
        (status, tested["ok"].clone()),
        (200, json!(true)),
        "{tested}"
    );

    let (status, pending) = run(&h, "crm-lookup").await;
    assert_eq!(
        (status, pending["crm"]["status"].clone()),
        (202, json!("pending"))
    );
    let found = run_job(&local, "sqs-crm-lookup", (&h.org, &h.contact_id), |_| {}).await;
    assert_eq!(found.crm.unwrap().record_id.as_deref(), Some("R-1"));

    let (status, rotated) = run(&h, "rotate-crm-secret").await;
    assert_eq!(status, 200);
    assert_ne!(rotated["signing_secret"], json!(secret));
    let (status, _) = run(&h, "delete-crm").await;
    assert_eq!(status, 204);
    let (status, _) = run(&h, "get-crm").await;
    assert_eq!(status, 404);
    h.assert_other_orgs_find_nothing(&["crm-lookup"]).await;
}

/// An org connected with a write-back URL the demo CRM answers with 500, and a contact with
/// an agent's change to a CRM-managed value pending.
async fn failing_write_back(local: &Services, org: &str) -> String {
    let h = over_contact(local, org, "+351901").await;
    let (status, connected) = run(&h, "put-crm").await;
    assert_eq!(status, 200);
    tell_demo_crm(
        org,
        json!({"secrets": [connected["signing_secret"]], "writeback": "status_500"}),
    )
    .await;
    let change = ValueChange {
        key: "account".into(),
        definition_id: "def-account".into(),
        value: Some("Globex".into()),
        source: ValueSource::Agent,
        sync: Some(SyncState::Pending),
    };
    // The definition itself: the worker sends values under their keys.
    let manage = shared::attributes::NewAttribute {
        key: shared::ids::AttributeKey::parse("account").unwrap(),
        label: shared::attributes::Label::parse("Account").unwrap(),
        ty: shared::attributes::CustomType::Text,
        enabled: true,
        crm_managed: true,
        lookup: false,
    };
    let org_id = OrgId::parse(org).unwrap();
    let (_, mut definitions) = local.store().org_config(&org_id).await.unwrap();
    definitions
        .value
        .create(manage, "def-account".into())
        .unwrap();
    local
        .store()
        .save_attribute_set(&org_id, &definitions, time::OffsetDateTime::now_utc(), None)
        .await
        .unwrap();
    local
        .store()
        .update_values(
            &org_id,
            &h.contact_id,
            &[change],
            None,
            "2026-01-01T10:00:00Z",
            (&[], &[]),
        )
        .await
        .unwrap()
        .unwrap();
    h.contact_id
}

/// [`failing_write_back`] in a new org, with the worker as deployed (its calls checked against
/// its policy) sending its retries to a queue of the tests' own.
struct FailingWriteBack {
    local: Services,
    worker: Services,
    org: String,
    contact: String,
    /// When its first try is made.
    now: String,
}

impl FailingWriteBack {
    async fn new() -> Self {
        let local = local_services().await;
        let queue = TestQueue::new("crm-handler-tests").await;
        let worker = local::testing::services_as("crm-worker", &[(queue.url(), "CrmQueue")]).await;
        let org = new_org("wb");
        let contact = failing_write_back(&local, &org).await;
        let now = rfc3339(time::OffsetDateTime::now_utc());
        Self {
            local,
            worker,
            org,
            contact,
            now,
        }
    }
}

#[tokio::test]
async fn a_failing_write_back_is_queued_again_until_a_day_has_passed() {
    let FailingWriteBack {
        org, contact, now, ..
    } = FailingWriteBack::new().await;
    let queue = TestQueue::new("crm-handler-tests").await;
    let (worker, sends) =
        local::testing::services_watched("crm-worker", &[(queue.url(), "CrmQueue")]).await;
    sends.watch_sends(&org);

    for attempt in [0, 1, 5, 6] {
        let still = run_job(&worker, "sqs-crm-writeback", (&org, &contact), |b| {
            b["first_tried_at"] = now.clone().into();
            b["attempt"] = attempt.into();
        })
        .await;
        assert_eq!(
            still.sync.get("def-account"),
            Some(&SyncState::Pending),
            "handled: retried later"
        );
        let sent = sends.sent(&org);
        let retry = sent.last().expect("a retry is queued");
        assert_eq!(retry.queue_url, queue.url(), "on the CRM queue");
        assert_eq!(retry.body["type"], "write_back");
        assert_eq!(retry.body["contact_id"], contact.as_str());
        assert_eq!(
            retry.body["webhook_id"], "01a1fc70-0000-7000-8000-0000000000b1",
            "the job keeps its id, so the CRM sees the retry as the same message"
        );
        assert_eq!(retry.body["first_tried_at"], now.as_str());
        assert_eq!(retry.body["attempt"], attempt + 1);
        let doubling = (30_u64 << attempt.min(5)).min(900);
        assert_eq!(
            retry.delay_seconds, doubling,
            "30 s, doubling, at most SQS's 15 minutes"
        );
    }
    assert_eq!(sends.sent(&org).len(), 4, "one retry a failure");

    // A day after the first try, the next failure gives up: the value is `failed`.
    let failed = run_job(&worker, "sqs-crm-writeback", (&org, &contact), |_| {}).await;
    assert_eq!(failed.sync.get("def-account"), Some(&SyncState::Failed));
    assert_eq!(
        failed.values.get("def-account").map(String::as_str),
        Some("Globex")
    );
    assert_eq!(sends.sent(&org).len(), 4, "and queues nothing more");
}

/// The calls the demo CRM received for `org`, oldest first.
async fn demo_calls(org: &str) -> Vec<Value> {
    let calls: Value = reqwest::Client::new()
        .get(format!("{}/_calls", demo_crm(org)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    calls["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_write_back_retry_repeats_its_webhook_id_only_with_the_same_body() {
    let FailingWriteBack {
        local,
        worker,
        org,
        contact,
        now,
    } = FailingWriteBack::new().await;
    let first_tried = |b: &mut Value| b["first_tried_at"] = now.clone().into();
    for _ in 0..2 {
        run_job(&worker, "sqs-crm-writeback", (&org, &contact), first_tried).await;
    }
    // The first try may have reached the CRM before it failed; meanwhile an agent edits again.
    let edit = ValueChange {
        key: "account".into(),
        definition_id: "def-account".into(),
        value: Some("Initech".into()),
        source: ValueSource::Agent,
        sync: Some(SyncState::Pending),
    };
    let org_id = OrgId::parse(&org).unwrap();
    local
        .store()
        .update_values(&org_id, &contact, &[edit], None, &now, (&[], &[]))
        .await
        .unwrap()
        .unwrap();
    run_job(&worker, "sqs-crm-writeback", (&org, &contact), first_tried).await;

    let calls = demo_calls(&org).await;
    let sent: Vec<(&str, &Value)> = calls
        .iter()
        .filter(|c| c["body"]["type"] == "contact.updated")
        .map(|c| {
            (
                c["webhook_id"].as_str().unwrap(),
                &c["body"]["attributes"]["account"],
            )
        })
        .collect();
    assert_eq!(sent.len(), 3);
    assert_eq!(
        sent[0], sent[1],
        "a retry of the same body is the same message"
    );
    assert_eq!(sent[2].1, "Initech");
    assert_ne!(sent[2].0, sent[0].0, "another body never reuses the id");
    assert!(
        sent.iter()
            .all(|(id, _)| id.starts_with("01a1fc70-0000-7000-8000-0000000000b1_")),
        "all of the one job"
    );
}

#[tokio::test]
async fn after_a_rotation_calls_carry_both_signatures_for_exactly_a_day() {
    let org = new_org("rot");
    let (h, clock) = over_contact_at(&org, time::OffsetDateTime::now_utc()).await;
    let (status, _) = run(&h, "put-crm").await;
    assert_eq!(status, 200);
    let (status, _) = run(&h, "rotate-crm-secret").await;
    assert_eq!(status, 200);
    let signatures_of_a_test = || async {
        run(&h, "test-crm").await;
        demo_calls(&org).await.last().unwrap()["signatures"].clone()
    };
    assert_eq!(
        signatures_of_a_test().await,
        2,
        "the new and the old secret"
    );
    clock.advance(time::Duration::hours(24) - time::Duration::seconds(1));
    assert_eq!(
        signatures_of_a_test().await,
        2,
        "a second before the day ends"
    );
    clock.advance(time::Duration::seconds(1));
    assert_eq!(
        signatures_of_a_test().await,
        1,
        "the old secret is retired at the day's end"
    );
}

#[tokio::test]
async fn an_org_may_test_its_connection_ten_times_a_minute() {
    let org = new_org("tests");
    // A minute's start, so the ten tests and the refusal fall in one window whatever the time.
    let now = time::OffsetDateTime::now_utc();
    let window_start = now - time::Duration::seconds(now.unix_timestamp().rem_euclid(60));
    let (h, clock) = over_contact_at(&org, window_start).await;
    let (_, connected) = run(&h, "put-crm").await;
    tell_demo_crm(&org, json!({"secrets": [connected["signing_secret"]]})).await;

    for n in 1..=crm_sync::CRM_TESTS.per_window {
        let (status, tested) = run(&h, "test-crm").await;
        assert_eq!(
            (status, tested["ok"].clone()),
            (200, json!(true)),
            "test {n}"
        );
    }
    clock.advance(time::Duration::seconds(45));
    let (status, refused) = run(&h, "test-crm").await;
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["error"]["code"], "rate_limited");
    assert_eq!(
        refused["error"]["message"],
        "the CRM connection was tested too often; try again in 15 s"
    );
    assert_eq!(
        demo_calls(&org).await.len(),
        10,
        "the refused test called nobody"
    );

    clock.advance(time::Duration::seconds(15));
    let (status, tested) = run(&h, "test-crm").await;
    assert_eq!(
        (status, tested["ok"].clone()),
        (200, json!(true)),
        "a new minute"
    );
}
