//! The export schedule through the local runtime: set, replace, read, remove, and the hourly trigger.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Request, assert_fields, fresh_as, inbound};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn the_export_schedule_is_set_replaced_read_and_removed() {
    let (_, _, admin) = fresh_as("admin", "enterprise").await;
    admin
        .get("/export-schedule")
        .await
        .expect_error(404, "not_found");
    let set = admin
        .put(
            "/export-schedule",
            &json!({"cadence": "weekly", "hour_utc": 22, "weekday": "sun", "format": "jsonl", "filter": {"vip": true}}),
        )
        .await
        .expect(200);
    assert_fields(
        &set,
        json!({"cadence": "weekly", "weekday": "sun", "filter": {"vip": true}}),
    );
    let next = set["next_run_at"].as_str().unwrap();
    assert!(next.ends_with("T22:00:00Z"), "{next}");
    assert_eq!(admin.get("/export-schedule").await.expect(200), set);
    let replaced = admin
        .put(
            "/export-schedule",
            &json!({"cadence": "daily", "hour_utc": 22, "format": "csv"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (replaced["weekday"].clone(), replaced["filter"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(admin.delete("/export-schedule").await.status, 204);
    let missing = [
        Request::get("/export-schedule"),
        Request::delete("/export-schedule"),
    ];
    admin.expect_each_error(404, "not_found", &missing).await;
}

#[tokio::test]
async fn the_hourly_schedule_starts_one_export_per_period_however_often_it_fires() {
    let (api, org, admin) = fresh_as("admin", "enterprise").await;
    api.inbound(&inbound(&org, "sms", "+1", "c1", "m1"))
        .await
        .expect(200);
    let listed = api
        .anonymous(Method::GET, "/_local/schedules")
        .await
        .expect(200);
    assert_eq!(listed["items"][0]["name"], "HourlyExports");

    // Day 0 is a Tuesday of the test's own week, in a year no other test fires in; and only
    // the jobs this test's firings started count, whatever other firings do.
    let week = shared::testing::own_week(&org);
    let at = |day: i64, hour: u8, minute: u8| {
        let time = (week + time::Duration::days(day))
            .with_hms(hour, minute, 0)
            .unwrap()
            .assume_utc();
        shared::clock::rfc3339(time)
    };
    admin
        .put(
            "/export-schedule",
            &json!({"cadence": "weekly", "hour_utc": 14, "weekday": "tue", "format": "csv"}),
        )
        .await
        .expect(200);
    let fire = |time: String| {
        let api = &api;
        async move {
            let body = serde_json::to_vec(&json!({"time": time})).unwrap();
            let fired = api
                .raw(
                    Method::POST,
                    "/_local/schedules/HourlyExports",
                    None,
                    Some(body),
                    &[],
                )
                .await
                .expect(200);
            assert_eq!(fired["function"], "export-scheduler");
            fired["result"]["started"].as_array().unwrap().clone()
        }
    };
    let mut started = Vec::new();
    let scheduled = |started: &[Value]| {
        let started = started.to_vec();
        let admin = &admin;
        async move {
            admin.get("/exports").await.expect(200)["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|job| started.contains(&job["id"]))
                .cloned()
                .collect::<Vec<_>>()
        }
    };

    started.extend(fire(at(0, 13, 0)).await);
    assert!(
        scheduled(&started).await.is_empty(),
        "not due the hour before"
    );
    let (a, b, c) = tokio::join!(fire(at(0, 14, 0)), fire(at(0, 14, 0)), fire(at(0, 14, 30)));
    started.extend(a.into_iter().chain(b).chain(c));
    let jobs = scheduled(&started).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["trigger"], "schedule");
    let done = admin.finished_export(jobs[0]["id"].as_str().unwrap()).await;
    assert_eq!(
        (done["status"].clone(), done["rows"].clone()),
        (json!("succeeded"), json!(1))
    );

    started.extend(fire(at(1, 14, 0)).await);
    assert_eq!(
        scheduled(&started).await.len(),
        1,
        "weekly: Wednesday is not due"
    );
    started.extend(fire(at(7, 14, 0)).await);
    assert_eq!(
        scheduled(&started).await.len(),
        2,
        "the next Tuesday is the next period"
    );

    api.anonymous(Method::POST, "/_local/schedules/Nope")
        .await
        .expect_error(404, "not_found");
}
