//! Handler tests: the sample events in `events/export-contacts/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod common;

use common::*;
use export_contacts::{Attempt, ScheduledEvent, Tuning};
use serde_json::json;
use shared::exports::{ExportStatus, ExportTask};
use shared::ids::{ExportId, OrgId};
use shared::invocation::Deadline;
use shared::serve::{QueueFunction, ScheduledFunction};
use shared::services::Services;
use shared::testing::{load_event, local_services, new_org};

#[tokio::test]
async fn the_sample_events_start_read_and_schedule_exports() {
    let local = local_services().await;
    let org = new_org("evt");
    let app = app(&local, Tuning::default()).await;

    let (status, started) = http(&app, &org, "start-export", None, SAMPLE_JOB).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(
        (
            started["status"].clone(),
            started["format"].clone(),
            started["filter"].clone(),
            started["trigger"].clone()
        ),
        (
            json!("queued"),
            json!("csv"),
            json!({"vip": true}),
            json!("manual")
        )
    );
    let id = started["id"].as_str().unwrap();
    let (status, replayed) = http(&app, &org, "start-export", None, SAMPLE_JOB).await;
    assert_eq!(
        (status, replayed["id"].as_str()),
        (202, Some(id)),
        "the key replays"
    );

    assert_eq!(
        app.attempt(&task(&org, id), Deadline::longest())
            .await
            .unwrap(),
        Attempt::Succeeded { rows: 0 }
    );
    let (status, read) = http(&app, &org, "get-export", None, id).await;
    assert_eq!((status, read["status"].clone()), (200, json!("succeeded")));
    assert!(read["download_url"].as_str().unwrap().starts_with("http"));
    let (status, list) = http(&app, &org, "list-exports", None, id).await;
    assert_eq!((status, list["items"].as_array().unwrap().len()), (200, 1));

    let (status, _) = http(&app, &org, "get-export", Some("agent"), id).await;
    assert_eq!(status, 403, "agents do not export");
    let (status, _) = http(&app, &new_org("evt"), "get-export", None, id).await;
    assert_eq!(status, 404, "another org's export");

    let (status, _) = http(&app, &org, "get-export-schedule", None, id).await;
    assert_eq!(status, 404, "no schedule yet");
    let (status, schedule) = http(&app, &org, "put-export-schedule", None, id).await;
    assert_eq!(status, 200, "{schedule}");
    assert_eq!(schedule["weekday"], "mon");
    let (status, read) = http(&app, &org, "get-export-schedule", None, id).await;
    assert_eq!((status, read["hour_utc"].clone()), (200, json!(6)));

    // The sample hourly event is a Monday 06:00: this org's schedule is due.
    let event: ScheduledEvent =
        serde_json::from_value(load_event("export-contacts", "scheduled-hourly")).unwrap();
    app.run_scheduled(event).await.unwrap();
    let (_, list) = http(&app, &org, "list-exports", None, id).await;
    assert_eq!(list["items"][0]["trigger"], "schedule");
    assert_eq!(list["items"][0]["format"], "jsonl");

    let (status, _) = http(&app, &org, "delete-export-schedule", None, id).await;
    assert_eq!(status, 204);
    let (status, _) = http(&app, &org, "delete-export-schedule", None, id).await;
    assert_eq!(status, 404, "already gone");
}

async fn job_status(local: &Services, org: &str) -> ExportStatus {
    job(local, org, SAMPLE_JOB).await.status
}

#[tokio::test]
async fn the_sample_queue_event_runs_the_job_it_names() {
    let local = local_services().await;
    let app = app(&local, Tuning::default()).await;
    // The sample names org `acme`; it runs in a new org, where the job is made, queued, under
    // the sample's id: never one a run before finished.
    let fresh = new_org("evt");
    let org = fresh.as_str();
    let mut sample = ExportTask {
        org_id: OrgId::parse(org).unwrap(),
        export_id: ExportId::parse(SAMPLE_JOB).unwrap(),
        lease: None,
    };
    let job = shared::exports::ExportJob::new(
        SAMPLE_JOB.into(),
        shared::exports::ExportFormat::Csv,
        Default::default(),
        shared::exports::ExportTrigger::Manual,
        "2026-01-01T10:00:00Z",
    );
    local
        .store()
        .create_export(&OrgId::parse(org).unwrap(), &job)
        .await
        .unwrap();
    assert_eq!(job_status(&local, org).await, ExportStatus::Queued);
    let text = load_event("export-contacts", "sqs-export-task")
        .to_string()
        .replace("acme", org);
    let event = serde_json::from_str(&text).unwrap();
    let response = app.handle_batch(event, Deadline::longest()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(job_status(&local, org).await, ExportStatus::Succeeded);
    sample.export_id = ExportId::parse("01a1fc60-0000-7000-8000-0000000000ff").unwrap();
    assert_eq!(
        app.attempt(&sample, Deadline::longest()).await.unwrap(),
        Attempt::NothingToDo,
        "a task for a job that does not exist is dropped"
    );
}
