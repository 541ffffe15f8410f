//! How long the background re-match takes after the matching attribute changes, for
//! `BENCH_CONTACTS` contacts (default 10,000) in pairs sharing a phone number.
//! Run with `./scripts/bench`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use api_tests::{Api, batch_put, new_org, raw_dynamodb};
use serde_json::json;
use shared::channel::{Channel, Network};
use shared::contacts::{Contact, Identity};
use shared::ids::OrgId;
use shared::store::contact_item;

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("BENCH_CONTACTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let api = Api::new();
    let org_name = new_org();
    let org = OrgId::parse(&org_name).unwrap();
    let (client, table) = raw_dynamodb().await;

    let seeding = Instant::now();
    let ids: Vec<String> = (0..count)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let items = ids.iter().enumerate().map(|(i, id)| {
        let contact = Contact {
            id: id.clone(),
            name: format!("Person {i}"),
            handle: None,
            avatar_url: None,
            profile_url: None,
            network: Network::Whatsapp,
            identities: vec![Identity {
                channel: Channel::Whatsapp,
                network: Network::Whatsapp,
                user_id: format!("wa-{i}"),
                handle: None,
            }],
            vip: false,
            platform: BTreeMap::from([("phone".to_string(), format!("+351 9{:08}", i / 2))]),
            values: BTreeMap::new(),
            linked: Vec::new(),
            match_hash: None,
            match_generation: 0,
            crm: None,
            sources: Default::default(),
            sync: Default::default(),
            version: 1,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        };
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
        .patch("/settings", &json!({"matching_attribute": "phone"}))
        .await
        .expect(200);
    // The worker walks contacts newest first, so the oldest pair is linked last.
    let (last, partner) = (&ids[0], &ids[1]);
    loop {
        let view = agent.get(&format!("/contacts/{last}")).await.expect(200);
        if view["linked_contact_ids"] == json!([partner]) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "re-match did not finish in 15 min"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "re-linked {count} contacts ({} pairs) in {took:.1} s ({:.0} contacts/s)",
        count / 2,
        count as f64 / took
    );
}
