//! The local runtime as API Gateway: authorizer, routing, body limit, local-only routes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Api, fresh, new_org};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn requests_without_a_valid_token_are_401() {
    let (api, org) = fresh();
    let good = api.token(&[("org", &org), ("role", "admin")]).await;
    let expired = api
        .token(&[("org", &org), ("role", "admin"), ("expires_in", "-3600")])
        .await;
    let wrong_issuer = api
        .token(&[
            ("org", &org),
            ("role", "admin"),
            ("iss", "https://evil.example/"),
        ])
        .await;
    let wrong_audience = api
        .token(&[("org", &org), ("role", "admin"), ("aud", "another-api")])
        .await;
    let parts: Vec<&str> = good.split('.').collect();
    // Flip a bit of a signature byte (not of the last base64 character, whose low bits are
    // padding a lenient decoder ignores), so the signature really differs.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[0] ^= 0x01;
    let bad_signature = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(&signature)
    );
    assert_ne!(bad_signature, good);
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);

    for (what, token) in [
        ("no token", None),
        ("expired", Some(expired.as_str())),
        ("wrong issuer", Some(wrong_issuer.as_str())),
        ("wrong audience", Some(wrong_audience.as_str())),
        ("bad signature", Some(bad_signature.as_str())),
        ("alg none", Some(alg_none.as_str())),
        ("garbage", Some("not-a-jwt")),
    ] {
        for path in ["/settings", "/attributes"] {
            let reply = api.raw(Method::GET, path, token, None, &[]).await;
            assert_eq!(reply.status, 401, "{what} on {path}: {}", reply.body);
            reply.expect_error(401, "unauthorized");
        }
    }
    let ok = api
        .raw(Method::GET, "/settings", Some(&good), None, &[])
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[tokio::test]
async fn the_token_route_refuses_roles_outside_the_contract() {
    let api = Api::new();
    api.anonymous(
        Method::GET,
        &format!("/_local/token?org={}&role=owner", new_org()),
    )
    .await
    .expect_error_at(400, "bad_request", "role");
}

#[tokio::test]
async fn unknown_routes_are_404_in_the_contract_shape() {
    let api = Api::new();
    let token = api.token(&[("org", &new_org()), ("role", "admin")]).await;
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::POST, "/nope/settings"),
        (Method::GET, "/attributes/x/y"),
    ] {
        api.raw(method, path, Some(&token), None, &[])
            .await
            .expect_error(404, "not_found");
    }
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let api = Api::new();
    let token = api.token(&[("org", &new_org()), ("role", "admin")]).await;
    let label = "x".repeat(64 * 1024);
    let body = serde_json::to_vec(&json!({"label": label, "type": "text"})).unwrap();
    let reply = api
        .raw(Method::POST, "/attributes", Some(&token), Some(body), &[])
        .await;
    reply.expect_error(413, "payload_too_large");

    let just_under =
        serde_json::to_vec(&json!({"label": "x".repeat(64 * 1024 - 40), "type": "text"})).unwrap();
    assert!(just_under.len() <= 64 * 1024);
    let reply = api
        .raw(
            Method::POST,
            "/attributes",
            Some(&token),
            Some(just_under),
            &[],
        )
        .await;
    reply.expect_error(422, "validation_failed");
}

#[tokio::test]
async fn tokens_carry_the_requested_claims() {
    let (api, org) = fresh();
    let token = api
        .token(&[("org", &org), ("role", "agent"), ("plan", "business")])
        .await;
    let settings = api
        .raw(Method::GET, "/settings", Some(&token), None, &[])
        .await
        .expect(200);
    assert_eq!(settings["plan"], "business");
    let bad_plan = api.anonymous(Method::GET, "/_local/token?plan=gold").await;
    bad_plan.expect_error(400, "bad_request");
    let bad_org = api.anonymous(Method::GET, "/_local/token?org=a%23b").await;
    bad_org.expect_error(400, "bad_request");
}

/// The items of one of the runtime's own listings.
async fn listed(path: &str) -> serde_json::Value {
    let reply = Api::new().anonymous(Method::GET, path).await.expect(200);
    reply["items"].clone()
}

#[tokio::test]
async fn schedules_are_listed_from_the_template() {
    assert_eq!(
        listed("/_local/schedules").await,
        json!([{"name": "HourlyExports", "function": "export-scheduler",
                            "expression": "cron(0 * * * ? *)"}])
    );
}

#[tokio::test]
async fn functions_are_listed_with_the_timeout_each_invocation_gets() {
    // scripts/test starts the runtime without LOCAL_MAX_TIMEOUT_S: the template's values.
    assert_eq!(
        listed("/_local/functions").await,
        json!([
            {"name": "contact-notes", "timeout_s": 10},
            {"name": "crm-sync", "timeout_s": 10},
            {"name": "crm-worker", "timeout_s": 30},
            {"name": "delete-contact", "timeout_s": 10},
            {"name": "edit-contact", "timeout_s": 10},
            {"name": "export-contacts", "timeout_s": 10},
            {"name": "export-scheduler", "timeout_s": 300},
            {"name": "export-worker", "timeout_s": 900},
            {"name": "ingest-messages", "timeout_s": 30},
            {"name": "manage-attributes", "timeout_s": 10},
            {"name": "match-contacts", "timeout_s": 900},
            {"name": "publish-events", "timeout_s": 30},
            {"name": "purge-contact", "timeout_s": 900},
            {"name": "toggle-vip", "timeout_s": 10},
        ])
    );
}
