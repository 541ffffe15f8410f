//! How soon a committed change is on the bus: the time from a `PATCH /contacts/{id}` answer to
//! its `contact.updated` showing in `GET /_local/events` (p50/p99), through the table's stream,
//! the relay, moto's EventBridge and the local tap queue. Run with `./scripts/bench --bench
//! events`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails by panicking

use std::time::{Duration, Instant};

use api_tests::{Timings, fresh_as, poll_until};
use serde_json::json;

const CHANGES: usize = 200;

#[tokio::main]
async fn main() {
    let (api, org, admin) = fresh_as("admin", "business").await;
    admin.define_text("Order number").await;
    let contact = api.contact_from(&org, "whatsapp", "+1", "c1").await;
    api.events_when(&org, "conversation.started", 1).await;
    let path = format!("/contacts/{contact}");
    let mut told = Timings::new("change committed → event received");
    for n in 0..CHANGES {
        let edit = json!({"attributes": {"order_number": format!("A-{n}")}});
        admin.patch(&path, &edit).await.expect(200);
        let committed = Instant::now();
        let (every, within) = (Duration::from_millis(5), Duration::from_secs(30));
        poll_until("the change being published", every, within, || async {
            api.events(&org, Some("contact.updated")).await.len() > n
        })
        .await;
        told.record(committed.elapsed());
    }
    println!(
        "{CHANGES} edits: {} (polling GET /_local/events every 5 ms)",
        told.summary()
    );
}
