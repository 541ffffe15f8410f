//! Handler tests: the sample events in `events/toggle-vip/` over a contact made by ingest.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use serde_json::{Value, json};
use shared::clock::Env;
use shared::serve::Build;
use shared::testing::{invoke, load_event, local_services, new_org, with_caller};
use toggle_vip::App;

async fn run(app: &App, org: &str, contact: &str, name: &str, role: Option<&str>) -> (u16, Value) {
    let text = with_caller(load_event("toggle-vip", name), org, role)
        .to_string()
        .replace("01a1fc52-0000-7000-8000-000000000001", contact);
    invoke(app, &text).await
}

#[tokio::test]
async fn the_sample_events_designate_and_undesignate() {
    let local = local_services().await;
    let org = new_org("evt");
    let sender = json!({"user_id": "42", "name": "Ana"});
    let contact = ingest_messages::App::first_contact(&local, &org, "x_dm", sender)
        .await
        .unwrap();
    let app = App::build(&local, &Env::system());

    let (status, view) = run(&app, &org, &contact, "designate-vip", None).await;
    assert_eq!((status, view["vip"].clone()), (200, json!(true)));
    let (status, view) = run(&app, &org, &contact, "undesignate-vip", None).await;
    assert_eq!((status, view["vip"].clone()), (200, json!(false)));
    let (status, _) = run(&app, &new_org("evt"), &contact, "designate-vip", None).await;
    assert_eq!(status, 404, "another org's contact");
}
