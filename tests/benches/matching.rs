//! How long the background re-match takes after the matching attribute changes, for
//! `BENCH_CONTACTS` contacts (default 10,000) in pairs sharing a phone number.
//! Run with `./scripts/bench`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use api_tests::{Api, batch_put, env_count, new_org, poll_until, raw_dynamodb, seeded_contact};
use serde_json::json;
use shared::channel::{Channel, Network};
use shared::contacts::{Contact, Identity};
use shared::ids::OrgId;
use shared::store::contact_item;

#[tokio::main]
async fn main() {
    let count = env_count("BENCH_CONTACTS", 10_000);
    let api = Api::new();
    let org_name = new_org();
    let org = OrgId::parse(&org_name).unwrap();
    let (client, table) = raw_dynamodb().await;

    let seeding = Instant::now();
    let ids: Vec<String> = (0..count)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let items = ids.iter().enumerate().map(|(i, id)| {
        let mut contact = Contact {
            platform: BTreeMap::from([("phone".to_string(), format!("+351 9{:08}", i / 2))]),
            ..seeded_contact(id.clone(), format!("Person {i}"), Network::Whatsapp)
        };
        contact.profile.identities.push(Identity {
            channel: Channel::Whatsapp,
            network: Network::Whatsapp,
            user_id: format!("wa-{i}"),
            handle: None,
        });
        contact_item(&org, &contact).unwrap()
    });
    batch_put(&client, &table, items).await;
    println!(
        "seeded {count} contacts in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let admin = api.caller(&org_name, "admin", "team").await;
    let agent = api.caller(&org_name, "agent", "team").await;
    let started = Instant::now();
    admin
        .set_settings(&json!({"matching_attribute": "phone"}))
        .await;
    // The worker walks contacts newest first, so the oldest pair is linked last.
    let (last, partner) = (&ids[0], &ids[1]);
    let (every, within) = (Duration::from_millis(250), Duration::from_secs(900));
    poll_until("the re-match finishing", every, within, || async {
        agent.view(last).await["linked_contact_ids"] == json!([partner])
    })
    .await;
    let took = started.elapsed().as_secs_f64();
    println!(
        "re-linked {count} contacts ({} pairs) in {took:.1} s ({:.0} contacts/s)",
        count / 2,
        count as f64 / took
    );
}
