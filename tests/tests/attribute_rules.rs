//! Attribute definitions through the local runtime: what is refused (422, 400) and what needs a plan.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Request, fresh_as};
use serde_json::json;

#[tokio::test]
async fn invalid_definitions_are_422_naming_the_field() {
    let (_, _, admin) = fresh_as("admin", "team").await;
    let options = |n: usize| (0..n).map(|i| format!("o{i}")).collect::<Vec<_>>();
    let cases = [
        (json!({"label": "", "type": "text"}), "label"),
        (json!({"label": "   ", "type": "text"}), "label"),
        (json!({"label": "x".repeat(65), "type": "text"}), "label"),
        (
            json!({"label": "Ok", "type": "text", "key": "Bad-Key"}),
            "key",
        ),
        (json!({"label": "Ok", "type": "text", "key": "1abc"}), "key"),
        (
            json!({"label": "Ok", "type": "text", "key": "a".repeat(41)}),
            "key",
        ),
        (json!({"label": "客户", "type": "text"}), "key"),
        (json!({"label": "Ok", "type": "boolean"}), "type"),
        (
            json!({"label": "Ok", "type": "text", "options": ["a", "b"]}),
            "options",
        ),
        (json!({"label": "Ok", "type": "dropdown"}), "options"),
        (
            json!({"label": "Ok", "type": "dropdown", "options": ["only"]}),
            "options",
        ),
        (
            json!({"label": "Ok", "type": "dropdown", "options": ["a", "A"]}),
            "options",
        ),
        (
            json!({"label": "Ok", "type": "dropdown", "options": ["a", ""]}),
            "options",
        ),
        (
            json!({"label": "Ok", "type": "dropdown", "options": ["a", "b".repeat(101)]}),
            "options",
        ),
        (
            json!({"label": "Ok", "type": "dropdown", "options": options(101)}),
            "options",
        ),
    ];
    for (body, field) in cases {
        admin
            .post("/attributes", &body)
            .await
            .expect_error_at(422, "validation_failed", field);
    }
    // The limits themselves pass.
    admin
        .create_attribute(&json!({"label": "é".repeat(64), "type": "text", "key": "long_label"}))
        .await;
    admin
        .create_attribute(&json!({"label": "Many", "type": "dropdown", "options": options(100)}))
        .await;
    admin
        .create_attribute(&json!({"label": "Key", "type": "text", "key": "a".repeat(40)}))
        .await;
    let list = admin.get("/attributes").await.expect(200);
    assert_eq!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"] == "custom")
            .count(),
        3
    );
}

#[tokio::test]
async fn malformed_definitions_are_400() {
    let (_, _, admin) = fresh_as("admin", "team").await;
    for (body, field) in [
        (json!({"type": "text"}), Some("label")),
        (json!({"label": 7, "type": "text"}), Some("label")),
        (
            json!({"label": "Ok", "type": "text", "colour": "red"}),
            Some("colour"),
        ),
        (
            json!({"label": "Ok", "type": "dropdown", "options": "a,b"}),
            Some("options"),
        ),
        (
            json!({"label": "Ok", "type": "text", "enabled": null}),
            Some("enabled"),
        ),
        (json!(["label"]), None),
    ] {
        let reply = admin.post("/attributes", &body).await;
        reply.expect_error(400, "bad_request");
        if let Some(field) = field {
            assert_eq!(reply.field(), field, "{body}");
        }
    }
    admin
        .raw_body(reqwest::Method::POST, "/attributes", b"")
        .await
        .expect_error(400, "bad_request");
    // A well-formed value outside the closed set of types breaks a rule: 422.
    admin
        .post("/attributes", &json!({"label": "Ok", "type": "number"}))
        .await
        .expect_error_at(422, "validation_failed", "type");
    let list = admin.get("/attributes").await.expect(200);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["kind"] != "custom")
    );
}

#[tokio::test]
async fn crm_and_lookup_flags_need_enterprise() {
    let (api, org, business) = fresh_as("admin", "business").await;
    let enterprise = api.caller(&org, "admin", "enterprise").await;
    for body in [
        json!({"label": "Account", "type": "text", "crm_managed": true}),
        json!({"label": "Account", "type": "text", "lookup": true}),
    ] {
        business
            .post("/attributes", &body)
            .await
            .expect_error(403, "plan_required");
    }
    business
        .create_attribute(&json!({"label": "Account", "type": "text", "crm_managed": false}))
        .await;
    let gated = [
        Request::patch("/attributes/account", json!({"crm_managed": true})),
        Request::patch("/attributes/bio", json!({"lookup": true})),
    ];
    business
        .expect_each_error(403, "plan_required", &gated)
        .await;

    let def = enterprise
        .patch(
            "/attributes/account",
            &json!({"crm_managed": true, "lookup": true}),
        )
        .await
        .expect(200);
    assert_eq!(
        (def["crm_managed"].clone(), def["lookup"].clone()),
        (json!(true), json!(true))
    );
    let created = enterprise
        .create_attribute(
            &json!({"label": "CRM id", "type": "text", "crm_managed": true, "lookup": true}),
        )
        .await;
    assert_eq!(
        (created["crm_managed"].clone(), created["lookup"].clone()),
        (json!(true), json!(true))
    );
    let bio = enterprise
        .patch("/attributes/bio", &json!({"lookup": true}))
        .await
        .expect(200);
    assert_eq!(bio["lookup"], true);
    enterprise
        .patch("/attributes/bio", &json!({"crm_managed": true}))
        .await
        .expect_error_at(422, "validation_failed", "crm_managed");
}
