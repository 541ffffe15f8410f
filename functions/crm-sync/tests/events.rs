//! Handler tests: the sample events in `events/crm-sync/`, against the demo CRM
//! `./scripts/test` starts, and the write-back worker's retries driven directly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use aws_lambda_events::event::sqs::SqsEvent;
use crm_sync::App;
use serde_json::{Value, json};
use shared::clock::{Env, rfc3339};
use shared::contacts::{SyncState, ValueChange, ValueSource};
use shared::ids::OrgId;
use shared::serve::{Build, QueueFunction};
use shared::services::{Endpoints, Services};
use shared::testing::{TestQueue, invoke, load_event, local_services, new_org, with_caller};

const SAMPLE_CONTACT: &str = "01a1fc52-0000-7000-8000-000000000001";

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

/// A sample event for `org`, the sample contact id replaced by `contact` and the demo CRM's
/// address by the running one.
async fn run(app: &App, org: &str, name: &str, contact: &str) -> (u16, Value) {
    let text = with_caller(load_event("crm-sync", name), org, None)
        .to_string()
        .replace(SAMPLE_CONTACT, contact)
        .replace("http://127.0.0.1:3100/t/acme", &demo_crm(org));
    invoke(app, &text).await
}

/// A contact made by ingest, in conversation `conv-1`.
async fn contact(local: &Services, org: &str, user: &str) -> String {
    ingest_messages::App::first_contact(local, org, "sms", json!({"user_id": user}))
        .await
        .unwrap()
}

/// The sample SQS event with its body's org and contact replaced.
fn queue_event(name: &str, org: &str, contact: &str, patch: impl FnOnce(&mut Value)) -> SqsEvent {
    let mut event = load_event("crm-sync", name);
    let mut body: Value =
        serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
    body["org_id"] = org.into();
    body["contact_id"] = contact.into();
    patch(&mut body);
    event["Records"][0]["body"] = body.to_string().into();
    serde_json::from_value(event).unwrap()
}

#[tokio::test]
async fn the_sample_events_connect_test_look_up_rotate_and_disconnect() {
    let local = local_services().await;
    let org = new_org("crm");
    let app = App::build(&local, &Env::system());
    let contact = contact(&local, &org, "+351900").await;

    let (status, connected) = run(&app, &org, "put-crm", &contact).await;
    assert_eq!(status, 200, "{connected}");
    let secret = connected["signing_secret"].as_str().unwrap().to_owned();
    tell_demo_crm(
        &org,
        json!({"secrets": [secret], "records": [{"match": "+351900", "id": "R-1"}]}),
    )
    .await;
    let (status, read) = run(&app, &org, "get-crm", &contact).await;
    assert_eq!(
        (status, read["secret_hint"].clone()),
        (200, connected["secret_hint"].clone())
    );
    let (status, tested) = run(&app, &org, "test-crm", &contact).await;
    assert_eq!(
        (status, tested["ok"].clone()),
        (200, json!(true)),
        "{tested}"
    );

    let (status, pending) = run(&app, &org, "crm-lookup", &contact).await;
    assert_eq!(
        (status, pending["crm"]["status"].clone()),
        (202, json!("pending"))
    );
    let batch = app
        .handle_batch(
            queue_event("sqs-crm-lookup", &org, &contact, |_| {}),
            shared::invocation::Deadline::longest(),
        )
        .await;
    assert!(batch.batch_item_failures.is_empty());
    let found = local
        .store()
        .contact(&OrgId::parse(&org).unwrap(), &contact)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.crm.unwrap().record_id.as_deref(), Some("R-1"));

    let (status, rotated) = run(&app, &org, "rotate-crm-secret", &contact).await;
    assert_eq!(status, 200);
    assert_ne!(rotated["signing_secret"], json!(secret));
    let (status, _) = run(&app, &org, "delete-crm", &contact).await;
    assert_eq!(status, 204);
    let (status, _) = run(&app, &org, "get-crm", &contact).await;
    assert_eq!(status, 404);
    let (status, _) = run(&app, &new_org("crm"), "crm-lookup", &contact).await;
    assert_eq!(status, 404, "another org's contact");
}

/// An org connected with a write-back URL the demo CRM answers with 500, and a contact with
/// an agent's change to a CRM-managed value pending.
async fn failing_write_back(local: &Services, org: &str) -> String {
    let app = App::build(local, &Env::system());
    let contact = contact(local, org, "+351901").await;
    let (status, connected) = run(&app, org, "put-crm", &contact).await;
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
            &contact,
            &[change],
            None,
            "2026-01-01T10:00:00Z",
            &[],
        )
        .await
        .unwrap()
        .unwrap();
    contact
}

#[tokio::test]
async fn a_failing_write_back_is_queued_again_until_a_day_has_passed() {
    let services = local_services().await;
    // Retries go to a queue of their own: this test is the worker.
    let local = services.at(Endpoints {
        crm_queue_url: TestQueue::new("crm-handler-tests").await.url().to_owned(),
        ..services.endpoints().clone()
    });
    let org = new_org("wb");
    let contact = failing_write_back(&local, &org).await;
    let app = App::build(&local, &Env::system());
    let now = rfc3339(time::OffsetDateTime::now_utc());

    let batch = app
        .handle_batch(
            queue_event("sqs-crm-writeback", &org, &contact, |b| {
                b["first_tried_at"] = now.clone().into();
            }),
            shared::invocation::Deadline::longest(),
        )
        .await;
    assert!(
        batch.batch_item_failures.is_empty(),
        "handled: retried later"
    );
    let sqs = aws_sdk_sqs::Client::new(&shared::config::Config::from_env().unwrap().aws().await);
    let url = sqs
        .get_queue_url()
        .queue_name("crm-handler-tests")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    // The retry is delayed 30 s; read it without waiting by looking at the queue's counts.
    let counts = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed: usize = counts
        .attributes
        .unwrap()
        .values()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(delayed >= 1, "a delayed retry is queued");
    let org_id = OrgId::parse(&org).unwrap();
    let still = local
        .store()
        .contact(&org_id, &contact)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.sync.get("def-account"), Some(&SyncState::Pending));

    // A day after the first try, the next failure gives up: the value is `failed`.
    let batch = app
        .handle_batch(
            queue_event("sqs-crm-writeback", &org, &contact, |_| {}),
            shared::invocation::Deadline::longest(),
        )
        .await;
    assert!(batch.batch_item_failures.is_empty());
    let failed = local
        .store()
        .contact(&org_id, &contact)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.sync.get("def-account"), Some(&SyncState::Failed));
    assert_eq!(
        failed.values.get("def-account").map(String::as_str),
        Some("Globex")
    );
}
