//! Deleting a contact with a long history: `BENCH_MESSAGES` messages (default 10,000) and
//! `BENCH_NOTES` notes (default 1,000). Prints how long the request takes (the contact is gone
//! for every reader when it answers) and how long the background purge takes to finish.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::HashMap;
use std::time::{Duration, Instant};

use api_tests::{Api, batch_put, env_count, new_org, poll_until, raw_dynamodb};
use aws_sdk_dynamodb::types::AttributeValue;

#[tokio::main]
async fn main() {
    let messages = env_count("BENCH_MESSAGES", 10_000);
    let notes = env_count("BENCH_NOTES", 1_000);
    let api = Api::new();
    let org = new_org();
    let contact = api
        .contact_from(&org, "email", "long@example.com", "conv-long", "m-first")
        .await;
    let (client, table) = raw_dynamodb().await;
    let s = |v: String| AttributeValue::S(v);
    let mut items = Vec::with_capacity(messages + notes);
    for i in 0..messages {
        items.push(HashMap::from([
            ("PK".to_string(), s(format!("ORG#{org}#CONV#conv-long"))),
            (
                "SK".to_string(),
                s(format!("MSG#2026-01-01T00:00:00Z#m-{i:06}")),
            ),
            ("entity".to_string(), s("message".into())),
            ("id".to_string(), s(format!("m-{i:06}"))),
            ("conversation_id".to_string(), s("conv-long".into())),
            ("contact_id".to_string(), s(contact.clone())),
            (
                "text".to_string(),
                s("a message of ordinary length, about an order".into()),
            ),
            ("sent_at".to_string(), s("2026-01-01T00:00:00Z".into())),
            ("attachments".to_string(), AttributeValue::L(vec![])),
            ("created_at".to_string(), s("2026-01-01T00:00:00Z".into())),
        ]));
    }
    for i in 0..notes {
        items.push(HashMap::from([
            ("PK".to_string(), s(format!("ORG#{org}#C#{contact}"))),
            (
                "SK".to_string(),
                s(format!("NOTE#00000000-0000-7000-8000-{i:012}")),
            ),
            ("entity".to_string(), s("contact_note".into())),
        ]));
    }
    let seeding = Instant::now();
    batch_put(&client, &table, items).await;
    println!(
        "seeded {messages} messages and {notes} notes in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let admin = api.caller(&org, "admin", "team").await;
    let started = Instant::now();
    let reply = admin.delete(&format!("/contacts/{contact}")).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    let answered = started.elapsed();
    let left = |pk: String| {
        let query = client
            .query()
            .table_name(&table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(pk))
            .select(aws_sdk_dynamodb::types::Select::Count);
        async move { query.send().await.unwrap().count }
    };
    let (every, within) = (Duration::from_millis(250), Duration::from_secs(900));
    poll_until("the purge finishing", every, within, || async {
        left(format!("ORG#{org}#CONV#conv-long")).await == 0
            && left(format!("ORG#{org}#C#{contact}")).await == 0
    })
    .await;
    println!(
        "DELETE answered in {:.0} ms; purge of {} items finished {:.1} s after the request",
        answered.as_secs_f64() * 1000.0,
        messages + notes + 3,
        started.elapsed().as_secs_f64()
    );
}
