//! A DynamoDB brownout loses nothing: with 5% of an org's DynamoDB requests failing (half
//! throttled, half 500s, injected by the local runtime before they are sent), a client that
//! retries a 5xx with the same request ends with every message once, every edit whole, every
//! note once, every deleted contact audited once and unreadable, and a finished export.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Caller, Reply, define, eventually, fresh, inbound};
use reqwest::Method;
use serde_json::{Value, json};

/// The share of the org's DynamoDB requests that fail.
const BROWNOUT: f64 = 0.05;
/// How often the client sends one request while the answer is a 5xx.
const CLIENT_TRIES: usize = 6;

/// Sends until the answer is not a 5xx, as a careful client does (same body, same headers).
async fn retried<F, Fut>(what: &str, mut send: F) -> Reply
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    for _ in 0..CLIENT_TRIES {
        let reply = send().await;
        if !reply.status.is_server_error() {
            return reply;
        }
    }
    panic!("{what} failed {CLIENT_TRIES} times in a row");
}

/// One text field of every item of a list, sorted.
fn sorted(list: &Value, field: &str) -> Vec<String> {
    let mut values = api_tests::column(&list["items"], field);
    values.sort_unstable();
    values
}

async fn send(caller: &Caller, method: Method, path: &str, body: Value, key: &str) -> Reply {
    let headers: &[(&str, &str)] = if key.is_empty() {
        &[]
    } else {
        &[("Idempotency-Key", key)]
    };
    retried(&format!("{method} {path}"), || {
        caller.send_with(method.clone(), path, &body, headers)
    })
    .await
}

#[tokio::test]
async fn a_brownout_of_dynamodb_loses_and_doubles_nothing() {
    let (api, org) = fresh();
    let before = api.brownout(&org, BROWNOUT).await;
    let admin = api.caller(&org, "admin", "enterprise").await;
    let agent = api.caller(&org, "agent", "enterprise").await;
    define(
        &admin,
        &[
            json!({"label": "Customer ID", "type": "text"}),
            json!({"label": "Tier", "type": "dropdown", "options": ["Gold", "Silver"]}),
        ],
    )
    .await;

    // Ten people, three messages each; every message is handed over until it is taken (a
    // redelivery of the same message, as the queue would).
    let mut contacts = Vec::new();
    let mut conversations = Vec::new();
    for person in 0..10 {
        let mut contact = None;
        for n in 0..3 {
            let mut message = inbound(
                &org,
                "whatsapp",
                &format!("+1555000{person:02}"),
                &format!("conv-{person}"),
                &format!("m-{person}-{n}"),
            );
            message["message"]["sent_at"] = json!(format!("2026-01-01T10:0{n}:00Z"));
            let reply = retried("an inbound message", || api.inbound(&message))
                .await
                .expect(200);
            contact = Some(reply["contact_id"].as_str().unwrap().to_owned());
        }
        contacts.push(contact.unwrap());
        conversations.push(format!("conv-{person}"));
    }

    for (n, contact) in contacts.iter().enumerate() {
        let path = format!("/contacts/{contact}");
        let edit = json!({"attributes": {"customer_id": format!("C-{n}"), "tier": "Gold"}});
        send(&agent, Method::PATCH, &path, edit, "")
            .await
            .expect(200);
        for note in 0..2 {
            let body = json!({"text": format!("note {note} on {n}")});
            let key = format!("note-{n}-{note}");
            send(&agent, Method::POST, &format!("{path}/notes"), body, &key)
                .await
                .expect(201);
        }
    }

    // Three deletions; a retry after a 5xx may find the contact already gone.
    let deleted = &contacts[..3];
    for contact in deleted {
        let reply = send(
            &admin,
            Method::DELETE,
            &format!("/contacts/{contact}"),
            Value::Null,
            "",
        )
        .await;
        assert!(
            matches!(reply.status.as_u16(), 204 | 404),
            "{}",
            reply.status
        );
    }

    let job = send(
        &admin,
        Method::POST,
        "/exports",
        json!({"format": "jsonl"}),
        "export-1",
    )
    .await
    .expect(202);
    let export = eventually("the export finishing", || async {
        let job = send(
            &admin,
            Method::GET,
            &format!("/exports/{}", job["id"].as_str().unwrap()),
            Value::Null,
            "",
        )
        .await
        .expect(200);
        (job["status"] == "succeeded" || job["status"] == "failed").then_some(job)
    })
    .await;

    let after = api.brownout(&org, 0.0).await;
    // This org's own failures: under LOCAL_DYNAMODB_FAILURES every org fails some.
    let failed = after["org_failed"].as_u64().unwrap() - before["org_failed"].as_u64().unwrap();
    assert!(
        failed >= 5,
        "the brownout failed {failed} requests: too few to mean anything"
    );

    assert_eq!(export["status"], "succeeded", "{export}");
    assert_eq!(export["rows"], 7, "every contact left, once: {export}");
    let log = admin.get("/deleted-contacts").await.expect(200);
    let mut expected = deleted.to_vec();
    expected.sort_unstable();
    assert_eq!(
        sorted(&log, "contact_id"),
        expected,
        "one audit record per deleted contact"
    );
    for (n, contact) in contacts.iter().enumerate() {
        let path = format!("/contacts/{contact}");
        let messages = format!("/conversations/{}/messages", conversations[n]);
        if deleted.contains(contact) {
            agent.get(&path).await.expect_error(404, "not_found");
            agent
                .get(&format!("{path}/notes"))
                .await
                .expect_error(404, "not_found");
            eventually("a deleted contact's history purged", || async {
                (agent.get(&messages).await.status == 404).then_some(())
            })
            .await;
            continue;
        }
        let view = agent.get(&path).await.expect(200);
        let value = |key: &str| api_tests::entry(&view, key).map(|a| a["value"].clone());
        assert_eq!(
            value("customer_id"),
            Some(json!(format!("C-{n}"))),
            "{view}"
        );
        assert_eq!(value("tier"), Some(json!("Gold")), "{view}");
        let notes = agent.get(&format!("{path}/notes")).await.expect(200);
        let texts = sorted(&notes, "text");
        assert_eq!(
            texts,
            [format!("note 0 on {n}"), format!("note 1 on {n}")],
            "each note once"
        );
        let history = agent.get(&messages).await.expect(200);
        let ids = sorted(&history, "id");
        assert_eq!(
            ids,
            [format!("m-{n}-0"), format!("m-{n}-1"), format!("m-{n}-2")],
            "each message once"
        );
    }
}
