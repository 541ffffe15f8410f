//! VIP through the local runtime: designation, the VIP group, plans and the caller's own contact.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Request, fresh, inbound, new_org};
use serde_json::json;

#[tokio::test]
async fn vip_is_designated_idempotently_and_forms_the_vip_group() {
    let (api, org) = fresh();
    let a = api.contact_from(&org, "whatsapp", "+1", "c1").await;
    let b = api.contact_from(&org, "whatsapp", "+2", "c2").await;
    let agent = api.caller(&org, "agent", "business").await;
    let vip_path = format!("/contacts/{a}/vip");

    let first = agent.put(&vip_path, &json!(null)).await;
    assert_eq!(first.headers["etag"], "\"2\"");
    let view = first.expect(200);
    assert_eq!(
        (view["vip"].clone(), view["version"].clone()),
        (json!(true), json!(2))
    );
    assert_eq!(
        agent.put(&vip_path, &json!(null)).await.expect(200)["version"],
        2,
        "a second PUT changes nothing"
    );
    agent
        .list_when("/contacts?vip=true", "the VIP index", |page| {
            api_tests::ids(page) == [a.as_str()]
        })
        .await;
    let all = agent
        .list_when("/contacts", "the listing", |page| {
            page["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|c| c["id"] == a && c["vip"] == true))
        })
        .await;
    let summary = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == a)
        .unwrap();
    assert_eq!(summary["vip"], true);
    assert_eq!(agent.view(&b).await["vip"], false);

    // A new message rewrites the profile; the contact stays in the VIP group.
    let mut later = inbound(&org, "whatsapp", "+1", "c1", "m-later");
    later["sender"]["name"] = json!("Renamed");
    api.inbound(&later).await.expect(200);
    let vips = agent
        .list_when("/contacts?vip=true", "the renamed VIP", |page| {
            page["items"][0]["name"] == "Renamed"
        })
        .await;
    assert_eq!(api_tests::ids(&vips), [a.as_str()]);

    assert_eq!(agent.delete(&vip_path).await.expect(200)["vip"], false);
    assert_eq!(agent.delete(&vip_path).await.expect(200)["vip"], false);
    agent
        .list_when("/contacts?vip=true", "the VIP index emptied", |page| {
            api_tests::ids(page).is_empty()
        })
        .await;
}

#[tokio::test]
async fn vip_needs_a_paid_plan_the_vip_attribute_and_the_callers_own_contact() {
    let (api, org) = fresh();
    let a = api.contact_from(&org, "whatsapp", "+1", "c1").await;
    let path = format!("/contacts/{a}/vip");
    for role in ["agent", "admin"] {
        let team = api.caller(&org, role, "team").await;
        team.put(&path, &json!(null))
            .await
            .expect_error(403, "plan_required");
        team.delete(&path).await.expect_error(403, "plan_required");
    }
    let stranger = api.caller(&new_org(), "agent", "enterprise").await;
    let missing = [Request::put(&path, json!(null)), Request::delete(&path)];
    stranger.expect_each_error(404, "not_found", &missing).await;
    let agent = api.caller(&org, "agent", "business").await;
    agent
        .put("/contacts/no-such-contact/vip", &json!(null))
        .await
        .expect_error(404, "not_found");

    let admin = api.caller(&org, "admin", "business").await;
    admin
        .patch("/attributes/vip", &json!({"enabled": false}))
        .await
        .expect(200);
    let disabled = [Request::put(&path, json!(null)), Request::delete(&path)];
    agent
        .expect_each_error(403, "feature_disabled", &disabled)
        .await;
    assert_eq!(agent.view(&a).await["vip"], false);
}
