//! The CRM connection through the local runtime, against the demo CRM: connecting, the secret
//! shown once, URL rules, signed calls, manual lookups that validate a contact and fill its
//! CRM-managed values, failures, the breaker, rotation and disconnecting.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{
    DemoCrm, Request, connect_demo_crm, entry, fresh, fresh_as, inbound, looked_up, new_org,
};
use serde_json::{Value, json};

#[tokio::test]
async fn an_admin_connects_the_crm_and_sees_the_secret_once() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    let crm = DemoCrm::for_org(&org);
    admin.get("/crm").await.expect_error(404, "not_found");

    let created = admin
        .put(
            "/crm",
            &json!({"lookup_url": crm.lookup_url, "lookup_ttl_minutes": 60}),
        )
        .await
        .expect(200);
    let secret = created["signing_secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 6 + 44,
        "{secret}"
    );
    assert_eq!(created["secret_hint"], secret[secret.len() - 4..]);

    let read = admin.get("/crm").await.expect(200);
    assert!(read.get("signing_secret").is_none(), "shown only once");
    assert_eq!(read["lookup_ttl_minutes"], 60);
    assert_eq!(read["state"], "healthy");
    assert_eq!(read["writeback_url"], Value::Null);

    let changed = admin
        .put("/crm", &json!({"lookup_url": crm.lookup_url}))
        .await
        .expect(200);
    assert!(changed.get("signing_secret").is_none());
    assert_eq!(
        changed["secret_hint"], read["secret_hint"],
        "the secret is kept"
    );
    assert_eq!(changed["lookup_ttl_minutes"], 1440);

    for (role, plan, code) in [
        ("agent", "enterprise", "forbidden"),
        ("admin", "business", "plan_required"),
    ] {
        let other = api.caller(&org, role, plan).await;
        other.get("/crm").await.expect_error(403, code);
        other
            .put("/crm", &json!({"lookup_url": crm.lookup_url}))
            .await
            .expect_error(403, code);
        other.delete("/crm").await.expect_error(403, code);
    }
    let foreign = api.caller(&new_org(), "admin", "enterprise").await;
    let missing = [Request::get("/crm"), Request::delete("/crm")];
    foreign.expect_each_error(404, "not_found", &missing).await;

    admin.delete("/crm").await.expect(204);
    admin.get("/crm").await.expect_error(404, "not_found");
}

#[tokio::test]
async fn crm_urls_must_be_public_https_without_user_info() {
    let (_, _, admin) = fresh_as("admin", "enterprise").await;
    for (body, field) in [
        (
            json!({"lookup_url": "http://crm.example.com/lookup"}),
            "lookup_url",
        ),
        (
            json!({"lookup_url": "https://10.0.0.8/lookup"}),
            "lookup_url",
        ),
        (
            json!({"lookup_url": "https://169.254.169.254/latest"}),
            "lookup_url",
        ),
        (json!({"lookup_url": "https://[::1]/lookup"}), "lookup_url"),
        (
            json!({"lookup_url": "https://u:p@crm.example.com/"}),
            "lookup_url",
        ),
        (
            json!({"lookup_url": "http://127.0.0.1/lookup"}),
            "lookup_url",
        ),
        (
            json!({"lookup_url": "https://crm.example.com/", "writeback_url": "https://192.168.0.1/"}),
            "writeback_url",
        ),
        (
            json!({"lookup_url": "https://crm.example.com/", "lookup_ttl_minutes": 0}),
            "lookup_ttl_minutes",
        ),
    ] {
        admin
            .put("/crm", &body)
            .await
            .expect_error_at(422, "validation_failed", field);
    }
    admin.get("/crm").await.expect_error(404, "not_found");
}

#[tokio::test]
async fn a_manual_lookup_validates_the_contact_and_fills_its_crm_managed_values() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    let agent = api.caller(&org, "agent", "enterprise").await;
    let definitions = [
        json!({"label": "Account", "type": "text", "crm_managed": true}),
        json!({"label": "Tier", "type": "dropdown", "options": ["Gold", "Silver"], "crm_managed": true}),
        json!({"label": "Notes field", "type": "text"}),
    ];
    api_tests::define(&admin, &definitions).await;
    let contact = api.contact_from(&org, "whatsapp", "+351911", "c1").await;
    agent
        .post(&format!("/contacts/{contact}/crm-lookup"), &json!({}))
        .await
        .expect_error(409, "conflict");
    let before = agent.view(&contact).await;
    assert_eq!(before["crm"], Value::Null, "no connection, no CRM state");

    let crm = DemoCrm::for_org(&org);
    let records = json!([{"match": "+351911", "id": "R-42", "url": "https://crm.example/R-42",
        "attributes": {"account": "ACME", "tier": "Platinum", "notes_field": "x", "unknown": "y"}}]);
    connect_demo_crm(&admin, &crm, records, "answer").await;
    let view = agent.view(&contact).await;
    assert_eq!(view["crm"]["status"], "never");
    assert_eq!(view["validated"], false);

    let view = looked_up(&agent, &contact).await;
    assert_eq!(view["crm"]["status"], "found", "{view}");
    assert_eq!(view["crm"]["record_id"], "R-42");
    assert_eq!(view["crm"]["record_url"], "https://crm.example/R-42");
    assert!(view["crm"]["last_lookup_at"].is_string());
    assert_eq!(view["validated"], true);
    agent
        .list_when("/contacts", "the list agreeing", |page| {
            page["items"][0]["validated"] == true
        })
        .await;
    // A lookup retried with the same key answers what the first did and looks up once.
    let (path, calls) = (
        format!("/contacts/{contact}/crm-lookup"),
        crm.calls().await.len(),
    );
    let first = agent.post_with_key(&path, &json!({}), "lookup-1").await;
    let again = agent.post_with_key(&path, &json!({}), "lookup-1").await;
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.expect(202), first.expect(202));
    agent
        .view_when(&contact, "the lookup finishing", |v| {
            v["crm"]["status"] != "pending"
        })
        .await;
    assert_eq!(crm.calls().await.len(), calls + 1, "looked up once");
    assert_eq!(entry(&view, "account").unwrap()["value"], "ACME");
    assert_eq!(
        entry(&view, "tier").unwrap()["value"],
        Value::Null,
        "a value outside the options is ignored"
    );
    assert_eq!(
        entry(&view, "notes_field").unwrap()["value"],
        Value::Null,
        "only CRM-managed attributes are filled"
    );

    let calls = crm.calls().await;
    let call = calls.last().unwrap();
    assert_eq!(call["verified"], true, "signed with the org's secret");
    assert_eq!(call["body"]["type"], "contact.lookup");
    assert_eq!(call["body"]["contact"]["id"], contact);
    assert_eq!(
        call["body"]["contact"]["identities"][0]["user_id"],
        "+351911"
    );

    // Disconnecting un-validates every contact at once.
    admin.delete("/crm").await.expect(204);
    let view = agent.view(&contact).await;
    assert_eq!(view["validated"], false);
    assert_eq!(view["crm"], Value::Null);
    agent
        .list_when("/contacts", "the list agreeing", |page| {
            page["items"][0]["validated"] == false
        })
        .await;

    // A new connection starts from "never": what the old one found does not count.
    connect_demo_crm(&admin, &crm, json!([]), "answer").await;
    let view = agent.view(&contact).await;
    assert_eq!(view["crm"]["status"], "never");
    assert_eq!(view["validated"], false);
    let view = looked_up(&agent, &contact).await;
    assert_eq!(view["crm"]["status"], "not_found");
    assert_eq!(view["validated"], false);
}

#[tokio::test]
async fn a_record_whose_id_or_link_cannot_be_shown_makes_the_lookup_an_error() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    let agent = api.caller(&org, "agent", "enterprise").await;
    let crm = DemoCrm::for_org(&org);
    let hostile_id = format!("R\u{0}{}", "\u{7}".repeat(6000));
    let cases = [
        (
            "+351921",
            json!({"id": "R-1", "url": "javascript:alert(document.cookie)"}),
            "url",
        ),
        (
            "+351922",
            json!({"id": "R-2", "url": "http://crm.example/R-2"}),
            "url",
        ),
        (
            "+351923",
            json!({"id": "R-3", "url": format!("https://crm.example/{}", "a".repeat(2048))}),
            "url",
        ),
        ("+351924", json!({"id": hostile_id}), "id"),
        ("+351925", json!({"id": "x".repeat(257)}), "id"),
    ];
    let records: Vec<Value> = cases
        .iter()
        .map(|(phone, record, _)| {
            let mut record = record.clone();
            record["match"] = json!(phone);
            record
        })
        .collect();
    connect_demo_crm(&admin, &crm, json!(records), "answer").await;
    for (phone, _, field) in cases {
        let contact = api.contact_from(&org, "whatsapp", phone, phone).await;
        let view = looked_up(&agent, &contact).await;
        assert_eq!(view["crm"]["status"], "error", "{phone}");
        assert_eq!(
            (
                view["crm"]["record_id"].clone(),
                view["crm"]["record_url"].clone()
            ),
            (Value::Null, Value::Null),
            "{phone}: nothing of the record is kept"
        );
        let error = view["crm"]["error"].as_str().unwrap();
        assert!(
            error.contains(&format!("record's {field}")),
            "{phone}: {error}"
        );
        assert_eq!(view["validated"], false);
    }
}

#[tokio::test]
async fn a_crm_value_of_the_matching_attribute_links_the_contact_and_its_history() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    let agent = api.caller(&org, "agent", "enterprise").await;
    admin
        .create_attribute(&json!({"label": "Account", "type": "text", "crm_managed": true}))
        .await;
    admin
        .set_settings(&json!({"matching_attribute": "account"}))
        .await;
    let crm = DemoCrm::for_org(&org);
    let records = json!([
        {"match": "+351931", "id": "R-1", "attributes": {"account": "ACME"}},
        {"match": "+351932", "id": "R-2", "attributes": {"account": " acme "}},
    ]);
    connect_demo_crm(&admin, &crm, records, "answer").await;
    let ana = api.contact_from(&org, "whatsapp", "+351931", "wa-1").await;
    let bea = api.contact_from(&org, "sms", "+351932", "sms-1").await;
    for contact in [&ana, &bea] {
        looked_up(&agent, contact).await;
    }
    agent
        .view_when(&ana, "the CRM's value linking", |v| {
            v["linked_contact_ids"] == json!([bea])
        })
        .await;
    agent
        .history_when(&ana, 10, "the group's history", |ids| {
            let mut ids = ids.to_vec();
            ids.sort();
            ids == ["sms-1", "wa-1"]
        })
        .await;
}

#[tokio::test]
async fn lookups_need_an_enterprise_caller_of_the_contacts_org() {
    let (api, org) = fresh();
    let contact = api.contact_from(&org, "sms", "+351922", "c1").await;
    let path = format!("/contacts/{contact}/crm-lookup");
    api.caller(&org, "agent", "business")
        .await
        .post(&path, &json!({}))
        .await
        .expect_error(403, "plan_required");
    api.caller(&new_org(), "agent", "enterprise")
        .await
        .post(&path, &json!({}))
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn failed_lookups_are_recorded_and_five_in_a_row_pause_calls() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    let crm = DemoCrm::for_org(&org);
    let contact = api.contact_from(&org, "sms", "+351933", "c1").await;
    connect_demo_crm(&admin, &crm, json!([]), "status_500").await;
    for _ in 0..5 {
        let view = looked_up(&admin, &contact).await;
        assert_eq!(view["crm"]["status"], "error");
        assert_eq!(view["crm"]["error"], "answered HTTP 500");
        assert_eq!(view["validated"], false);
    }
    let health = admin.get("/crm").await.expect(200);
    assert_eq!(health["state"], "failing");
    assert_eq!(health["consecutive_failures"], 5);
    assert_eq!(health["last_error"]["message"], "answered HTTP 500");

    let calls_before = crm.calls().await.len();
    assert_eq!(calls_before, 5, "each failing lookup reached the CRM");
    let view = looked_up(&admin, &contact).await;
    assert_eq!(view["crm"]["status"], "error");
    assert!(
        view["crm"]["error"].as_str().unwrap().contains("paused"),
        "{view}"
    );
    let tested = admin.post("/crm/test", &json!({})).await.expect(200);
    assert_eq!(
        tested,
        json!({"ok": false, "status": null, "latency_ms": 0,
               "error": "calls to the CRM are paused after repeated failures"}),
        "a test waits out the pause like every call"
    );
    assert_eq!(
        crm.calls().await.len(),
        calls_before,
        "no call while paused"
    );
}

#[tokio::test]
async fn the_test_route_reports_what_the_endpoint_did_in_a_few_fixed_words() {
    let (_, org, admin) = fresh_as("admin", "enterprise").await;
    let crm = DemoCrm::for_org(&org);
    let secret = connect_demo_crm(&admin, &crm, json!([]), "answer").await;
    let ok = admin.post("/crm/test", &json!({})).await.expect(200);
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["status"], 200);
    assert!(ok["latency_ms"].is_u64());
    assert_eq!(crm.calls().await.last().unwrap()["body"]["type"], "ping");

    let failing = [
        ("not_json", json!(200), "the reply is not JSON"),
        ("redirect", json!(302), "answered HTTP 302"),
        ("oversized", json!(200), "the reply is over 256 KiB"),
        ("status_500", json!(500), "answered HTTP 500"),
    ];
    for (behaviour, status, error) in failing {
        crm.set(json!({"secrets": [secret], "behaviour": behaviour}))
            .await;
        let result = admin.post("/crm/test", &json!({})).await.expect(200);
        assert_eq!(result["ok"], false, "{behaviour}");
        assert_eq!(result["status"], status, "{behaviour}");
        assert_eq!(result["error"], error, "{behaviour}");
    }
    assert_eq!(
        admin.get("/crm").await.expect(200)["consecutive_failures"],
        4
    );

    // The admin fixes the endpoint: a test that succeeds makes the connection healthy at once.
    crm.set(json!({"secrets": [secret]})).await;
    assert_eq!(
        admin.post("/crm/test", &json!({})).await.expect(200)["ok"],
        true
    );
    let health = admin.get("/crm").await.expect(200);
    assert_eq!(
        (
            health["state"].clone(),
            health["consecutive_failures"].clone()
        ),
        (json!("healthy"), json!(0))
    );

    // A secret the CRM does not hold: the call is refused there.
    crm.set(json!({"secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}))
        .await;
    let refused = admin.post("/crm/test", &json!({})).await.expect(200);
    assert_eq!(refused["status"], 401);

    crm.set(json!({"secrets": [secret], "behaviour": "slow"}))
        .await;
    let slow = admin.post("/crm/test", &json!({})).await.expect(200);
    assert_eq!(
        (slow["status"].clone(), slow["error"].clone()),
        (Value::Null, json!("no answer within 3 s"))
    );

    // A port nothing listens on: what the connect error said stays in the log.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}/lookup");
    admin
        .put("/crm", &json!({"lookup_url": url}))
        .await
        .expect(200);
    let unreachable = admin.post("/crm/test", &json!({})).await.expect(200);
    assert_eq!(
        unreachable,
        json!({"ok": false, "status": null, "latency_ms": unreachable["latency_ms"],
               "error": "could not connect: the connection was refused"})
    );
}

#[tokio::test]
async fn after_a_rotation_calls_carry_both_signatures_for_a_day() {
    let (_, org, admin) = fresh_as("admin", "enterprise").await;
    let crm = DemoCrm::for_org(&org);
    let old = connect_demo_crm(&admin, &crm, json!([]), "answer").await;
    let rotated = admin
        .post("/crm/rotate-secret", &json!({}))
        .await
        .expect(200);
    let new = rotated["signing_secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        admin.get("/crm").await.expect(200)["secret_hint"],
        new[new.len() - 4..]
    );
    for secrets in [json!([old]), json!([new])] {
        crm.set(json!({"secrets": secrets})).await;
        let result = admin.post("/crm/test", &json!({})).await.expect(200);
        assert_eq!(
            result["ok"], true,
            "either secret verifies during the rotation"
        );
        let call = crm.calls().await.pop().unwrap();
        assert_eq!(call["signatures"], 2);
    }
}

#[tokio::test]
async fn a_retried_rotation_answers_the_same_secret_rotates_once_and_stores_it_sealed() {
    let (_, org, admin) = fresh_as("admin", "enterprise").await;
    let crm = DemoCrm::for_org(&org);
    let old = connect_demo_crm(&admin, &crm, json!([]), "answer").await;
    let first = admin
        .post_with_key("/crm/rotate-secret", &json!({}), "rotate-1")
        .await
        .expect(200);
    let again = admin
        .post_with_key("/crm/rotate-secret", &json!({}), "rotate-1")
        .await;
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let secret = first["signing_secret"].as_str().unwrap().to_owned();
    assert_eq!(again.expect(200)["signing_secret"], secret);
    // Rotated once: the secret the customer had is still the one retiring.
    crm.set(json!({"secrets": [old]})).await;
    let result = admin.post("/crm/test", &json!({})).await.expect(200);
    assert_eq!(result["ok"], true, "the first secret still verifies");

    let (dynamodb, table) = api_tests::raw_dynamodb().await;
    let records: Vec<String> = dynamodb
        .scan()
        .table_name(table)
        .filter_expression("begins_with(PK, :idem)")
        .expression_attribute_values(
            ":idem",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ORG#{org}#IDEM#")),
        )
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .map(|item| format!("{item:?}"))
        .collect();
    assert_eq!(records.len(), 1, "one record for the rotation");
    assert!(records[0].contains("sealed:"), "{}", records[0]);
    assert!(!records[0].contains(&secret), "never the secret in clear");
    assert!(!records[0].contains(&secret["whsec_".len()..]));
}

#[tokio::test]
async fn contacts_are_looked_up_when_they_arrive_and_when_a_lookup_value_changes() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    let agent = api.caller(&org, "agent", "enterprise").await;
    admin
        .patch("/attributes/phone", &json!({"lookup": true}))
        .await
        .expect(200);
    admin
        .create_attribute(&json!({"label": "Customer number", "type": "text", "lookup": true}))
        .await;
    let crm = DemoCrm::for_org(&org);
    let records = json!([
        {"match": "+351 966 000 000", "id": "R-PHONE"},
        {"match": "C-77", "id": "R-NUMBER"},
    ]);
    connect_demo_crm(&admin, &crm, records, "answer").await;

    // A new contact with a lookup value (the phone its channel gives) is looked up unasked.
    let mut message = inbound(&org, "whatsapp", "+351966", "c1", "m1");
    message["sender"]["attributes"] = json!({"phone": "+351 966 000 000"});
    let contact = api.contact_of(&message).await;
    let view = agent
        .view_when(&contact, "the first lookup", |view| {
            view["crm"]["record_id"] == "R-PHONE"
        })
        .await;
    assert_eq!(view["validated"], true);
    let call = crm.calls().await.pop().unwrap();
    assert_eq!(call["body"]["lookup"], json!({"phone": "+351 966 000 000"}));

    // An agent changing a lookup value looks the contact up again, with every lookup value:
    // now two records answer.
    agent
        .edit(&contact, json!({"customer_number": "C-77"}))
        .await
        .expect(200);
    let view = agent
        .view_when(&contact, "a second lookup", |view| {
            view["crm"]["status"] == "multiple"
        })
        .await;
    assert_eq!(view["validated"], false, "two records are not one person");
    let call = crm.calls().await.pop().unwrap();
    assert_eq!(
        call["body"]["lookup"],
        json!({"phone": "+351 966 000 000", "customer_number": "C-77"})
    );
}
