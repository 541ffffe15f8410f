//! Attribute definitions through the local runtime: every route, rule and error path.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Api, Request, assert_fields, entry, fresh_as, keys, new_org};
use serde_json::json;

#[tokio::test]
async fn a_new_org_lists_the_platform_catalogue_then_vip() {
    let (_, _, agent) = fresh_as("agent", "team").await;
    let list = agent.get("/attributes").await.expect(200);
    let keys = keys(&list);
    for platform in [
        "followers",
        "bio",
        "location",
        "verified",
        "phone",
        "email_address",
    ] {
        let def = entry(&list, platform).unwrap_or_else(|| panic!("{platform} missing"));
        assert_eq!(def["kind"], "platform");
        assert!(def["channels"].as_array().is_some_and(|c| !c.is_empty()));
        assert!(def.get("options").is_none());
    }
    assert_eq!(
        entry(&list, "followers").unwrap()["channels"],
        json!(["x_dm", "x_public", "instagram_dm", "instagram_comment"])
    );
    assert_eq!(
        entry(&list, "phone").unwrap()["channels"],
        json!(["whatsapp", "sms"])
    );
    assert_eq!(keys.last().unwrap(), "vip");
    let vip = entry(&list, "vip").unwrap();
    assert_fields(
        vip,
        json!({"kind": "builtin", "type": "boolean", "enabled": true}),
    );
    for (i, def) in list["items"].as_array().unwrap().iter().enumerate() {
        assert_eq!(def["position"], i, "positions follow display order");
    }
}

#[tokio::test]
async fn an_admin_creates_text_and_dropdown_attributes_placed_last() {
    let (api, org, admin) = fresh_as("admin", "team").await;
    let text = admin.define_text("Customer ID").await;
    assert_eq!(
        text,
        json!({"key": "customer_id", "label": "Customer ID", "kind": "custom", "type": "text", "enabled": true,
               "position": text["position"], "crm_managed": false, "lookup": false})
    );
    let dropdown = admin
        .create_attribute(&json!({"label": "Tier", "type": "dropdown", "options": ["Gold", " Silver "], "key": "loyalty_tier", "enabled": false})).await;
    assert_eq!(dropdown["key"], "loyalty_tier");
    assert_eq!(dropdown["options"], json!(["Gold", "Silver"]));
    assert_eq!(dropdown["enabled"], false);
    assert_eq!(dropdown["position"], text["position"].as_u64().unwrap() + 1);

    let agent = api.caller(&org, "agent", "team").await;
    let list = agent.get("/attributes").await.expect(200);
    assert_eq!(
        keys(&list)[keys(&list).len() - 2..],
        ["customer_id", "loyalty_tier"]
    );
    assert_eq!(entry(&list, "loyalty_tier").unwrap(), &dropdown);
}

#[tokio::test]
async fn keys_are_unique_across_custom_platform_and_vip() {
    let (_, _, admin) = fresh_as("admin", "team").await;
    admin.define_text("Tier").await;
    for body in [
        json!({"label": "Tier", "type": "text"}),
        json!({"label": "Other", "type": "text", "key": "tier"}),
        json!({"label": "Phone", "type": "text"}),
        json!({"label": "VIP", "type": "text"}),
    ] {
        admin
            .post("/attributes", &body)
            .await
            .expect_error_at(409, "conflict", "key");
    }
}

#[tokio::test]
async fn custom_attributes_can_be_relabelled_reoptioned_and_switched_off() {
    let (_, _, admin) = fresh_as("admin", "team").await;
    admin
        .create_attribute(&json!({"label": "Size", "type": "dropdown", "options": ["S", "M"]}))
        .await;
    let def = admin
        .patch(
            "/attributes/size",
            &json!({"label": "Shirt size", "options": ["S", "M", "L"], "enabled": false}),
        )
        .await
        .expect(200);
    assert_fields(
        &def,
        json!({"label": "Shirt size", "options": ["S", "M", "L"], "enabled": false}),
    );
    assert_eq!(
        entry(&admin.get("/attributes").await.expect(200), "size").unwrap(),
        &def
    );

    admin.define_text("Notes").await;
    admin
        .patch(
            "/attributes/notes",
            &json!({"options": ["a", "b"], "label": "Changed"}),
        )
        .await
        .expect_error_at(422, "validation_failed", "options");
    assert_eq!(
        entry(&admin.get("/attributes").await.expect(200), "notes").unwrap()["label"],
        "Notes",
        "nothing half-written"
    );

    admin
        .patch("/attributes/size", &json!({"label": ""}))
        .await
        .expect_error_at(422, "validation_failed", "label");
    let malformed = [
        Request::patch("/attributes/size", json!({"type": "text"})),
        Request::patch("/attributes/size", json!({"key": "other"})),
    ];
    admin
        .expect_each_error(400, "bad_request", &malformed)
        .await;
}

#[tokio::test]
async fn platform_attributes_only_switch_on_off_and_vip_only_enabled() {
    let (_, _, admin) = fresh_as("admin", "enterprise").await;
    let bio = admin
        .patch("/attributes/bio", &json!({"enabled": false}))
        .await
        .expect(200);
    assert_eq!(
        (bio["enabled"].clone(), bio["kind"].clone()),
        (json!(false), json!("platform"))
    );
    for (body, field) in [
        (json!({"label": "Biography"}), "label"),
        (json!({"options": ["a", "b"]}), "options"),
    ] {
        admin.patch("/attributes/bio", &body).await.expect_error_at(
            422,
            "validation_failed",
            field,
        );
    }
    let vip = admin
        .patch("/attributes/vip", &json!({"enabled": false}))
        .await
        .expect(200);
    assert_eq!(vip["enabled"], false);
    for (body, field) in [
        (json!({"label": "V"}), "label"),
        (json!({"lookup": true}), "lookup"),
        (json!({"crm_managed": true}), "crm_managed"),
    ] {
        admin.patch("/attributes/vip", &body).await.expect_error_at(
            422,
            "validation_failed",
            field,
        );
    }
    let list = admin.get("/attributes").await.expect(200);
    assert_eq!(entry(&list, "vip").unwrap()["enabled"], false);
    assert_eq!(entry(&list, "bio").unwrap()["enabled"], false);
    admin
        .patch("/attributes/no_such", &json!({"enabled": true}))
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn reorder_takes_exactly_the_current_keys() {
    let (_, _, admin) = fresh_as("admin", "team").await;
    admin.define_text("Tier").await;
    let mut order = keys(&admin.get("/attributes").await.expect(200));
    order.reverse();
    let list = admin
        .put("/attributes/order", &json!({"keys": order}))
        .await
        .expect(200);
    assert_eq!(keys(&list), order);
    assert_eq!(list["items"][0]["key"], "tier");
    assert_eq!(list["items"][0]["position"], 0);
    assert_eq!(keys(&admin.get("/attributes").await.expect(200)), order);

    let mut twice = order.clone();
    twice[1] = twice[0].clone();
    let mut extra = order.clone();
    extra.push("nope".into());
    for bad in [order[1..].to_vec(), twice, extra, vec![]] {
        admin
            .put("/attributes/order", &json!({"keys": bad}))
            .await
            .expect_error_at(422, "validation_failed", "keys");
    }
    let malformed = [
        Request::put("/attributes/order", json!({"keys": "tier"})),
        Request::put("/attributes/order", json!({})),
    ];
    admin
        .expect_each_error(400, "bad_request", &malformed)
        .await;
    assert_eq!(
        keys(&admin.get("/attributes").await.expect(200)),
        order,
        "refused orders change nothing"
    );

    // A new attribute still goes last after a reorder.
    admin.define_text("Later").await;
    assert_eq!(
        keys(&admin.get("/attributes").await.expect(200))
            .last()
            .unwrap(),
        "later"
    );
}

#[tokio::test]
async fn order_is_no_attributes_key_and_its_path_takes_only_the_reorder() {
    let (_, _, admin) = fresh_as("admin", "team").await;
    admin
        .post("/attributes", &json!({"label": "Order", "type": "text"}))
        .await
        .expect_error_at(422, "validation_failed", "key");
    admin
        .post(
            "/attributes",
            &json!({"label": "Order no.", "type": "text", "key": "order"}),
        )
        .await
        .expect_error_at(422, "validation_failed", "key");
    for request in [
        Request::patch("/attributes/order", json!({"label": "x"})),
        Request::delete("/attributes/order"),
        Request::get("/attributes/order"),
    ] {
        let reply = admin
            .send(request.method.clone(), &request.path, request.body.as_ref())
            .await;
        reply.expect_error(405, "method_not_allowed");
        assert_eq!(reply.headers["allow"], "PUT", "{}", request.path);
    }
}

#[tokio::test]
async fn only_custom_attributes_are_deleted_and_never_the_matching_one() {
    let (_, _, admin) = fresh_as("admin", "team").await;
    admin.define_text("Customer ID").await;
    admin.define_text("Tier").await;
    admin
        .set_settings(&json!({"matching_attribute": "customer_id"}))
        .await;

    let reply = admin.delete("/attributes/customer_id").await;
    reply.expect_error(409, "conflict");
    for key in ["bio", "vip"] {
        admin
            .delete(&format!("/attributes/{key}"))
            .await
            .expect_error(422, "validation_failed");
    }
    admin
        .delete("/attributes/no_such")
        .await
        .expect_error(404, "not_found");

    assert_eq!(admin.delete("/attributes/tier").await.status, 204);
    admin
        .delete("/attributes/tier")
        .await
        .expect_error(404, "not_found");
    let list = admin.get("/attributes").await.expect(200);
    assert!(entry(&list, "tier").is_none());
    assert!(entry(&list, "customer_id").is_some());

    admin
        .set_settings(&json!({"matching_attribute": null}))
        .await;
    assert_eq!(admin.delete("/attributes/customer_id").await.status, 204);

    // The key is free again, for a brand-new attribute.
    let again = admin
        .create_attribute(&json!({"label": "Tier", "type": "dropdown", "options": ["A", "B"]}))
        .await;
    assert_eq!(again["type"], "dropdown");
}

#[tokio::test]
async fn agents_read_but_never_change_definitions() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    admin.define_text("Tier").await;
    let before = admin.get("/attributes").await.expect(200);
    let agent = api.caller(&org, "agent", "enterprise").await;
    assert_eq!(agent.get("/attributes").await.expect(200), before);
    let order = json!({"keys": keys(&before)});
    for reply in [
        agent
            .post("/attributes", &json!({"label": "X", "type": "text"}))
            .await,
        agent
            .patch("/attributes/tier", &json!({"enabled": false}))
            .await,
        agent
            .patch("/attributes/bio", &json!({"enabled": false}))
            .await,
        agent.put("/attributes/order", &order).await,
        agent.delete("/attributes/tier").await,
    ] {
        reply.expect_error(403, "forbidden");
    }
    assert_eq!(admin.get("/attributes").await.expect(200), before);
}

#[tokio::test]
async fn another_orgs_attributes_are_not_found() {
    let (api, _, owner) = fresh_as("admin", "team").await;
    let stranger = api.caller(&new_org(), "admin", "team").await;
    owner.define_text("Secret").await;

    assert!(entry(&stranger.get("/attributes").await.expect(200), "secret").is_none());
    let missing = [
        Request::patch("/attributes/secret", json!({"label": "Mine"})),
        Request::delete("/attributes/secret"),
    ];
    stranger.expect_each_error(404, "not_found", &missing).await;
    let mut theirs = keys(&owner.get("/attributes").await.expect(200));
    theirs.rotate_left(1);
    stranger
        .put("/attributes/order", &json!({"keys": theirs}))
        .await
        .expect_error(422, "validation_failed");
    // The stranger can still create its own attribute with the same key.
    stranger.define_text("Secret").await;
    assert_eq!(
        entry(&owner.get("/attributes").await.expect(200), "secret").unwrap()["label"],
        "Secret"
    );
}

#[tokio::test]
async fn concurrent_admins_never_lose_each_others_attributes() {
    let (_, _, admin) = fresh_as("admin", "team").await;
    let creates = (0..6).map(|i| {
        let body = json!({"label": format!("Field {i}"), "type": "text"});
        let admin = &admin;
        async move { admin.post("/attributes", &body).await }
    });
    let disable = json!({"enabled": false});
    let toggles = admin.patch("/attributes/bio", &disable);
    let (replies, toggle) = tokio::join!(futures::future::join_all(creates), toggles);
    for reply in replies {
        reply.expect(201);
    }
    toggle.expect(200);
    let list = admin.get("/attributes").await.expect(200);
    for i in 0..6 {
        assert!(
            entry(&list, &format!("field_{i}")).is_some(),
            "field_{i} lost"
        );
    }
    assert_eq!(entry(&list, "bio").unwrap()["enabled"], false);
}

#[tokio::test]
async fn deleting_an_attribute_races_making_it_the_matching_one_safely() {
    let api = Api::new();
    for _ in 0..4 {
        let admin = api.caller(&new_org(), "admin", "team").await;
        admin.define_text("Customer ID").await;
        let matching = json!({"matching_attribute": "customer_id"});
        let (set, delete) = tokio::join!(
            admin.patch("/settings", &matching),
            admin.delete("/attributes/customer_id"),
        );
        let settings = admin.get("/settings").await.expect(200);
        let exists = entry(&admin.get("/attributes").await.expect(200), "customer_id").is_some();
        if delete.status == 204 {
            assert!(!exists);
            assert_eq!(
                set.status, 422,
                "matching set to a deleted attribute: {}",
                set.body
            );
            assert_eq!(settings["matching_attribute"], json!(null));
        } else {
            delete.expect_error(409, "conflict");
            assert!(exists);
            assert_eq!(settings["matching_attribute"], "customer_id");
        }
    }
}
