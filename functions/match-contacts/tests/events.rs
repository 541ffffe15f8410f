//! Handler tests: the sample match jobs in `events/match-contacts/` through the handler.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use aws_lambda_events::event::sqs::SqsEvent;
use match_contacts::App;
use serde_json::Value;
use shared::clock::Env;
use shared::serve::Build;
use shared::serve::QueueFunction;
use shared::testing::{failed_records, load_event, local_services, new_org};

#[tokio::test]
async fn jobs_for_an_org_without_contacts_succeed_and_garbage_fails_alone() {
    let local = local_services().await;
    let app = App::build(&local, &Env::system());
    let org = new_org("match");
    let mut event = load_event("match-contacts", "sqs-match-jobs");
    for record in event["Records"].as_array_mut().unwrap() {
        if let Ok(mut body) = serde_json::from_str::<Value>(record["body"].as_str().unwrap()) {
            body["org_id"] = org.clone().into();
            record["body"] = body.to_string().into();
        }
    }
    let event: SqsEvent = serde_json::from_value(event).unwrap();
    let response = app
        .handle_batch(event, shared::invocation::Deadline::longest())
        .await;
    assert_eq!(
        failed_records(&response),
        ["7b3e1c2a-1111-4a2b-9c3d-000000000003"]
    );
}
