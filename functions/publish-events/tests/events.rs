//! Handler tests: the sample stream records in `events/publish-events/` through the relay, onto
//! the local bus, and what a bus that refuses them does to the batch.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use publish_events::App;
use serde_json::json;
use shared::bus::EventBus;
use shared::clock::Env;
use shared::config::Config;
use shared::invocation::Deadline;
use shared::serve::{Build, StreamFunction};
use shared::testing::{BusTap, SAMPLE_CONTACT, load_event, local_services, new_org};

/// The sample batch, moved to `org`.
fn sample(org: &str) -> StreamEvent {
    let text = load_event("publish-events", "profile-changes")
        .to_string()
        .replace("acme", org);
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn the_sample_records_put_what_they_tell_on_the_bus_in_order() {
    let org = new_org("pub");
    let tap = BusTap::for_org(&org).await;
    let app = App::build(&local_services().await, &Env::system());
    let response = app.handle_stream(sample(&org), Deadline::longest()).await;
    assert!(response.batch_item_failures.is_empty());
    let events = tap.received(2).await;
    assert_eq!(
        events[0],
        json!({"id": "01a1fc52-0000-7000-8000-0000000000e2", "type": "contact.updated",
               "org_id": org, "time": "2026-01-01T10:00:00Z",
               "data": {"contact_id": SAMPLE_CONTACT, "changed": ["tier"], "source": "automation"}}),
        "only what the write added to the outbox"
    );
    assert_eq!(events[1]["type"], "contact.deleted");
    assert_eq!(events[1]["data"], json!({"contact_id": SAMPLE_CONTACT}));
    assert_eq!(
        events[1]["time"], "2026-01-01T10:01:00Z",
        "dated by the removal"
    );
    assert_eq!(events.len(), 2);
}

#[tokio::test]
async fn a_refused_record_stops_the_batch_and_its_retry_repeats_the_same_ids() {
    let org = new_org("pub");
    let tap = BusTap::for_org(&org).await;
    let sdk = Config::from_env().unwrap().aws().await;
    let failing = App::new(
        EventBus::new(aws_sdk_eventbridge::Client::new(&sdk), "no-such-bus"),
        Env::system(),
    );
    let response = failing
        .handle_stream(sample(&org), Deadline::longest())
        .await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(
        failed,
        [Some("111000000000000000001".to_owned())],
        "the first record fails and nothing after it is tried"
    );

    // Lambda hands the batch again from the failed record; a retry after a timeout repeats
    // it once more. Consumers see the same ids and drop the repeats.
    let app = App::build(&local_services().await, &Env::system());
    for _ in 0..2 {
        let response = app.handle_stream(sample(&org), Deadline::longest()).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let events = tap.received(4).await;
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4);
    assert_eq!((ids[0], ids[1]), (ids[2], ids[3]));
    assert_eq!(ids[0], "01a1fc52-0000-7000-8000-0000000000e2");
}
