//! Hostile input, continued: cursors bound to their list, and the role/plan matrix route by
//! route.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Api, inbound, new_org};
use reqwest::Method;
use serde_json::{Value, json};
use shared::cursor::{ListScope, encode};
use shared::ids::OrgId;

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
    api.contact_from(&org, "sms", "+1600", "conv-b").await;
    let other_contact = api.contact_from(&org, "sms", "+1601", "conv-c").await;
    for id in [&contact, &other_contact] {
        admin
            .put(&format!("/contacts/{id}/vip"), &json!({}))
            .await
            .expect(200);
        for text in ["one", "two"] {
            admin.note(&format!("/contacts/{id}/notes"), text).await;
        }
    }
    for text in ["one", "two"] {
        admin
            .note(&format!("/conversations/{conversation}/notes"), text)
            .await;
        admin
            .post("/exports", &json!({"format": "csv"}))
            .await
            .expect(202);
    }
    // Three contacts share a matching value: each is linked to two.
    admin
        .create_attribute(&json!({"key": "customer_id", "label": "Customer ID", "type": "text"}))
        .await;
    admin
        .set_settings(&json!({"matching_attribute": "customer_id"}))
        .await;
    let third = api.contact_from(&org, "sms", "+1602", "conv-d").await;
    for id in [&contact, &other_contact, &third] {
        admin
            .edit(id, json!({"customer_id": "C-1"}))
            .await
            .expect(200);
    }
    for _ in 0..2 {
        let gone = api.contact_from(&org, "email", &uuid(), &uuid()).await;
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
            format!("/contacts/{c}/linked"),
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
        admin
            .get(&format!("{path}?cursor={cursor}"))
            .await
            .expect_error_at(400, "bad_request", "cursor");
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
    /// People and automation clients.
    Everyone,
    /// Admins and agents.
    People,
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
    // The capability table of API.md, one line per route: `{c}`, `{v}` and `{n}` stand for a
    // contact, a conversation and a note or export that do not exist.
    let matrix: Vec<(Method, String, Who, Plans)> = [
        ("GET /settings", People, All),
        ("PATCH /settings", Admins, All),
        ("GET /attributes", People, All),
        ("POST /attributes", Admins, All),
        ("PUT /attributes/order", Admins, All),
        ("PATCH /attributes/nothing", Admins, All),
        ("DELETE /attributes/nothing", Admins, All),
        ("GET /contacts", Everyone, All),
        ("GET /contacts?vip=true", Everyone, Paid),
        ("GET /contacts/{c}", Everyone, All),
        ("PATCH /contacts/{c}", Everyone, Paid),
        ("GET /contacts/{c}/conversations", Everyone, All),
        ("GET /contacts/{c}/linked", Everyone, All),
        ("GET /conversations/{v}/messages", Everyone, All),
        ("PUT /contacts/{c}/vip", Everyone, Paid),
        ("DELETE /contacts/{c}/vip", Everyone, Paid),
        ("GET /contacts/{c}/notes", People, All),
        ("POST /contacts/{c}/notes", People, Paid),
        ("PATCH /contacts/{c}/notes/{n}", People, Paid),
        ("DELETE /contacts/{c}/notes/{n}", People, Paid),
        ("GET /conversations/{v}/notes", People, All),
        ("POST /conversations/{v}/notes", People, Paid),
        ("PATCH /conversations/{v}/notes/{n}", People, Paid),
        ("DELETE /conversations/{v}/notes/{n}", People, Paid),
        ("PATCH /conversations/{v}", Everyone, All),
        ("DELETE /contacts/{c}", Admins, All),
        ("GET /deleted-contacts", Admins, All),
        ("POST /exports", Admins, Enterprise),
        ("GET /exports", Admins, Enterprise),
        ("GET /exports/{n}", Admins, Enterprise),
        ("GET /export-schedule", Admins, Enterprise),
        ("PUT /export-schedule", Admins, Enterprise),
        ("PUT /crm", Admins, Enterprise),
        ("GET /crm", Admins, Enterprise),
        ("DELETE /crm", Admins, Enterprise),
        ("POST /crm/rotate-secret", Admins, Enterprise),
        ("POST /crm/test", Admins, Enterprise),
        ("POST /contacts/{c}/crm-lookup", People, Enterprise),
    ]
    .into_iter()
    .map(|(route, who, plans)| {
        let (method, template) = route.split_once(' ').unwrap();
        let path = template
            .replace("{c}", "00000000-0000-7000-8000-000000000000")
            .replace("{v}", "no-such-conversation")
            .replace("{n}", "00000000-0000-7000-8000-000000000001");
        (method.parse().unwrap(), path, who, plans)
    })
    .collect();
    let mut checked = 0;
    for role in ["admin", "agent", "automation"] {
        for plan in ["team", "business", "enterprise"] {
            let caller = api.caller(&org, role, plan).await;
            for (method, path, who, plans) in &matrix {
                let role_ok = match who {
                    Everyone => true,
                    People => role != "automation",
                    Admins => role == "admin",
                };
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
                    // Allowed: the route ran and answered what it answers to this request (the
                    // page, the refused body, or nothing by that id), never a failure.
                    assert!(matches!(reply.status.as_u16(), 200 | 400 | 404), "{what}");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 9 * matrix.len());
    // Nothing a refused or malformed call sent was written.
    let admin = api.caller(&org, "admin", "enterprise").await;
    assert_eq!(admin.count("/exports").await, 0);
    admin.get("/crm").await.expect_error(404, "not_found");
    assert_eq!(
        admin.get("/settings").await.expect(200)["matching_attribute"],
        Value::Null
    );
}
