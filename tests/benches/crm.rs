//! The CRM connection's cost: DynamoDB requests a first message, a later message and an edit
//! make with and without a connection, and the time from a new contact's first message to
//! `validated` through the local runtime and the demo CRM (p50/p99). Run with `./scripts/bench`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails by panicking

use std::time::{Duration, Instant};

use api_tests::{
    Api, DemoCrm, Timings, connect_demo_crm, inbound, message_and_edit_requests, new_org,
    poll_until,
};
use serde_json::json;

const CONTACTS: usize = 200;

#[tokio::main]
async fn main() {
    let api = Api::new();
    let without = message_and_edit_requests(&api, &new_org(), false).await;
    let with = message_and_edit_requests(&api, &new_org(), true).await;
    println!("DynamoDB requests        first message  later message  edit");
    println!(
        "without a CRM            {:>13}  {:>13}  {:>4}",
        without[0], without[1], without[2]
    );
    println!(
        "with a CRM connected     {:>13}  {:>13}  {:>4}",
        with[0], with[1], with[2]
    );

    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
    admin
        .patch("/attributes/phone", &json!({"lookup": true}))
        .await
        .expect(200);
    let demo = DemoCrm::for_org(&org);
    let records: Vec<_> = (0..CONTACTS)
        .map(|n| json!({"match": format!("+351 9{n:08}"), "id": format!("R-{n}")}))
        .collect();
    connect_demo_crm(&admin, &demo, json!(records), "answer").await;
    let mut validated = Timings::new("first message → validated");
    for n in 0..CONTACTS {
        let mut message = inbound(
            &org,
            "whatsapp",
            &format!("+3519{n:08}"),
            &format!("c{n}"),
            "m",
        );
        message["sender"]["attributes"] = json!({"phone": format!("+351 9{n:08}")});
        let started = Instant::now();
        let contact = api.contact_of(&message).await;
        let (every, within) = (Duration::from_millis(5), Duration::from_secs(30));
        poll_until(
            "the lookup validating the contact",
            every,
            within,
            || async { admin.view(&contact).await["validated"] == true },
        )
        .await;
        validated.record(started.elapsed());
    }
    println!(
        "{CONTACTS} new contacts: {} (polling the view every 5 ms)",
        validated.summary()
    );
}
