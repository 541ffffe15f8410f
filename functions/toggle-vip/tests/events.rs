//! Handler tests: the sample events in `events/toggle-vip/` over a contact made by ingest.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use serde_json::json;
use shared::clock::Env;
use shared::serve::Build;
use shared::testing::{local_services, new_org};
use toggle_vip::App;

#[tokio::test]
async fn the_sample_events_designate_and_undesignate() {
    let local = local_services().await;
    let sender = json!({"user_id": "42", "name": "Ana"});
    let app = App::build(&local, &Env::system());
    let h = ingest_messages::over_first_contact(app, &local, &new_org("evt"), "x_dm", sender).await;

    let (status, view) = h.run("designate-vip").await;
    assert_eq!((status, view["vip"].clone()), (200, json!(true)));
    let (status, view) = h.run("undesignate-vip").await;
    assert_eq!((status, view["vip"].clone()), (200, json!(false)));
    h.assert_other_orgs_find_nothing(&["designate-vip", "undesignate-vip"])
        .await;
}
