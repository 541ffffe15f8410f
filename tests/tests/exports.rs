//! Exports and the export schedule through the local runtime: the worker runs from the real
//! local queue, files come back through their presigned links.
//! A test that fires the hourly trigger (which starts every org's due schedule) works in a week
//! of its own (`shared::testing::own_week`) and counts only the jobs its firings started.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::HashMap;

use api_tests::{Api, Request, assert_fields, fresh_as, inbound, new_org};
use reqwest::Method;
use serde_json::{Value, json};

fn csv_table(bytes: &[u8]) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let mut reader = csv::Reader::from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, rows)
}

/// An org with a custom attribute shown first and switched off, and three contacts: one with
/// formula-like values, one with a name that needs quoting, one VIP.
struct Fixture {
    org: String,
    evil: String,
    quoted: String,
    vip: String,
}

async fn fixture(api: &Api) -> Fixture {
    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
    admin.define_text("Tier").await;
    let mut order = api_tests::keys(&admin.get("/attributes").await.expect(200));
    order.retain(|k| k != "tier");
    order.insert(0, "tier".into());
    admin
        .put("/attributes/order", &json!({"keys": order}))
        .await
        .expect(200);

    let mut message = inbound(&org, "x_dm", "1", "c1", "m1");
    message["sender"]["name"] = json!("=SUM(A1:A9)");
    message["sender"]["handle"] = json!("@evil");
    message["sender"]["attributes"] = json!({"followers": "+100", "bio": "-rich, \"quoted\""});
    let evil = api.contact_of(&message).await;
    let mut message = inbound(&org, "whatsapp", "+2", "c2", "m2");
    message["sender"]["name"] = json!("Lima, \"Ana\"\nZoë 🌵");
    message["sender"]["handle"] = json!(null);
    let quoted = api.contact_of(&message).await;
    let vip = api.contact_from(&org, "sms", "+3", "c3").await;

    admin
        .edit(&evil, json!({"tier": "=HYPERLINK(\"http://x\")"}))
        .await
        .expect(200);
    admin.make_vip(&vip).await;
    admin
        .patch("/attributes/tier", &json!({"enabled": false}))
        .await
        .expect(200);
    Fixture {
        org,
        evil,
        quoted,
        vip,
    }
}

/// The contract's first columns (API.md), spelled here rather than taken from the code it checks.
const CONTACT_COLUMNS: &str = "contact_id,name,handle,network,vip,validated,created_at,updated_at";

#[tokio::test]
async fn a_csv_export_holds_every_contact_in_display_order_with_formulas_neutralised() {
    let api = Api::new();
    let f = fixture(&api).await;
    let admin = api.caller(&f.org, "admin", "enterprise").await;

    let job = admin
        .post("/exports", &json!({"format": "csv"}))
        .await
        .expect(202);
    assert_fields(
        &job,
        json!({"type": "contact_attributes", "format": "csv", "trigger": "manual", "rows": 0, "download_url": null, "completed_at": null, "error": null}),
    );
    assert!(["queued", "running", "succeeded"].contains(&job["status"].as_str().unwrap()));
    let done = admin.finished_export(job["id"].as_str().unwrap()).await;
    assert_eq!(
        (done["status"].clone(), done["rows"].clone()),
        (json!("succeeded"), json!(3))
    );
    assert!(done["completed_at"].is_string());

    let (status, bytes) = api.download(done["download_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert!(
        !bytes.starts_with(b"\xEF\xBB\xBF"),
        "no byte-order mark before the header"
    );
    let text = String::from_utf8(bytes.clone()).expect("UTF-8");
    assert!(text.starts_with(&format!("{CONTACT_COLUMNS},tier,")));
    assert!(text.ends_with("\r\n"), "RFC 4180 line ends");

    let (header, rows) = csv_table(&bytes);
    let mut expected: Vec<String> = CONTACT_COLUMNS.split(',').map(String::from).collect();
    let definitions = api_tests::keys(&admin.get("/attributes").await.expect(200));
    expected.extend(definitions.into_iter().filter(|k| k != "vip"));
    assert_eq!(
        header, expected,
        "every definition but vip, in display order"
    );
    assert_eq!(rows.len(), 3);

    let by_id: HashMap<&str, &HashMap<String, String>> =
        rows.iter().map(|r| (r["contact_id"].as_str(), r)).collect();
    let evil = by_id[f.evil.as_str()];
    assert_eq!(evil["name"], "'=SUM(A1:A9)");
    assert_eq!(evil["handle"], "'@evil");
    assert_eq!(evil["followers"], "'+100");
    assert_eq!(evil["bio"], "'-rich, \"quoted\"");
    assert_eq!(
        evil["tier"], "'=HYPERLINK(\"http://x\")",
        "disabled, still exported"
    );
    assert_eq!(
        (evil["network"].as_str(), evil["vip"].as_str()),
        ("x", "false")
    );
    let quoted = by_id[f.quoted.as_str()];
    assert_eq!(
        quoted["name"], "Lima, \"Ana\" Zoë 🌵",
        "a channel's line break is a space"
    );
    assert_eq!(
        (quoted["handle"].as_str(), quoted["tier"].as_str()),
        ("", "")
    );
    assert_eq!(by_id[f.vip.as_str()]["vip"], "true");
}

#[tokio::test]
async fn a_jsonl_export_of_the_vip_group() {
    let api = Api::new();
    let f = fixture(&api).await;
    let admin = api.caller(&f.org, "admin", "enterprise").await;
    let job = admin
        .post(
            "/exports",
            &json!({"format": "jsonl", "filter": {"vip": true}}),
        )
        .await
        .expect(202);
    assert_eq!(job["filter"], json!({"vip": true}));
    let done = admin.finished_export(job["id"].as_str().unwrap()).await;
    assert_eq!(done["rows"], 1);
    let (_, bytes) = api.download(done["download_url"].as_str().unwrap()).await;
    let lines: Vec<Value> = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    let row = &lines[0];
    assert_eq!(row["contact_id"], f.vip.as_str());
    assert_eq!(
        (row["vip"].clone(), row["network"].clone()),
        (json!(true), json!("sms"))
    );
    for field in ["name", "handle", "validated", "created_at", "updated_at"] {
        assert!(row.get(field).is_some(), "{field}");
    }
    let attributes = row["attributes"].as_object().unwrap();
    assert!(attributes.contains_key("tier") && attributes.contains_key("followers"));
    assert!(!attributes.contains_key("vip"));

    // Every contact, as JSON: values are raw, not spreadsheet-escaped.
    let all = admin
        .post("/exports", &json!({"format": "jsonl"}))
        .await
        .expect(202);
    let done = admin.finished_export(all["id"].as_str().unwrap()).await;
    let (_, bytes) = api.download(done["download_url"].as_str().unwrap()).await;
    let evil = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["contact_id"] == f.evil.as_str())
        .unwrap();
    assert_eq!(evil["name"], "=SUM(A1:A9)");
    assert_eq!(evil["attributes"]["tier"], "=HYPERLINK(\"http://x\")");
}

#[tokio::test]
async fn exports_are_for_enterprise_admins_and_stay_in_their_org() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    let id = admin
        .post("/exports", &json!({"format": "csv"}))
        .await
        .expect(202)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin.finished_export(&id).await;
    admin
        .put(
            "/export-schedule",
            &json!({"cadence": "daily", "hour_utc": 23, "format": "csv"}),
        )
        .await
        .expect(200);

    let routes = [
        Request::post("/exports", json!({"format": "csv"})),
        Request::get(format!("/exports/{id}")),
        Request::get("/exports"),
        Request::put(
            "/export-schedule",
            json!({"cadence": "daily", "hour_utc": 1, "format": "csv"}),
        ),
        Request::get("/export-schedule"),
        Request::delete("/export-schedule"),
    ];
    let agent = api.caller(&org, "agent", "enterprise").await;
    agent.expect_each_error(403, "forbidden", &routes).await;
    let business = api.caller(&org, "admin", "business").await;
    business
        .expect_each_error(403, "plan_required", &routes)
        .await;
    for Request { method, path, .. } in &routes {
        let anonymous = api.anonymous(method.clone(), path).await;
        assert_eq!(anonymous.status, 401, "{method} {path}");
    }
    // Nothing changed: the schedule is still there and there is still one export.
    assert_eq!(
        admin.get("/export-schedule").await.expect(200)["hour_utc"],
        23
    );
    assert_eq!(admin.count("/exports").await, 1);

    let other = api.caller(&new_org(), "admin", "enterprise").await;
    other
        .get(&format!("/exports/{id}"))
        .await
        .expect_error(404, "not_found");
    assert_eq!(other.count("/exports").await, 0);
    let missing = [
        Request::get("/export-schedule"),
        Request::delete("/export-schedule"),
    ];
    other.expect_each_error(404, "not_found", &missing).await;
    admin
        .get("/exports/01a1fc60-0000-7000-8000-0000000000aa")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn bad_export_requests_name_the_field() {
    let (_, _, admin) = fresh_as("admin", "enterprise").await;
    for (body, status, code, field) in [
        (
            json!({"format": "xlsx"}),
            422,
            "validation_failed",
            "format",
        ),
        (json!({"format": 7}), 400, "bad_request", "format"),
        (json!({}), 400, "bad_request", ""),
        (
            json!({"format": "csv", "columns": ["name"]}),
            400,
            "bad_request",
            "columns",
        ),
        (
            json!({"format": "csv", "filter": {"vip": "yes"}}),
            400,
            "bad_request",
            "filter.vip",
        ),
        (
            json!({"format": "csv", "filter": {"vip": false}}),
            422,
            "validation_failed",
            "filter.vip",
        ),
    ] {
        let reply = admin.post("/exports", &body).await;
        reply.expect_error(status, code);
        if !field.is_empty() {
            assert_eq!(reply.field(), field, "{body}");
        }
    }
    let malformed = [
        Request::get("/exports?limit=0"),
        Request::get("/exports?cursor=nope"),
    ];
    admin
        .expect_each_error(400, "bad_request", &malformed)
        .await;
    assert_eq!(admin.count("/exports").await, 0, "no job was made");

    for (body, field) in [
        (
            json!({"cadence": "daily", "hour_utc": 24, "format": "csv"}),
            "hour_utc",
        ),
        (
            json!({"cadence": "weekly", "hour_utc": 9, "format": "csv"}),
            "weekday",
        ),
        (
            json!({"cadence": "daily", "hour_utc": 9, "weekday": "mon", "format": "csv"}),
            "weekday",
        ),
        (
            json!({"cadence": "monthly", "hour_utc": 9, "format": "csv"}),
            "cadence",
        ),
        (
            json!({"cadence": "weekly", "hour_utc": 9, "weekday": "monday", "format": "csv"}),
            "weekday",
        ),
    ] {
        let reply = admin.put("/export-schedule", &body).await;
        reply.expect_error_at(422, "validation_failed", field);
    }
    admin
        .put(
            "/export-schedule",
            &json!({"cadence": "daily", "hour_utc": "9", "format": "csv"}),
        )
        .await
        .expect_error_at(400, "bad_request", "hour_utc");
    admin
        .put(
            "/export-schedule",
            &json!({"cadence": "daily", "hour_utc": 9}),
        )
        .await
        .expect_error(400, "bad_request");
    admin
        .get("/export-schedule")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn exports_list_newest_first_and_an_idempotency_key_starts_one_job() {
    let (api, _, admin) = fresh_as("admin", "enterprise").await;
    let first = admin
        .send_with(
            Method::POST,
            "/exports",
            &json!({"format": "csv"}),
            &[("idempotency-key", "nightly-1")],
        )
        .await
        .expect(202);
    let replay = admin
        .send_with(
            Method::POST,
            "/exports",
            &json!({"format": "csv"}),
            &[("idempotency-key", "nightly-1")],
        )
        .await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.expect(202)["id"], first["id"]);
    admin
        .send_with(
            Method::POST,
            "/exports",
            &json!({"format": "jsonl"}),
            &[("idempotency-key", "nightly-1")],
        )
        .await
        .expect_error(422, "validation_failed");
    let second = admin
        .post("/exports", &json!({"format": "jsonl"}))
        .await
        .expect(202);
    let third = admin
        .post("/exports", &json!({"format": "csv"}))
        .await
        .expect(202);

    let page = admin.get("/exports?limit=2").await.expect(200);
    let ids: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| &j["id"])
        .collect();
    assert_eq!(ids, [&third["id"], &second["id"]]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = admin
        .get(&format!("/exports?limit=2&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(rest["items"][0]["id"], first["id"]);
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    let other = api.caller(&new_org(), "admin", "enterprise").await;
    other
        .get(&format!("/exports?cursor={cursor}"))
        .await
        .expect_error(400, "bad_request");
    for job in [&first, &second, &third] {
        assert_eq!(
            admin.finished_export(job["id"].as_str().unwrap()).await["status"],
            "succeeded"
        );
    }
}
