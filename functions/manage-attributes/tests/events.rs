//! Handler tests: the sample events in `events/manage-attributes/` run through the handler
//! against the DynamoDB endpoint `scripts/test` provides, each in an org of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::sync::Arc;

use manage_attributes::App;
use serde_json::Value;
use shared::clock::{Env, FixedClock, SequentialIds};
use shared::serve::Build;
use shared::testing::{invoke, load_event, local_services, new_org, with_caller};

struct Harness {
    app: App,
    org: String,
}

impl Harness {
    async fn new() -> Self {
        let env = Env {
            clock: Arc::new(FixedClock::at(
                time::macros::datetime!(2026-01-01 10:00 UTC),
            )),
            ids: Arc::new(SequentialIds::default()),
        };
        Self {
            app: {
                let local = local_services().await;
                App::build(&local, &env)
            },
            org: new_org("evt"),
        }
    }

    fn event(&self, name: &str, role: Option<&str>) -> Value {
        with_caller(load_event("manage-attributes", name), &self.org, role)
    }

    async fn run_event(&self, event: Value) -> (u16, Value) {
        invoke(&self.app, &event.to_string()).await
    }

    async fn run(&self, name: &str) -> (u16, Value) {
        self.run_event(self.event(name, None)).await
    }
}

#[tokio::test]
async fn the_sample_events_walk_through_the_admin_screen() {
    let h = Harness::new().await;
    let (status, settings) = h.run("get-settings").await;
    assert_eq!(
        (status, settings["plan"].clone()),
        (200, "enterprise".into())
    );

    let (status, created) = h.run("create-attribute").await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["key"], "customer_tier");
    assert_eq!(
        created["options"],
        serde_json::json!(["Bronze", "Silver", "Gold"])
    );

    let (status, patched) = h.run("patch-attribute").await;
    assert_eq!(
        (status, patched["label"].clone(), patched["enabled"].clone()),
        (200, "Loyalty tier".into(), false.into())
    );

    let (status, reordered) = h.run("reorder-attributes").await;
    assert_eq!(status, 200, "{reordered}");
    assert_eq!(reordered["items"][0]["key"], "vip");
    assert_eq!(reordered["items"][1]["key"], "customer_tier");

    let (status, list) = h.run("list-attributes").await;
    assert_eq!(status, 200);
    assert_eq!(list["items"], reordered["items"]);

    let (status, settings) = h.run("patch-settings").await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["matching_attribute"], "email_address");
    assert_eq!(settings["vip_routing_team"], "VIP desk");

    let (status, body) = h.run("delete-attribute").await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, _) = h.run("delete-attribute").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn every_write_event_is_forbidden_to_an_agent() {
    let h = Harness::new().await;
    for name in [
        "patch-settings",
        "create-attribute",
        "patch-attribute",
        "reorder-attributes",
        "delete-attribute",
    ] {
        let (status, body) = h.run_event(h.event(name, Some("agent"))).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (403, "forbidden".into()),
            "{name}"
        );
    }
    for name in ["get-settings", "list-attributes"] {
        let (status, _) = h.run_event(h.event(name, Some("agent"))).await;
        assert_eq!(status, 200, "{name}");
    }
}

#[tokio::test]
async fn events_without_verified_claims_are_unauthorized() {
    let h = Harness::new().await;
    for name in ["get-settings", "create-attribute"] {
        let mut event = h.event(name, None);
        event["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("authorizer");
        let (status, body) = h.run_event(event).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (401, "unauthorized".into()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_attribute_of_another_org_is_not_found() {
    let owner = Harness::new().await;
    assert_eq!(owner.run("create-attribute").await.0, 201);
    let stranger = Harness::new().await;
    for name in ["patch-attribute", "delete-attribute"] {
        let (status, body) = stranger.run(name).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (404, "not_found".into()),
            "{name}"
        );
    }
    let (status, list) = owner.run("list-attributes").await;
    assert_eq!(status, 200);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["key"] == "customer_tier")
    );
}
