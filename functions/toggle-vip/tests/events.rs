//! Handler tests: the sample events in `events/toggle-vip/` over a contact made by ingest.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use serde_json::json;
use shared::clock::Env;
use shared::serve::Build;
use shared::testing::{OverContact, local_services, new_org};
use toggle_vip::App;

#[tokio::test]
async fn the_sample_events_designate_and_undesignate() {
    let local = local_services().await;
    let org = new_org("evt");
    let sender = json!({"user_id": "42", "name": "Ana"});
    let contact_id = ingest_messages::App::first_contact(&local, &org, "x_dm", sender)
        .await
        .unwrap();
    let h = OverContact {
        app: App::build(&local, &Env::system()),
        org,
        contact_id,
    };

    let (status, view) = h.run("designate-vip").await;
    assert_eq!((status, view["vip"].clone()), (200, json!(true)));
    let (status, view) = h.run("undesignate-vip").await;
    assert_eq!((status, view["vip"].clone()), (200, json!(false)));
    let stranger = OverContact {
        org: new_org("evt"),
        ..h
    };
    let (status, _) = stranger.run("designate-vip").await;
    assert_eq!(status, 404, "another org's contact");
}
