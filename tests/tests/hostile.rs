//! Hostile input and edge cases, class by class, through the local runtime: idempotency after
//! authorization, body shapes, typed text, paths and methods (cursors and the matrix are in
//! hostile_lists.rs; If-Match, deletion, attachments and concurrent writers in hostile_writes.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{fresh, fresh_as, inbound, notes_as};
use reqwest::Method;
use serde_json::json;

// ---- 1. Idempotency keys belong to their caller and follow authorization ----

#[tokio::test]
async fn a_refused_request_is_never_replayed_to_an_allowed_caller() {
    let (api, org, _, path) = notes_as("business").await;
    let body = json!({"text": "call back tomorrow"});
    let on_team = api.caller_as(&org, "agent", "team", "ana").await;
    on_team
        .post_with_key(&path, &body, "k-1")
        .await
        .expect_error(403, "plan_required");
    let upgraded = api.caller_as(&org, "agent", "business", "ana").await;
    let created = upgraded.post_with_key(&path, &body, "k-1").await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.headers.get("idempotent-replayed").is_none());
    assert_eq!(upgraded.count(&path).await, 1);
}

#[tokio::test]
async fn a_stored_response_is_not_replayed_to_a_caller_whose_role_no_longer_allows_it() {
    let (api, org) = fresh();
    let admin = api.caller_as(&org, "admin", "team", "dana").await;
    let body = json!({"label": "Customer ID", "type": "text"});
    admin
        .post_with_key("/attributes", &body, "k-1")
        .await
        .expect(201);
    let replay = admin.post_with_key("/attributes", &body, "k-1").await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    let demoted = api.caller_as(&org, "agent", "team", "dana").await;
    demoted
        .post_with_key("/attributes", &body, "k-1")
        .await
        .expect_error(403, "forbidden");
}

#[tokio::test]
async fn keys_belong_to_the_user_who_first_used_them() {
    let (api, org, _, path) = notes_as("business").await;
    let body = json!({"text": "same words"});
    let ana = api.caller_as(&org, "agent", "business", "ana").await;
    let bo = api.caller_as(&org, "agent", "business", "bo").await;
    let first = ana
        .post_with_key(&path, &body, "shared-key")
        .await
        .expect(201);
    let second = bo.post_with_key(&path, &body, "shared-key").await;
    assert!(second.headers.get("idempotent-replayed").is_none());
    let second = second.expect(201);
    assert_ne!(first["id"], second["id"]);
    assert_eq!(second["author"]["id"], "bo");
    // A different body under Bo's own key is still refused for Bo.
    bo.post_with_key(&path, &json!({"text": "other"}), "shared-key")
        .await
        .expect_error(422, "validation_failed");
}

#[tokio::test]
async fn an_error_is_never_stored_so_the_corrected_request_runs() {
    let (_, _, agent, path) = notes_as("business").await;
    agent
        .post_with_key(&path, &json!({"text": "  "}), "k-1")
        .await
        .expect_error(422, "validation_failed");
    agent
        .post_with_key(&path, &json!({"text": "fixed"}), "k-1")
        .await
        .expect(201);
}

// ---- 4. Body shape ----

#[tokio::test]
async fn only_a_json_object_without_duplicate_keys_is_a_body() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    let before = admin.get("/settings").await.expect(200);
    for body in [
        r#"[null, true]"#,
        r#"["customer_id"]"#,
        r#""crm_edit_enabled""#,
        r#"{"crm_edit_enabled": true, "crm_edit_enabled": false}"#,
        r#"{"vip_routing_team": "A", "vip_routing_team": "B"}"#,
    ] {
        let reply = admin
            .raw_body(Method::PATCH, "/settings", body.as_bytes())
            .await;
        reply.expect_error(400, "bad_request");
    }
    assert_eq!(admin.get("/settings").await.expect(200), before);
    admin.define_text("Tier").await;
    let contact = api.contact_from(&org, "sms", "+1700", "c-1").await;
    let reply = admin
        .raw_body(
            Method::PATCH,
            &format!("/contacts/{contact}"),
            br#"{"attributes": {"tier": "a", "tier": "b"}}"#,
        )
        .await;
    reply.expect_error(400, "bad_request");
    admin
        .raw_body(
            Method::POST,
            "/exports",
            br#"{"format": "csv", "filter": [true]}"#,
        )
        .await
        .expect_error_at(400, "bad_request", "filter");
}

#[tokio::test]
async fn error_messages_speak_of_fields_never_of_rust_types() {
    let (_, _, admin) = fresh_as("admin", "enterprise").await;
    let cases: Vec<(Method, &str, &str)> = vec![
        (Method::PATCH, "/settings", r#"{"crm_edit_enabled": "yes"}"#),
        (
            Method::POST,
            "/attributes",
            r#"{"label": 5, "type": "text"}"#,
        ),
        (Method::POST, "/attributes", r#"{"label": "x", "type": 1}"#),
        (Method::PUT, "/attributes/order", r#"{"keys": "bio"}"#),
        (
            Method::POST,
            "/exports",
            r#"{"format": "csv", "filter": "vip"}"#,
        ),
        (
            Method::PUT,
            "/export-schedule",
            r#"{"cadence": "daily", "hour_utc": "7", "format": "csv"}"#,
        ),
        (
            Method::PUT,
            "/export-schedule",
            r#"{"cadence": "daily", "hour_utc": 7.5, "format": "csv"}"#,
        ),
        (Method::POST, "/attributes", r#"{}"#),
    ];
    for (method, path, body) in cases {
        let reply = admin.raw_body(method.clone(), path, body.as_bytes()).await;
        reply.expect_error(400, "bad_request");
        let message = reply.body["error"]["message"].as_str().unwrap();
        for word in [
            "struct", "i64", "u8", "u32", "bool", "variant", "Option", "Vec", "Body", "Request",
            "sequence", "map",
        ] {
            assert!(!message.contains(word), "{method} {path} {body}: {message}");
        }
        assert!(
            !reply.field().is_empty(),
            "{method} {path} {body}: names a field"
        );
    }
}

#[tokio::test]
async fn a_value_outside_a_closed_set_is_422_naming_the_field_and_21_0_is_an_integer() {
    let (_, _, admin) = fresh_as("admin", "enterprise").await;
    admin
        .post("/exports", &json!({"format": "xml"}))
        .await
        .expect_error_at(422, "validation_failed", "format");
    admin
        .put(
            "/export-schedule",
            &json!({"cadence": "hourly", "hour_utc": 3, "format": "csv"}),
        )
        .await
        .expect_error_at(422, "validation_failed", "cadence");
    let reply = admin
        .raw_body(
            Method::PUT,
            "/export-schedule",
            br#"{"cadence": "daily", "hour_utc": 21.0, "format": "csv"}"#,
        )
        .await;
    assert_eq!(reply.expect(200)["hour_utc"], 21);
}

// ---- 5. Text ----

#[tokio::test]
async fn control_characters_bidi_overrides_and_invisible_text_are_refused() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    let conversation = "c-1";
    let contact = api.contact_from(&org, "sms", "+1800", conversation).await;
    for text in [
        "a\u{0}b",
        "ring\u{7}",
        "file\u{202E}gpj.exe",
        "\u{200B}\u{200B}",
        "\u{FEFF} ",
    ] {
        for path in [
            format!("/contacts/{contact}/notes"),
            format!("/conversations/{conversation}/notes"),
        ] {
            admin
                .post(&path, &json!({"text": text}))
                .await
                .expect_error_at(422, "validation_failed", "text");
        }
    }
    let note = admin
        .note(
            &format!("/contacts/{contact}/notes"),
            "line one\n\tline two",
        )
        .await;
    assert_eq!(note["text"], "line one\n\tline two");
    admin.define_text("Customer ID").await;
    for value in ["A\u{0}1", "A\n1", "=cmd\u{1b}", "\u{2066}x"] {
        admin
            .edit(&contact, json!({"customer_id": value}))
            .await
            .expect_error_at(422, "validation_failed", "attributes.customer_id");
    }
    admin
        .post(
            "/attributes",
            &json!({"label": "Tier", "type": "dropdown", "options": ["Gold", "Sil\u{0}ver"]}),
        )
        .await
        .expect_error_at(422, "validation_failed", "options");
    admin
        .post("/attributes", &json!({"label": "\u{200B}", "type": "text"}))
        .await
        .expect_error_at(422, "validation_failed", "label");
    let reply = admin
        .post(
            "/attributes",
            &json!({"label": "Evil\u{202E}", "type": "text"}),
        )
        .await;
    reply.expect_error(422, "validation_failed");
    let view = admin.view(&contact).await;
    assert_eq!(view["version"], 1, "nothing was written");
}

// ---- 6. Paths and methods ----

#[tokio::test]
async fn a_conversation_id_with_reserved_characters_is_reached_percent_encoded() {
    let (api, org) = fresh();
    let conversation = "thread 7#a?b%";
    let (_, id) = api
        .ingest(&inbound(
            &org,
            "email",
            "ana@example.com",
            conversation,
            "m-1",
        ))
        .await;
    assert_eq!(id, conversation);
    let agent = api.caller(&org, "agent", "business").await;
    let encoded = "thread%207%23a%3Fb%25";
    let messages = format!("/conversations/{encoded}/messages");
    assert_eq!(agent.count(&messages).await, 1);
    agent
        .note(&format!("/conversations/{encoded}/notes"), "reached")
        .await;
    let notes = agent
        .get(&format!("/conversations/{encoded}/notes"))
        .await
        .expect(200);
    assert_eq!(notes["items"][0]["text"], "reached");
}

#[tokio::test]
async fn an_unsupported_method_is_405_with_allow_and_an_overlong_uri_is_414_with_a_body() {
    let (_, _, admin) = fresh_as("admin", "enterprise").await;
    for (method, path, allow) in [
        (Method::PUT, "/settings", "GET, PATCH"),
        (Method::POST, "/settings", "GET, PATCH"),
        (Method::DELETE, "/attributes", "GET, POST"),
        (Method::POST, "/contacts/x/vip", "DELETE, PUT"),
        (Method::PUT, "/deleted-contacts", "GET"),
    ] {
        let reply = admin.send(method.clone(), path, None).await;
        reply.expect_error(405, "method_not_allowed");
        assert_eq!(reply.headers["allow"], allow, "{method} {path}");
    }
    let long = format!("/contacts?limit=1&x={}", "a".repeat(9000));
    let reply = admin.get(&long).await;
    reply.expect_error(414, "uri_too_long");
}
