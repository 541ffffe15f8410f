//! p50/p99 of the contact view and of an edit through the local runtime, against a raw GetItem
//! and UpdateItem on the same endpoint in the same run. Run with `./scripts/bench`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Timings, fresh_as, raw_dynamodb};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

const ROUNDS: usize = 300;

#[tokio::main]
async fn main() {
    let (api, org, admin) = fresh_as("admin", "business").await;
    admin.define_text("Customer ID").await;
    let contact = api.contact_from(&org, "x_dm", "bench", "c").await;
    let agent = api.caller(&org, "agent", "business").await;
    let path = format!("/contacts/{contact}");
    let (client, table) = raw_dynamodb().await;
    let profile = |pk: String| {
        [
            ("PK".to_string(), AttributeValue::S(pk)),
            ("SK".to_string(), AttributeValue::S("PROFILE".into())),
        ]
    };
    let pk = format!("ORG#{org}#C#{contact}");
    let scratch = format!("ORG#{org}#BENCH");

    let mut view = Timings::new("GET /contacts/{id}");
    let mut edit = Timings::new("PATCH /contacts/{id}");
    let mut get_item = Timings::new("raw GetItem");
    let mut update_item = Timings::new("raw UpdateItem");
    for round in 0..ROUNDS + 20 {
        let measured = round >= 20;
        view.time(measured, agent.get(&path)).await.expect(200);
        let values = json!({"customer_id": format!("C-{round}")});
        edit.time(measured, agent.edit(&contact, values))
            .await
            .expect(200);
        let read = client
            .get_item()
            .table_name(&table)
            .set_key(Some(profile(pk.clone()).into_iter().collect()))
            .consistent_read(true)
            .send();
        get_item.time(measured, read).await.unwrap();
        let write = client
            .update_item()
            .table_name(&table)
            .set_key(Some(profile(scratch.clone()).into_iter().collect()))
            .update_expression("SET #v = :v")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":v", AttributeValue::S(format!("C-{round}")))
            .send();
        update_item.time(measured, write).await.unwrap();
    }
    println!(
        "{ROUNDS} rounds against {}",
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_default()
    );
    println!("{:<24} {:>9} {:>9}", "operation", "p50 ms", "p99 ms");
    let mut rows = Vec::new();
    for t in [&mut view, &mut get_item, &mut edit, &mut update_item] {
        let (p50, p99) = t.p50_p99();
        println!("{:<24} {:>9.2} {:>9.2}", t.name, p50, p99);
        rows.push((p50, p99));
    }
    println!(
        "view / GetItem:    p50 x{:.2}, p99 x{:.2}",
        rows[0].0 / rows[1].0,
        rows[0].1 / rows[1].1
    );
    println!(
        "edit / UpdateItem: p50 x{:.2}, p99 x{:.2}",
        rows[2].0 / rows[3].0,
        rows[2].1 / rows[3].1
    );
}
