//! The CRM connection's cost: DynamoDB requests a first message, a later message and an edit
//! make with and without a connection, and the time from a new contact's first message to
//! `validated` through the local runtime and the demo CRM (p50/p99). Run with `./scripts/bench`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails by panicking

use std::time::{Duration, Instant};

use api_tests::{Api, DemoCrm, Timings, inbound, new_org};
use serde_json::json;

const CONTACTS: usize = 200;

/// Requests of a first message, a later message and an edit of a lookup value.
async fn requests(api: &Api, crm: bool) -> [usize; 3] {
    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
    admin
        .post(
            "/attributes",
            &json!({"label": "Customer number", "type": "text", "lookup": true}),
        )
        .await
        .expect(201);
    if crm {
        let demo = DemoCrm::for_org(&org);
        let connected = admin
            .put("/crm", &json!({"lookup_url": demo.lookup_url}))
            .await
            .expect(200);
        demo.set(json!({"secrets": [connected["signing_secret"]]}))
            .await;
    }
    let first = api.inbound(&inbound(&org, "sms", "+1", "c1", "m1")).await;
    let contact = first.body["contact_id"].as_str().unwrap().to_owned();
    let later = api.inbound(&inbound(&org, "sms", "+1", "c1", "m2")).await;
    let edit = admin
        .patch(
            &format!("/contacts/{contact}"),
            &json!({"attributes": {"customer_number": "C-1"}}),
        )
        .await;
    [
        first.dynamodb_requests(),
        later.dynamodb_requests(),
        edit.dynamodb_requests(),
    ]
}

#[tokio::main]
async fn main() {
    let api = Api::new();
    let without = requests(&api, false).await;
    let with = requests(&api, true).await;
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
    let connected = admin
        .put("/crm", &json!({"lookup_url": demo.lookup_url}))
        .await
        .expect(200);
    let records: Vec<_> = (0..CONTACTS)
        .map(|n| json!({"match": format!("+351 9{n:08}"), "id": format!("R-{n}")}))
        .collect();
    demo.set(json!({"secrets": [connected["signing_secret"]], "records": records}))
        .await;
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
        loop {
            let view = admin.get(&format!("/contacts/{contact}")).await.expect(200);
            if view["validated"] == true {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never validated"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        validated.record(started.elapsed());
    }
    let (p50, p99) = (validated.percentile_ms(50.0), validated.percentile_ms(99.0));
    println!(
        "{CONTACTS} new contacts: {} p50 {p50:.1} ms, p99 {p99:.1} ms (polling the view every 5 ms)",
        validated.name
    );
}
