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
use shared::testing::{BusTap, SAMPLE_CONTACT, TestQueue, load_event, local_services, new_org};

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

/// The sample batch in `org` through a relay whose bus refuses everything, at `at`, parking on
/// `parking`: the records it reports failed.
async fn refused_at(
    at: time::OffsetDateTime,
    parking: shared::queue::Queue,
    org: &str,
) -> Vec<Option<String>> {
    let sdk = Config::from_env().unwrap().aws().await;
    let refusing = EventBus::new(aws_sdk_eventbridge::Client::new(&sdk), "no-such-bus");
    let env = Env {
        clock: std::sync::Arc::new(shared::clock::FixedClock::at(at)),
        ..Env::system()
    };
    let response = App::new(refusing, parking, env)
        .handle_stream(sample(org), Deadline::longest())
        .await;
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn a_refused_record_stops_the_batch_and_its_retry_repeats_the_same_ids() {
    let org = new_org("pub");
    let tap = BusTap::for_org(&org).await;
    // Half a minute after the records were made: far from being parked.
    let at = time::macros::datetime!(2026-01-01 10:01:30 UTC);
    let failed = refused_at(at, local_services().await.parked_events(), &org).await;
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

#[tokio::test]
async fn a_record_the_bus_refuses_for_15_minutes_is_parked_and_redriven_with_its_ids() {
    let org = new_org("park");
    let tap = BusTap::for_org(&org).await;
    let local = local_services().await;
    let parking = TestQueue::new(&format!("parked-{org}")).await;
    // The relay's own clients, its policy checked, with a queue of this test's as the parking.
    let relay = local::testing::services_as(
        "publish-events",
        &[(parking.url(), "EventsDeadLetterQueue")],
    )
    .await;
    // The sample's records were made at 10:00:00 and 10:01:00; it is 10:15:30 now.
    let at = time::macros::datetime!(2026-01-01 10:15:30 UTC);
    let failed = refused_at(at, relay.parked_events(), &org).await;
    assert_eq!(
        failed,
        [Some("111000000000000000002".to_owned())],
        "the record refused for over 15 minutes is parked; the younger one is tried again"
    );

    let redriven = publish_events::redrive(&parking.queue(), &local.bus())
        .await
        .unwrap();
    assert_eq!(
        redriven,
        publish_events::Redriven {
            published: 1,
            left: 0
        }
    );
    let events = tap.received(1).await;
    assert_eq!(
        (events[0]["id"].clone(), events[0]["type"].clone()),
        (
            json!("01a1fc52-0000-7000-8000-0000000000e2"),
            json!("contact.updated")
        ),
        "published as the relay would have, id and all"
    );
    assert!(
        parking.queue().receive().await.unwrap().is_empty(),
        "nothing left parked"
    );

    // The bus is back: Lambda sends the batch again from the younger record.
    let mut rest = sample(&org);
    rest.records.remove(0);
    let app = App::build(&local, &Env::system());
    let response = app.handle_stream(rest, Deadline::longest()).await;
    assert!(response.batch_item_failures.is_empty());
    let events = tap.received(1).await;
    assert_eq!(events[0]["type"], "contact.deleted");
}
