//! Handler tests: the sample events in `events/edit-contact/` through the handler, over a
//! contact made by the ingest handler, each test in an org of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::sync::Arc;

use edit_contact::App;
use serde_json::json;
use shared::clock::{Env, FixedClock, SequentialIds};
use shared::config::Config;
use shared::serve::Build;
use shared::services::Endpoints;
use shared::testing::{
    BusTap, OverContact, invoke, load_event, local_services, new_org, with_caller,
};

type Harness = OverContact<App>;

/// This org's contact (from an email by Ana), a text attribute `customer_id`, and the function
/// on a fixed clock.
async fn harness() -> Harness {
    let local = local_services().await;
    let org = new_org("evt");
    let sender = json!({"user_id": "ana@example.com", "name": "Ana"});
    let admin = manage_attributes::App::build(&local, &Env::system());
    let mut create = with_caller(
        load_event("manage-attributes", "create-attribute"),
        &org,
        None,
    );
    create["body"] = json!({"label": "Customer ID", "type": "text"})
        .to_string()
        .into();
    let (status, _) = invoke(&admin, &create.to_string()).await;
    assert_eq!(status, 201);
    let env = Env {
        clock: Arc::new(FixedClock::at(
            time::macros::datetime!(2026-02-01 12:00 UTC),
        )),
        ids: Arc::new(SequentialIds::default()),
    };
    ingest_messages::over_first_contact(App::build(&local, &env), &local, &org, "email", sender)
        .await
}

#[tokio::test]
async fn the_sample_events_view_edit_and_read_history() {
    let h = harness().await;
    let (status, list) = h.run("list-contacts").await;
    assert_eq!(
        (status, list["items"][0]["id"].clone()),
        (200, h.contact_id.clone().into())
    );
    let (status, view) = h.run("get-contact").await;
    assert_eq!(
        (status, view["name"].clone(), view["version"].clone()),
        (200, "Ana".into(), 1.into())
    );
    let (status, edited) = h.run("edit-contact").await;
    assert_eq!(status, 200, "{edited}");
    let value = edited["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "customer_id")
        .unwrap()["value"]
        .clone();
    assert_eq!(
        (value, edited["version"].clone()),
        ("C-1001".into(), 2.into())
    );
    assert_eq!(
        edited["updated_at"], "2026-02-01T12:00:00Z",
        "the injected clock stamps the edit"
    );
    let (status, conversations) = h.run("contact-conversations").await;
    assert_eq!(
        (status, conversations["items"][0]["id"].clone()),
        (200, "conv-1".into())
    );
    let (status, messages) = h.run("conversation-messages").await;
    assert_eq!(
        (status, messages["items"][0]["text"].clone()),
        (200, "hello".into())
    );
}

#[tokio::test]
async fn an_edit_never_brings_back_a_deleted_contact() {
    let h = harness().await;
    let config = Config::from_env().unwrap();
    let client = aws_sdk_dynamodb::Client::new(&config.aws().await);
    let key = |v: String| aws_sdk_dynamodb::types::AttributeValue::S(v);
    client
        .delete_item()
        .table_name(&config.table_name)
        .key("PK", key(format!("ORG#{}#C#{}", h.org, h.contact_id)))
        .key("SK", key("PROFILE".into()))
        .send()
        .await
        .unwrap();
    let (status, body) = h.run("edit-contact").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, "not_found".into())
    );
    let (status, _) = h.run("get-contact").await;
    assert_eq!(status, 404, "the edit did not recreate the profile");
}

#[tokio::test]
async fn events_of_another_org_find_nothing() {
    let h = harness().await;
    h.assert_other_orgs_find_nothing(&[
        "get-contact",
        "edit-contact",
        "contact-conversations",
        "conversation-messages",
        "set-conversation-status",
    ])
    .await;
}

#[tokio::test]
async fn the_sample_event_closes_a_conversation_once() {
    let h = harness().await;
    let (status, closed) = h.run("set-conversation-status").await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["contact_id"], json!(h.contact_id));
    let (status, again) = h.run("set-conversation-status").await;
    assert_eq!(
        (status, again),
        (200, closed),
        "an unchanged status changes nothing"
    );
}

/// The function on `services`, over the harness's org and contact.
fn over_same(h: &Harness, services: &shared::services::Services) -> Harness {
    Harness {
        app: App::build(services, &Env::system()),
        org: h.org.clone(),
        contact_id: h.contact_id.clone(),
    }
}

/// The harness's org matched by `customer_id`, and the function over its contact with the
/// matching queue gone: an edit of `customer_id` commits, then fails to queue its match job
/// and answers 500, as a function that dies after its commit.
async fn dying_after_its_commit(h: &Harness) -> Harness {
    let local = local_services().await;
    let settings = manage_attributes::App::build(&local, &Env::system());
    let mut patch = with_caller(
        load_event("manage-attributes", "patch-settings"),
        &h.org,
        None,
    );
    patch["body"] = json!({"matching_attribute": "customer_id"})
        .to_string()
        .into();
    assert_eq!(invoke(&settings, &patch.to_string()).await.0, 200);
    let sdk = Config::from_env().unwrap().aws().await;
    let broken = local.at(Endpoints {
        match_queue_url: format!("{}/000000000000/no-such-queue", sdk.endpoint_url().unwrap()),
        ..local.endpoints().clone()
    });
    over_same(h, &broken)
}

/// A function can die after its write commits (here: the matching queue is gone, so the edit
/// answers 500 after saving). The event rides in the committed write, so it is published all
/// the same, by the relay reading the table's stream.
#[tokio::test]
async fn an_edit_that_fails_after_its_commit_is_still_told() {
    let h = harness().await;
    let tap = BusTap::for_org(&h.org).await;
    let dying = dying_after_its_commit(&h).await;
    let (status, _) = dying.run("edit-contact").await;
    assert_eq!(status, 500, "the function failed after its commit");
    let (_, view) = h.run("get-contact").await;
    let saved = view["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "customer_id")
        .unwrap();
    assert_eq!(saved["value"], "C-1001", "the edit was committed");
    // The tap may also catch the contact's first events, relayed after it was made.
    let events = tap
        .received_until(|events| events.iter().any(|e| e["type"] == "contact.updated"))
        .await;
    let updated: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "contact.updated")
        .collect();
    assert_eq!(updated.len(), 1, "{events:?}");
    assert_eq!(
        updated[0]["data"],
        json!({"contact_id": h.contact_id, "changed": ["customer_id"], "source": "agent"})
    );
}

/// A function that died after its commit, before it queued the change's match job: the job
/// waits on the profile, and the client's retry, which finds nothing left to change, queues it.
#[tokio::test]
async fn the_retry_of_an_edit_that_died_after_its_commit_queues_what_it_left() {
    let h = harness().await;
    let local = local_services().await;
    let dying = dying_after_its_commit(&h).await;
    assert_eq!(
        dying.run("edit-contact").await.0,
        500,
        "died after its commit"
    );
    let org = shared::ids::OrgId::parse(&h.org).unwrap();
    let stored = || async {
        local
            .store()
            .contact(&org, &h.contact_id)
            .await
            .unwrap()
            .unwrap()
    };
    let left = stored().await.pending_jobs;
    assert!(
        matches!(left.as_slice(), [shared::contacts::PendingJob::Match(_)]),
        "the match job waits on the profile: {left:?}"
    );

    let queue = shared::testing::TestQueue::new(&format!("match-{}", h.org)).await;
    let (services, sends) =
        local::testing::services_watched("edit-contact", &[(queue.url(), "MatchQueue")]).await;
    sends.watch_sends(&h.org);
    let retrying = over_same(&h, &services);
    let (status, view) = retrying.run("edit-contact").await;
    assert_eq!(status, 200, "{view}");
    let queued = sends.sent_to(&h.org, queue.url());
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].body["type"], "contact");
    assert_eq!(queued[0].body["contact_id"], h.contact_id.as_str());
    assert!(
        stored().await.pending_jobs.is_empty(),
        "and nothing waits any more"
    );
}

/// A status change that died after its commit, before it queued its write-back: the client's
/// retry, which finds the status already set, queues the write-back the change left.
#[tokio::test]
async fn the_retry_of_a_status_change_that_died_after_its_commit_queues_its_write_back() {
    let h = harness().await;
    let local = local_services().await;
    let org = shared::ids::OrgId::parse(&h.org).unwrap();
    let store = local.store();
    shared::testing::connect_writing_back(&store, &org).await;
    let at = "2026-02-01T12:00:00Z";
    shared::testing::account_change_pending(&store, &org, &h.contact_id, at).await;

    let sdk = Config::from_env().unwrap().aws().await;
    let broken = local.at(Endpoints {
        crm_queue_url: format!("{}/000000000000/no-such-queue", sdk.endpoint_url().unwrap()),
        ..local.endpoints().clone()
    });
    let dying = over_same(&h, &broken);
    let (status, _) = dying.run("set-conversation-status").await;
    assert_eq!(status, 500, "died after its commit");

    let queue = shared::testing::TestQueue::new(&format!("crm-{}", h.org)).await;
    let (services, sends) =
        local::testing::services_watched("edit-contact", &[(queue.url(), "CrmQueue")]).await;
    sends.watch_sends(&h.org);
    let retrying = over_same(&h, &services);
    let (status, closed) = retrying.run("set-conversation-status").await;
    assert_eq!((status, closed["status"].clone()), (200, json!("closed")));
    let queued = sends.sent_to(&h.org, queue.url());
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].body["type"], "write_back");
    assert_eq!(
        queued[0].body["conversation"],
        json!({"id": "conv-1", "status": "closed"})
    );
    let contact = store.contact(&org, &h.contact_id).await.unwrap().unwrap();
    assert!(
        contact.pending_jobs.is_empty(),
        "and nothing waits any more"
    );

    // Once queued, a repeat of the same status sends nothing.
    let (status, _) = retrying.run("set-conversation-status").await;
    assert_eq!(status, 200);
    assert_eq!(sends.sent(&h.org).len(), 1);
}
