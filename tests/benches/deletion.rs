//! Deleting a contact with a long history: `BENCH_MESSAGES` messages (default 10,000) and
//! `BENCH_NOTES` notes (default 1,000). Prints how long the request takes (the contact is gone
//! for every reader when it answers) and how long the background purge takes to finish.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::{Duration, Instant};

use api_tests::{Api, env_count, new_org, poll_until, raw_dynamodb};
use aws_sdk_dynamodb::types::AttributeValue;
use shared::clock::Timestamp;
use shared::ids::OrgId;
use shared::keys;
use shared::notes::{Note, NoteParent, NoteText, Person};
use shared::store::{Message, Store};

#[tokio::main]
async fn main() {
    let messages = env_count("BENCH_MESSAGES", 10_000);
    let notes = env_count("BENCH_NOTES", 1_000);
    let api = Api::new();
    let org = new_org();
    let contact = api
        .contact_from(&org, "email", "long@example.com", "conv-long")
        .await;
    let (client, table) = raw_dynamodb().await;
    let store = Store::new(client.clone(), &table);
    let org_id = OrgId::parse(&org).unwrap();
    const AT: &str = "2026-01-01T00:00:00Z";
    let sent_at = Timestamp::parse(AT).unwrap();
    let history: Vec<Message> = (0..messages)
        .map(|i| Message {
            id: format!("m-{i:06}"),
            conversation_id: "conv-long".into(),
            contact_id: contact.clone(),
            text: "a message of ordinary length, about an order".into(),
            sent_at: sent_at.clone(),
            attachments: vec![],
        })
        .collect();
    let author = Person {
        id: "agent-1".into(),
        name: "Agent".into(),
    };
    let remarks: Vec<Note> = (0..notes)
        .map(|i| Note {
            id: format!("00000000-0000-7000-8000-{i:012}"),
            text: NoteText::parse("called back about the order").unwrap(),
            author: author.clone(),
            created_at: AT.into(),
            updated_at: AT.into(),
            updated_by: None,
            version: 1,
        })
        .collect();
    let seeding = Instant::now();
    store.import_messages(&org_id, &history, AT).await.unwrap();
    let parent = NoteParent::Contact(&contact);
    store.import_notes(&org_id, parent, &remarks).await.unwrap();
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
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .select(aws_sdk_dynamodb::types::Select::Count);
        async move { query.send().await.unwrap().count }
    };
    let (every, within) = (Duration::from_millis(250), Duration::from_secs(900));
    poll_until("the purge finishing", every, within, || async {
        left(keys::conversation_pk(&org_id, "conv-long")).await == 0
            && left(keys::contact_pk(&org_id, &contact)).await == 0
    })
    .await;
    println!(
        "DELETE answered in {:.0} ms; purge of {} items finished {:.1} s after the request",
        answered.as_secs_f64() * 1000.0,
        messages + notes + 3,
        started.elapsed().as_secs_f64()
    );
}
