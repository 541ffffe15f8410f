//! Hostile input and edge cases, class by class, through the local runtime: idempotency after
//! authorization, cursors bound to their list, the role/plan matrix route by route, body
//! shapes, typed text, paths and methods, If-Match, deleted-means-deleted and concurrent
//! writers of different fields.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Api, Caller, Reply, inbound, new_org};
use reqwest::Method;
use serde_json::{Value, json};
use shared::cursor::{ListScope, encode};
use shared::ids::OrgId;

async fn post_with_key(caller: &Caller<'_>, path: &str, body: &Value, key: &str) -> Reply {
    caller
        .send_with(Method::POST, path, body, &[("idempotency-key", key)])
        .await
}

// ---- 1. Idempotency keys belong to their caller and follow authorization ----

#[tokio::test]
async fn a_refused_request_is_never_replayed_to_an_allowed_caller() {
    let api = Api::new();
    let org = new_org();
    let (contact, _) = api
        .ingest(&inbound(&org, "sms", "+1555", "c-1", "m-1"))
        .await;
    let path = format!("/contacts/{contact}/notes");
    let body = json!({"text": "call back tomorrow"});
    let on_team = api.caller_as(&org, "agent", "team", "ana").await;
    post_with_key(&on_team, &path, &body, "k-1")
        .await
        .expect_error(403, "plan_required");
    let upgraded = api.caller_as(&org, "agent", "business", "ana").await;
    let created = post_with_key(&upgraded, &path, &body, "k-1").await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.headers.get("idempotent-replayed").is_none());
    let notes = upgraded.get(&path).await.expect(200);
    assert_eq!(notes["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_stored_response_is_not_replayed_to_a_caller_whose_role_no_longer_allows_it() {
    let api = Api::new();
    let org = new_org();
    let admin = api.caller_as(&org, "admin", "team", "dana").await;
    let body = json!({"label": "Customer ID", "type": "text"});
    post_with_key(&admin, "/attributes", &body, "k-1")
        .await
        .expect(201);
    let replay = post_with_key(&admin, "/attributes", &body, "k-1").await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    let demoted = api.caller_as(&org, "agent", "team", "dana").await;
    post_with_key(&demoted, "/attributes", &body, "k-1")
        .await
        .expect_error(403, "forbidden");
}

#[tokio::test]
async fn keys_belong_to_the_user_who_first_used_them() {
    let api = Api::new();
    let org = new_org();
    let (contact, _) = api
        .ingest(&inbound(&org, "sms", "+1556", "c-1", "m-1"))
        .await;
    let path = format!("/contacts/{contact}/notes");
    let body = json!({"text": "same words"});
    let ana = api.caller_as(&org, "agent", "business", "ana").await;
    let bo = api.caller_as(&org, "agent", "business", "bo").await;
    let first = post_with_key(&ana, &path, &body, "shared-key")
        .await
        .expect(201);
    let second = post_with_key(&bo, &path, &body, "shared-key").await;
    assert!(second.headers.get("idempotent-replayed").is_none());
    let second = second.expect(201);
    assert_ne!(first["id"], second["id"]);
    assert_eq!(second["author"]["id"], "bo");
    // A different body under Bo's own key is still refused for Bo.
    post_with_key(&bo, &path, &json!({"text": "other"}), "shared-key")
        .await
        .expect_error(422, "validation_failed");
}

#[tokio::test]
async fn an_error_is_never_stored_so_the_corrected_request_runs() {
    let api = Api::new();
    let org = new_org();
    let (contact, _) = api
        .ingest(&inbound(&org, "sms", "+1557", "c-1", "m-1"))
        .await;
    let path = format!("/contacts/{contact}/notes");
    let agent = api.caller(&org, "agent", "business").await;
    post_with_key(&agent, &path, &json!({"text": "  "}), "k-1")
        .await
        .expect_error(422, "validation_failed");
    post_with_key(&agent, &path, &json!({"text": "fixed"}), "k-1")
        .await
        .expect(201);
}

// ---- 2. Cursors ----

/// An org with every list holding two items, so each list hands out a cursor at `limit=1`.
struct Lists {
    org: String,
    contact: String,
    other_contact: String,
    conversation: String,
}

async fn two_of_everything(api: &Api) -> Lists {
    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
    let mut first = inbound(&org, "sms", "+1600", "conv-a", "m-1");
    first["message"]["sent_at"] = json!("2026-01-01T10:00:00Z");
    let (contact, conversation) = api.ingest(&first).await;
    let mut second = inbound(&org, "sms", "+1600", "conv-a", "m-2");
    second["message"]["sent_at"] = json!("2026-01-01T11:00:00Z");
    api.ingest(&second).await;
    api.ingest(&inbound(&org, "sms", "+1600", "conv-b", "m-3"))
        .await;
    let (other_contact, _) = api
        .ingest(&inbound(&org, "sms", "+1601", "conv-c", "m-4"))
        .await;
    for id in [&contact, &other_contact] {
        admin
            .put(&format!("/contacts/{id}/vip"), &json!({}))
            .await
            .expect(200);
        for text in ["one", "two"] {
            admin
                .post(&format!("/contacts/{id}/notes"), &json!({"text": text}))
                .await
                .expect(201);
        }
    }
    for text in ["one", "two"] {
        admin
            .post(
                &format!("/conversations/{conversation}/notes"),
                &json!({"text": text}),
            )
            .await
            .expect(201);
        admin
            .post("/exports", &json!({"format": "csv"}))
            .await
            .expect(202);
    }
    for _ in 0..2 {
        let (gone, _) = api
            .ingest(&inbound(&org, "email", &uuid(), &uuid(), &uuid()))
            .await;
        admin.delete(&format!("/contacts/{gone}")).await.expect(204);
    }
    Lists {
        org,
        contact,
        other_contact,
        conversation,
    }
}

fn uuid() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Lists {
    fn routes(&self) -> Vec<String> {
        let (c, v) = (&self.contact, &self.conversation);
        vec![
            "/contacts".into(),
            "/contacts?vip=true".into(),
            format!("/contacts/{c}/conversations"),
            format!("/conversations/{v}/messages"),
            format!("/contacts/{c}/notes"),
            format!("/conversations/{v}/notes"),
            "/deleted-contacts".into(),
            "/exports".into(),
        ]
    }
}

fn with_query(path: &str, query: &str) -> String {
    let joiner = if path.contains('?') { '&' } else { '?' };
    format!("{path}{joiner}{query}")
}

#[tokio::test]
async fn every_list_refuses_every_other_lists_cursor() {
    let api = Api::new();
    let lists = two_of_everything(&api).await;
    let admin = api.caller(&lists.org, "admin", "enterprise").await;
    let routes = lists.routes();
    let mut cursors = Vec::new();
    for route in &routes {
        let page = admin.get(&with_query(route, "limit=1")).await.expect(200);
        let cursor = page["next_cursor"]
            .as_str()
            .unwrap_or_else(|| panic!("{route} has a second page"))
            .to_owned();
        let next = admin
            .get(&with_query(route, &format!("limit=1&cursor={cursor}")))
            .await
            .expect(200);
        assert_eq!(next["items"].as_array().unwrap().len(), 1, "{route}");
        assert_ne!(page["items"][0], next["items"][0], "{route}");
        cursors.push(cursor);
    }
    for (i, route) in routes.iter().enumerate() {
        for (j, cursor) in cursors.iter().enumerate() {
            if i == j {
                continue;
            }
            let reply = admin
                .get(&with_query(route, &format!("cursor={cursor}")))
                .await;
            reply.expect_error(400, "bad_request");
            assert_eq!(reply.field(), "cursor", "{route} with {}", routes[j]);
        }
    }
}

#[tokio::test]
async fn a_cursor_is_bound_to_its_parent_and_its_org() {
    let api = Api::new();
    let lists = two_of_everything(&api).await;
    let admin = api.caller(&lists.org, "admin", "enterprise").await;
    let (a, b) = (&lists.contact, &lists.other_contact);
    let page = admin
        .get(&format!("/contacts/{a}/notes?limit=1"))
        .await
        .expect(200);
    let cursor = page["next_cursor"].as_str().unwrap();
    let reply = admin
        .get(&format!("/contacts/{b}/notes?limit=1&cursor={cursor}"))
        .await;
    reply.expect_error(400, "bad_request");
    let page = admin.get("/contacts?limit=1").await.expect(200);
    let cursor = page["next_cursor"].as_str().unwrap();
    let stranger = api.caller(&new_org(), "admin", "enterprise").await;
    stranger
        .get(&format!("/contacts?limit=1&cursor={cursor}"))
        .await
        .expect_error(400, "bad_request");
}

#[tokio::test]
async fn a_crafted_cursor_with_the_right_list_but_a_foreign_key_shape_is_400() {
    let api = Api::new();
    let lists = two_of_everything(&api).await;
    let admin = api.caller(&lists.org, "admin", "enterprise").await;
    let org = OrgId::parse(&lists.org).unwrap();
    let contact = &lists.contact;
    let key = |pairs: &[(&str, String)]| {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    aws_sdk_dynamodb::types::AttributeValue::S(v.clone()),
                )
            })
            .collect()
    };
    let pk = format!("ORG#{}#C#{contact}", lists.org);
    let notes = ListScope::new(&org, "GET /contacts/{id}/notes", &[contact], "");
    let listing = ListScope::new(&org, "GET /contacts", &[], "");
    for (path, scope, shape) in [
        (
            format!("/contacts/{contact}/notes"),
            &notes,
            key(&[("PK", pk.clone()), ("SK", "PROFILE".into())]),
        ),
        (
            format!("/contacts/{contact}/notes"),
            &notes,
            key(&[
                ("PK", format!("ORG#{}#C#other", lists.org)),
                ("SK", "NOTE#1".into()),
            ]),
        ),
        (
            format!("/contacts/{contact}/notes"),
            &notes,
            key(&[
                ("GSI1PK", format!("ORG#{}#CONTACTS", lists.org)),
                ("SK", "NOTE#1".into()),
            ]),
        ),
        (
            "/contacts".to_owned(),
            &listing,
            key(&[("PK", pk.clone()), ("SK", "PROFILE".into())]),
        ),
        (
            "/contacts".to_owned(),
            &listing,
            key(&[
                ("PK", pk.clone()),
                ("SK", "NOTE#1".into()),
                ("GSI1PK", format!("ORG#{}#CONTACTS", lists.org)),
                ("GSI1SK", format!("C#{contact}")),
            ]),
        ),
    ] {
        let cursor = encode(scope, &shape);
        let reply = admin.get(&format!("{path}?cursor={cursor}")).await;
        reply.expect_error(400, "bad_request");
        assert_eq!(reply.field(), "cursor");
    }
}

#[tokio::test]
async fn a_later_page_of_a_deleted_contacts_notes_is_404() {
    let api = Api::new();
    let lists = two_of_everything(&api).await;
    let admin = api.caller(&lists.org, "admin", "enterprise").await;
    let contact = &lists.contact;
    let page = admin
        .get(&format!("/contacts/{contact}/notes?limit=1"))
        .await
        .expect(200);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    admin
        .delete(&format!("/contacts/{contact}"))
        .await
        .expect(204);
    admin
        .get(&format!("/contacts/{contact}/notes?cursor={cursor}"))
        .await
        .expect_error(404, "not_found");
}

// ---- 3. The role and plan matrix, route by route ----

#[derive(Clone, Copy)]
enum Who {
    Everyone,
    Admins,
}

#[derive(Clone, Copy)]
enum Plans {
    All,
    Paid,
    Enterprise,
}

#[tokio::test]
async fn the_role_and_plan_matrix_holds_on_every_route() {
    use Plans::*;
    use Who::*;
    let api = Api::new();
    let org = new_org();
    let (c, v) = (
        "00000000-0000-7000-8000-000000000000",
        "no-such-conversation",
    );
    let n = "00000000-0000-7000-8000-000000000001";
    // The capability table of API.md, one line per route.
    let matrix: Vec<(Method, String, Who, Plans)> = vec![
        (Method::GET, "/settings".into(), Everyone, All),
        (Method::PATCH, "/settings".into(), Admins, All),
        (Method::GET, "/attributes".into(), Everyone, All),
        (Method::POST, "/attributes".into(), Admins, All),
        (Method::PUT, "/attributes/order".into(), Admins, All),
        (Method::PATCH, "/attributes/nothing".into(), Admins, All),
        (Method::DELETE, "/attributes/nothing".into(), Admins, All),
        (Method::GET, "/contacts".into(), Everyone, All),
        (Method::GET, "/contacts?vip=true".into(), Everyone, Paid),
        (Method::GET, format!("/contacts/{c}"), Everyone, All),
        (Method::PATCH, format!("/contacts/{c}"), Everyone, Paid),
        (
            Method::GET,
            format!("/contacts/{c}/conversations"),
            Everyone,
            All,
        ),
        (
            Method::GET,
            format!("/conversations/{v}/messages"),
            Everyone,
            All,
        ),
        (Method::PUT, format!("/contacts/{c}/vip"), Everyone, Paid),
        (Method::DELETE, format!("/contacts/{c}/vip"), Everyone, Paid),
        (Method::GET, format!("/contacts/{c}/notes"), Everyone, All),
        (Method::POST, format!("/contacts/{c}/notes"), Everyone, Paid),
        (
            Method::PATCH,
            format!("/contacts/{c}/notes/{n}"),
            Everyone,
            Paid,
        ),
        (
            Method::DELETE,
            format!("/contacts/{c}/notes/{n}"),
            Everyone,
            Paid,
        ),
        (
            Method::GET,
            format!("/conversations/{v}/notes"),
            Everyone,
            All,
        ),
        (
            Method::POST,
            format!("/conversations/{v}/notes"),
            Everyone,
            Paid,
        ),
        (
            Method::PATCH,
            format!("/conversations/{v}/notes/{n}"),
            Everyone,
            Paid,
        ),
        (
            Method::DELETE,
            format!("/conversations/{v}/notes/{n}"),
            Everyone,
            Paid,
        ),
        (Method::DELETE, format!("/contacts/{c}"), Admins, All),
        (Method::GET, "/deleted-contacts".into(), Admins, All),
        (Method::POST, "/exports".into(), Admins, Enterprise),
        (Method::GET, "/exports".into(), Admins, Enterprise),
        (Method::GET, format!("/exports/{n}"), Admins, Enterprise),
        (Method::GET, "/export-schedule".into(), Admins, Enterprise),
        (Method::PUT, "/export-schedule".into(), Admins, Enterprise),
    ];
    let mut checked = 0;
    for role in ["admin", "agent"] {
        for plan in ["team", "business", "enterprise"] {
            let caller = api.caller(&org, role, plan).await;
            for (method, path, who, plans) in &matrix {
                let role_ok = matches!(who, Everyone) || role == "admin";
                let plan_ok = match plans {
                    All => true,
                    Paid => plan != "team",
                    Enterprise => plan == "enterprise",
                };
                // Writes get a body the route refuses, so an allowed call changes nothing.
                let body = (*method != Method::GET && *method != Method::DELETE)
                    .then(|| json!({"unknown_field": true}));
                let reply = caller.send(method.clone(), path, body.as_ref()).await;
                let what = format!("{role}/{plan} {method} {path}: {}", reply.body);
                if !role_ok {
                    assert_eq!(
                        (reply.status.as_u16(), reply.code()),
                        (403, "forbidden"),
                        "{what}"
                    );
                } else if !plan_ok {
                    assert_eq!(
                        (reply.status.as_u16(), reply.code()),
                        (403, "plan_required"),
                        "{what}"
                    );
                } else {
                    assert_ne!(reply.status.as_u16(), 403, "{what}");
                    assert_ne!(reply.status.as_u16(), 401, "{what}");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 6 * matrix.len());
    // Nothing a refused or malformed call sent was written.
    let admin = api.caller(&org, "admin", "enterprise").await;
    assert_eq!(admin.get("/exports").await.expect(200)["items"], json!([]));
    assert_eq!(
        admin.get("/settings").await.expect(200)["matching_attribute"],
        Value::Null
    );
}

// ---- 4. Body shape ----

#[tokio::test]
async fn only_a_json_object_without_duplicate_keys_is_a_body() {
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
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
    admin
        .post("/attributes", &json!({"label": "Tier", "type": "text"}))
        .await
        .expect(201);
    let (contact, _) = api
        .ingest(&inbound(&org, "sms", "+1700", "c-1", "m-1"))
        .await;
    let reply = admin
        .raw_body(
            Method::PATCH,
            &format!("/contacts/{contact}"),
            br#"{"attributes": {"tier": "a", "tier": "b"}}"#,
        )
        .await;
    reply.expect_error(400, "bad_request");
    let reply = admin
        .raw_body(
            Method::POST,
            "/exports",
            br#"{"format": "csv", "filter": [true]}"#,
        )
        .await;
    reply.expect_error(400, "bad_request");
    assert_eq!(reply.field(), "filter");
}

#[tokio::test]
async fn error_messages_speak_of_fields_never_of_rust_types() {
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
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
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
    let reply = admin.post("/exports", &json!({"format": "xml"})).await;
    reply.expect_error(422, "validation_failed");
    assert_eq!(reply.field(), "format");
    let reply = admin
        .put(
            "/export-schedule",
            &json!({"cadence": "hourly", "hour_utc": 3, "format": "csv"}),
        )
        .await;
    reply.expect_error(422, "validation_failed");
    assert_eq!(reply.field(), "cadence");
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
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
    let (contact, conversation) = api
        .ingest(&inbound(&org, "sms", "+1800", "c-1", "m-1"))
        .await;
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
            let reply = admin.post(&path, &json!({"text": text})).await;
            reply.expect_error(422, "validation_failed");
            assert_eq!(reply.field(), "text", "{text:?}");
        }
    }
    let note = admin
        .post(
            &format!("/contacts/{contact}/notes"),
            &json!({"text": "line one\n\tline two"}),
        )
        .await
        .expect(201);
    assert_eq!(note["text"], "line one\n\tline two");
    admin
        .post(
            "/attributes",
            &json!({"label": "Customer ID", "type": "text"}),
        )
        .await
        .expect(201);
    for value in ["A\u{0}1", "A\n1", "=cmd\u{1b}", "\u{2066}x"] {
        let reply = admin
            .patch(
                &format!("/contacts/{contact}"),
                &json!({"attributes": {"customer_id": value}}),
            )
            .await;
        reply.expect_error(422, "validation_failed");
        assert_eq!(reply.field(), "attributes.customer_id", "{value:?}");
    }
    let reply = admin
        .post(
            "/attributes",
            &json!({"label": "Tier", "type": "dropdown", "options": ["Gold", "Sil\u{0}ver"]}),
        )
        .await;
    reply.expect_error(422, "validation_failed");
    assert_eq!(reply.field(), "options");
    let reply = admin
        .post("/attributes", &json!({"label": "\u{200B}", "type": "text"}))
        .await;
    reply.expect_error(422, "validation_failed");
    assert_eq!(reply.field(), "label");
    let reply = admin
        .post(
            "/attributes",
            &json!({"label": "Evil\u{202E}", "type": "text"}),
        )
        .await;
    reply.expect_error(422, "validation_failed");
    let view = admin.get(&format!("/contacts/{contact}")).await.expect(200);
    assert_eq!(view["version"], 1, "nothing was written");
}

// ---- 6. Paths and methods ----

#[tokio::test]
async fn a_conversation_id_with_reserved_characters_is_reached_percent_encoded() {
    let api = Api::new();
    let org = new_org();
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
    let messages = agent
        .get(&format!("/conversations/{encoded}/messages"))
        .await
        .expect(200);
    assert_eq!(messages["items"].as_array().unwrap().len(), 1);
    agent
        .post(
            &format!("/conversations/{encoded}/notes"),
            &json!({"text": "reached"}),
        )
        .await
        .expect(201);
    let notes = agent
        .get(&format!("/conversations/{encoded}/notes"))
        .await
        .expect(200);
    assert_eq!(notes["items"][0]["text"], "reached");
}

#[tokio::test]
async fn an_unsupported_method_is_405_with_allow_and_an_overlong_uri_is_414_with_a_body() {
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
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

// ---- 7. If-Match ----

#[tokio::test]
async fn vip_and_delete_honour_if_match() {
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "business").await;
    let (contact, _) = api
        .ingest(&inbound(&org, "sms", "+1900", "c-1", "m-1"))
        .await;
    let path = format!("/contacts/{contact}");
    let stale = [("if-match", "\"7\"")];
    admin
        .send_with(Method::PUT, &format!("{path}/vip"), &json!({}), &stale)
        .await
        .expect_error(412, "precondition_failed");
    assert_eq!(admin.get(&path).await.expect(200)["vip"], false);
    let current = [("if-match", "\"1\"")];
    let view = admin
        .send_with(Method::PUT, &format!("{path}/vip"), &json!({}), &current)
        .await
        .expect(200);
    assert_eq!(
        (view["vip"].clone(), view["version"].clone()),
        (json!(true), json!(2))
    );
    admin
        .send_with(Method::DELETE, &format!("{path}/vip"), &json!({}), &current)
        .await
        .expect_error(412, "precondition_failed");
    admin
        .send_with(Method::DELETE, &path, &json!({}), &current)
        .await
        .expect_error(412, "precondition_failed");
    admin.get(&path).await.expect(200);
    let reply = admin
        .send_with(Method::DELETE, &path, &json!({}), &[("if-match", "\"2\"")])
        .await;
    assert_eq!(reply.status, 204);
    admin.get(&path).await.expect_error(404, "not_found");
}

// ---- 8. Deleted means deleted at once ----

#[tokio::test]
async fn from_the_204_on_every_read_and_write_of_the_contacts_data_is_404() {
    let api = Api::new();
    let org = new_org();
    let (contact, conversation) = api
        .ingest(&inbound(&org, "sms", "+2000", "conv-x", "m-1"))
        .await;
    let agent = api.caller(&org, "agent", "business").await;
    let note = agent
        .post(&format!("/contacts/{contact}/notes"), &json!({"text": "a"}))
        .await
        .expect(201);
    let conversation_note = agent
        .post(
            &format!("/conversations/{conversation}/notes"),
            &json!({"text": "b"}),
        )
        .await
        .expect(201);
    let admin = api.caller(&org, "admin", "business").await;
    admin
        .delete(&format!("/contacts/{contact}"))
        .await
        .expect(204);
    let (n, cn) = (
        note["id"].as_str().unwrap(),
        conversation_note["id"].as_str().unwrap(),
    );
    let patch = json!({"text": "edited"});
    for (method, path, body) in [
        (
            Method::GET,
            format!("/conversations/{conversation}/messages"),
            None,
        ),
        (
            Method::GET,
            format!("/conversations/{conversation}/notes"),
            None,
        ),
        (
            Method::POST,
            format!("/conversations/{conversation}/notes"),
            Some(&patch),
        ),
        (
            Method::PATCH,
            format!("/conversations/{conversation}/notes/{cn}"),
            Some(&patch),
        ),
        (
            Method::DELETE,
            format!("/conversations/{conversation}/notes/{cn}"),
            None,
        ),
        (Method::GET, format!("/contacts/{contact}/notes"), None),
        (
            Method::PATCH,
            format!("/contacts/{contact}/notes/{n}"),
            Some(&patch),
        ),
        (
            Method::DELETE,
            format!("/contacts/{contact}/notes/{n}"),
            None,
        ),
        (
            Method::GET,
            format!("/contacts/{contact}/conversations"),
            None,
        ),
        (
            Method::PUT,
            format!("/contacts/{contact}/vip"),
            Some(&patch),
        ),
        (
            Method::PATCH,
            format!("/contacts/{contact}"),
            Some(&json!({"attributes": {}})),
        ),
    ] {
        let reply = agent.send(method.clone(), &path, body).await;
        assert_eq!(
            (reply.status.as_u16(), reply.code()),
            (404, "not_found"),
            "{method} {path}: {}",
            reply.body
        );
    }
}

#[tokio::test]
async fn the_purge_removes_the_idempotency_records_that_hold_a_contacts_data() {
    let api = Api::new();
    let org = new_org();
    let (contact, conversation) = api
        .ingest(&inbound(&org, "sms", "+2100", "conv-y", "m-1"))
        .await;
    let agent = api.caller(&org, "agent", "business").await;
    post_with_key(
        &agent,
        &format!("/contacts/{contact}/notes"),
        &json!({"text": "secret"}),
        "k-1",
    )
    .await
    .expect(201);
    post_with_key(
        &agent,
        &format!("/conversations/{conversation}/notes"),
        &json!({"text": "secret too"}),
        "k-2",
    )
    .await
    .expect(201);
    let (client, table) = api_tests::raw_dynamodb().await;
    let index_pk = format!("ORG#{org}#IDEMOF#{contact}");
    let records = || async {
        client
            .query()
            .table_name(&table)
            .index_name("GSI1")
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S(index_pk.clone()),
            )
            .send()
            .await
            .expect("query")
            .count()
    };
    assert_eq!(records().await, 2);
    let admin = api.caller(&org, "admin", "business").await;
    admin
        .delete(&format!("/contacts/{contact}"))
        .await
        .expect(204);
    for _ in 0..150 {
        if records().await == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the idempotency records holding note text were not purged within 15 s");
}

// ---- 9. Attachments only from the org's incoming prefix ----

#[tokio::test]
async fn an_attachment_key_outside_the_orgs_incoming_prefix_is_refused() {
    let api = Api::new();
    let org = new_org();
    for key in [
        "incoming/someone-else/x.png".to_owned(),
        format!("incoming/{org}/../../exports/{org}/e/attempt-1.csv"),
        format!("exports/{org}/e/attempt-1.csv"),
        format!("attachments/{org}/c/m/a"),
        format!("incoming/{org}/"),
    ] {
        let mut message = inbound(&org, "sms", "+2200", "c-1", "m-1");
        message["message"]["attachments"] =
            json!([{"id": "a", "content_type": "image/png", "s3_key": key}]);
        api.inbound(&message).await.expect_error(400, "bad_request");
    }
}

// ---- 10. Concurrent writers of different fields all succeed ----

#[tokio::test]
async fn sixteen_agents_editing_different_attributes_of_one_contact_all_succeed() {
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "business").await;
    for n in 0..16 {
        admin
            .post(
                "/attributes",
                &json!({"label": format!("Field {n}"), "type": "text"}),
            )
            .await
            .expect(201);
    }
    let (contact, _) = api
        .ingest(&inbound(&org, "sms", "+2300", "c-1", "m-1"))
        .await;
    let mut agents = Vec::new();
    for n in 0..16 {
        agents.push(
            api.caller_as(&org, "agent", "business", &format!("agent-{n}"))
                .await,
        );
    }
    let path = format!("/contacts/{contact}");
    let edits = agents.iter().enumerate().map(|(n, agent)| {
        let path = path.clone();
        async move {
            agent
                .patch(
                    &path,
                    &json!({"attributes": {format!("field_{n}"): format!("v{n}")}}),
                )
                .await
        }
    });
    let replies = futures::future::join_all(edits).await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let view = admin.get(&path).await.expect(200);
    assert_eq!(view["version"], 17);
    for n in 0..16 {
        let value = view["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == format!("field_{n}"))
            .unwrap()["value"]
            .clone();
        assert_eq!(value, format!("v{n}"));
    }
    // If-Match stays exact: a writer holding version 1 is refused, and nothing changes.
    admin
        .send_with(
            Method::PATCH,
            &path,
            &json!({"attributes": {"field_0": "stale"}}),
            &[("if-match", "\"1\"")],
        )
        .await
        .expect_error(412, "precondition_failed");
    let after = admin.get(&path).await.expect(200);
    assert_eq!(after["version"], 17);
}
