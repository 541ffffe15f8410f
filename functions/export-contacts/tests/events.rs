//! Handler tests: the sample events in `events/export-contacts/`, and the worker and the hourly
//! trigger driven directly, including workers that die, race or keep failing.
//!
//! Schedules are found by hour across orgs, so each test that fires the trigger owns its hour.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use export_contacts::{App, Attempt, DieAfter, ScheduledEvent, Tuning};
use serde_json::{Value, json};
use shared::blobs::Blobs;
use shared::channel::Network;
use shared::clock::Env;
use shared::config::Config;
use shared::contacts::Contact;
use shared::exports::{ExportStatus, ExportTask};
use shared::ids::{ExportId, OrgId};
use shared::serve::{HttpFunction, QueueFunction, ScheduledFunction};
use shared::services::Services;
use shared::testing::{decode, load_event, local_services, new_org, unpolled_queue, with_caller};
use time::macros::datetime;

const SAMPLE_JOB: &str = "01a1fc60-0000-7000-8000-00000000e001";

/// Jobs go to a queue of their own: these tests are the worker, not the local runtime.
async fn app(local: &Services, tuning: Tuning) -> App {
    App::tuned(
        local.store.clone(),
        local.blobs.clone(),
        unpolled_queue("export-handler-tests").await,
        Env::system(),
        tuning,
    )
}

async fn http(app: &App, org: &str, name: &str, role: Option<&str>, job: &str) -> (u16, Value) {
    let text = with_caller(load_event("export-contacts", name), org, role)
        .to_string()
        .replace(SAMPLE_JOB, job);
    decode(
        app.handle(lambda_http::request::from_str(&text).unwrap())
            .await,
    )
}

/// Contacts written straight to their profile items: the worker only reads the listing index,
/// and a plain put keeps seeding cheap on moto (whose transactions copy the whole table).
async fn seed(local: &Services, org: &str, count: usize) {
    let org = OrgId::parse(org).unwrap();
    for n in 0..count {
        let contact = Contact {
            id: uuid_v7(),
            name: format!("Contact {n}"),
            handle: None,
            avatar_url: None,
            profile_url: None,
            network: Network::Sms,
            identities: vec![],
            validated: false,
            vip: n % 2 == 0,
            platform: [("phone".to_owned(), format!("+1555{n:04}"))].into(),
            values: Default::default(),
            linked: vec![],
            match_hash: None,
            match_generation: 0,
            version: 1,
            created_at: "2026-01-01T10:00:00Z".into(),
            updated_at: "2026-01-01T10:00:00Z".into(),
        };
        local.store.save_contact(&org, &contact, 0).await.unwrap();
    }
}

fn uuid_v7() -> String {
    use shared::clock::IdGenerator;
    shared::clock::UuidV7.new_id()
}

async fn s3() -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::new(&Config::from_env().unwrap().aws().await)
}

/// Objects under the job's prefix, by key.
async fn files(org: &str, job: &str) -> Vec<String> {
    let prefix = shared::keys::export_prefix(&OrgId::parse(org).unwrap(), job);
    s3().await
        .list_objects_v2()
        .bucket("inbox-local-databucket")
        .prefix(prefix)
        .send()
        .await
        .unwrap()
        .contents
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| o.key)
        .collect()
}

async fn lines_of(key: &str) -> usize {
    let object = s3()
        .await
        .get_object()
        .bucket("inbox-local-databucket")
        .key(key)
        .send()
        .await
        .unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
}

async fn job(local: &Services, org: &str, id: &str) -> shared::exports::ExportJob {
    local
        .store
        .export_job(&OrgId::parse(org).unwrap(), id)
        .await
        .unwrap()
        .unwrap()
}

/// Starts a manual CSV export through the HTTP handler; the job id.
async fn start(app: &App, org: &str) -> String {
    let text = with_caller(load_event("export-contacts", "start-export"), org, None)
        .to_string()
        .replace(r#"\"filter\": {\"vip\": true}"#, r#"\"filter\": null"#)
        .replace("export-2026-01-01", &new_org("key"));
    let (status, body) = decode(
        app.handle(lambda_http::request::from_str(&text).unwrap())
            .await,
    );
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn task(org: &str, id: &str) -> ExportTask {
    ExportTask {
        org_id: OrgId::parse(org).unwrap(),
        export_id: ExportId::parse(id).unwrap(),
    }
}

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
        app.attempt(&task(&org, id)).await.unwrap(),
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

#[tokio::test]
async fn the_sample_queue_event_runs_the_job_it_names() {
    let local = local_services().await;
    let app = app(&local, Tuning::default()).await;
    // The sample names org `acme`; the job is made there under the sample's id.
    let org = "acme";
    let mut sample = ExportTask {
        org_id: OrgId::parse(org).unwrap(),
        export_id: ExportId::parse(SAMPLE_JOB).unwrap(),
    };
    if local
        .store
        .export_job(&OrgId::parse(org).unwrap(), SAMPLE_JOB)
        .await
        .unwrap()
        .is_none()
    {
        let job = shared::exports::ExportJob::new(
            SAMPLE_JOB.into(),
            shared::exports::ExportFormat::Csv,
            Default::default(),
            shared::exports::ExportTrigger::Manual,
            "2026-01-01T10:00:00Z",
        );
        local
            .store
            .create_export(&OrgId::parse(org).unwrap(), &job)
            .await
            .unwrap();
    }
    let event = serde_json::from_value(load_event("export-contacts", "sqs-export-task")).unwrap();
    let response = app.handle_batch(event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        job(&local, org, SAMPLE_JOB).await.status,
        ExportStatus::Succeeded
    );
    sample.export_id = ExportId::parse("01a1fc60-0000-7000-8000-0000000000ff").unwrap();
    assert_eq!(
        app.attempt(&sample).await.unwrap(),
        Attempt::NothingToDo,
        "a task for a job that does not exist is dropped"
    );
}

#[tokio::test]
async fn a_worker_that_dies_mid_export_is_retried_and_leaves_one_complete_file() {
    let local = local_services().await;
    let org = new_org("die");
    seed(&local, &org, 200).await;
    let death = DieAfter {
        pages: 3,
        ..DieAfter::default()
    };
    let dying = app(
        &local,
        Tuning {
            page_size: Some(10),
            die_after: Some(death.clone()),
            ..Tuning::default()
        },
    )
    .await;
    let id = start(&dying, &org).await;

    // The first delivery dies after its third page: its future is dropped right there.
    let first = task(&org, &id);
    tokio::select! {
        _ = dying.attempt(&first) => panic!("the first attempt should not finish"),
        () = death.reached.notified() => {}
    }
    drop(dying);
    let died = job(&local, &org, &id).await;
    assert_eq!(died.status, ExportStatus::Running);
    assert_eq!(died.rows, 30, "progress up to the death");
    let app = app(
        &local,
        Tuning {
            page_size: Some(10),
            ..Tuning::default()
        },
    )
    .await;
    assert!(
        files(&org, &id).await.is_empty(),
        "no file from a dead attempt"
    );

    // The queue delivers the task again.
    assert_eq!(
        app.attempt(&task(&org, &id)).await.unwrap(),
        Attempt::Succeeded { rows: 200 }
    );
    let done = job(&local, &org, &id).await;
    assert_eq!(
        (done.status, done.rows, done.attempts),
        (ExportStatus::Succeeded, 200, 2)
    );
    let keys = files(&org, &id).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(Some(&keys[0]), done.object_key.as_ref());
    assert_eq!(lines_of(&keys[0]).await, 201, "header and 200 contacts");
    assert_eq!(
        app.attempt(&task(&org, &id)).await.unwrap(),
        Attempt::NothingToDo,
        "a late duplicate changes nothing"
    );
}

#[tokio::test]
async fn two_workers_on_one_job_leave_one_file_and_one_result() {
    let local = local_services().await;
    let org = new_org("race");
    seed(&local, &org, 40).await;
    let slow = app(
        &local,
        Tuning {
            page_size: Some(1),
            ..Tuning::default()
        },
    )
    .await;
    let fast = app(&local, Tuning::default()).await;
    let id = start(&fast, &org).await;
    let first = tokio::spawn({
        let slow = std::sync::Arc::new(slow);
        let task = task(&org, &id);
        async move { slow.attempt(&task).await.unwrap() }
    });
    while job(&local, &org, &id).await.rows < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // A redelivery while the first worker still runs takes the job over.
    let second = fast.attempt(&task(&org, &id)).await.unwrap();
    let first = first.await.unwrap();
    assert_eq!(second, Attempt::Succeeded { rows: 40 });
    assert_eq!(first, Attempt::NothingToDo, "the superseded worker stops");
    let keys = files(&org, &id).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let done = job(&local, &org, &id).await;
    assert_eq!(done.object_key.as_ref(), Some(&keys[0]));
    assert_eq!((done.status, done.rows), (ExportStatus::Succeeded, 40));
    assert_eq!(lines_of(&keys[0]).await, 41);
}

#[tokio::test]
async fn a_job_that_keeps_failing_ends_failed_with_a_reason() {
    let local = local_services().await;
    let org = new_org("fail");
    seed(&local, &org, 2).await;
    let broken = App::tuned(
        local.store.clone(),
        Blobs::new(s3().await, "inbox-local-no-such-bucket"),
        unpolled_queue("export-handler-tests").await,
        Env::system(),
        Tuning::default(),
    );
    let id = start(&broken, &org).await;
    let event = |id: &str| {
        let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
        let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
        record.message_id = Some("m-1".into());
        record.body = Some(serde_json::to_string(&task(&org, id)).unwrap());
        event.records = vec![record];
        event
    };
    for attempt in 1..=2 {
        let response = broken.handle_batch(event(&id)).await;
        assert_eq!(
            response.batch_item_failures.len(),
            1,
            "attempt {attempt} is retried"
        );
        let seen = job(&local, &org, &id).await;
        assert_eq!(
            (seen.status, seen.attempts),
            (ExportStatus::Running, attempt)
        );
    }
    let response = broken.handle_batch(event(&id)).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "the last attempt settles the job"
    );
    let failed = job(&local, &org, &id).await;
    assert_eq!(failed.status, ExportStatus::Failed);
    assert_eq!(
        failed.error.as_deref(),
        Some("the file could not be written (tried 3 times); start a new export")
    );
    assert!(failed.completed_at.is_some() && failed.object_key.is_none());
    let (status, view) = http(&broken, &org, "get-export", None, &id).await;
    assert_eq!((status, view["download_url"].clone()), (200, Value::Null));
}

#[tokio::test]
async fn a_job_whose_last_attempt_died_is_failed_by_the_next_delivery() {
    let local = local_services().await;
    let org = new_org("dead");
    seed(&local, &org, 100).await;
    let app = app(
        &local,
        Tuning {
            page_size: Some(5),
            max_attempts: 1,
            ..Tuning::default()
        },
    )
    .await;
    let id = start(&app, &org).await;
    let watcher = async {
        while job(&local, &org, &id).await.rows == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    let only = task(&org, &id);
    tokio::select! {
        _ = app.attempt(&only) => panic!("the attempt should not finish"),
        () = watcher => {}
    }
    assert_eq!(
        app.attempt(&task(&org, &id)).await.unwrap(),
        Attempt::Failed
    );
    let failed = job(&local, &org, &id).await;
    assert_eq!(
        (failed.status, failed.error.as_deref()),
        (
            ExportStatus::Failed,
            Some("the export did not finish in 1 attempts")
        )
    );
}

#[tokio::test]
async fn the_trigger_starts_a_due_schedule_once_per_period() {
    let local = local_services().await;
    let org = new_org("sched");
    let app = app(&local, Tuning::default()).await;
    let put = |body: Value| {
        let mut event = with_caller(
            load_event("export-contacts", "put-export-schedule"),
            &org,
            None,
        );
        event["body"] = body.to_string().into();
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };
    // This test owns 03:00 UTC. 2031-03-04 is a Tuesday.
    let (status, _) = decode(
        app.handle(put(
            json!({"cadence": "daily", "hour_utc": 3, "format": "csv"}),
        ))
        .await,
    );
    assert_eq!(status, 200);
    let jobs = || async {
        local
            .store
            .list_exports(
                &OrgId::parse(&org).unwrap(),
                shared::cursor::PageRequest {
                    limit: 100,
                    start: None,
                },
            )
            .await
            .unwrap()
            .0
    };

    app.run_schedules(datetime!(2031-03-04 02:00 UTC))
        .await
        .unwrap();
    assert!(jobs().await.is_empty(), "not due before its hour");

    // Three firings in the hour, two at once: one job.
    let at = datetime!(2031-03-04 03:00:05 UTC);
    let (a, b) = tokio::join!(app.run_schedules(at), app.run_schedules(at));
    a.unwrap();
    b.unwrap();
    app.run_schedules(datetime!(2031-03-04 03:40 UTC))
        .await
        .unwrap();
    let started = jobs().await;
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].period.as_deref(), Some("2031-03-04T03:00:00Z"));
    assert_eq!(started[0].trigger, shared::exports::ExportTrigger::Schedule);

    // Changing the schedule keeps the period it ran for.
    let (status, _) = decode(
        app.handle(put(
            json!({"cadence": "daily", "hour_utc": 3, "format": "jsonl"}),
        ))
        .await,
    );
    assert_eq!(status, 200);
    app.run_schedules(datetime!(2031-03-04 03:50 UTC))
        .await
        .unwrap();
    assert_eq!(jobs().await.len(), 1, "the period already ran");

    app.run_schedules(datetime!(2031-03-05 03:00 UTC))
        .await
        .unwrap();
    let started = jobs().await;
    assert_eq!(started.len(), 2, "the next day is the next period");
    assert_eq!(started[0].format, shared::exports::ExportFormat::Jsonl);

    // Weekly on Friday: Thursday is not due, Friday is.
    let (status, _) = decode(
        app.handle(put(
            json!({"cadence": "weekly", "hour_utc": 3, "weekday": "fri", "format": "csv"}),
        ))
        .await,
    );
    assert_eq!(status, 200);
    app.run_schedules(datetime!(2031-03-06 03:00 UTC))
        .await
        .unwrap();
    assert_eq!(jobs().await.len(), 2);
    app.run_schedules(datetime!(2031-03-07 03:00 UTC))
        .await
        .unwrap();
    assert_eq!(jobs().await.len(), 3);

    // Removed, nothing runs; set again, the period that already ran does not run twice.
    let (status, _) = http(&app, &org, "delete-export-schedule", None, SAMPLE_JOB).await;
    assert_eq!(status, 204);
    app.run_schedules(datetime!(2031-03-14 03:00 UTC))
        .await
        .unwrap();
    assert_eq!(jobs().await.len(), 3, "no schedule, no job");
    let (status, _) = decode(
        app.handle(put(
            json!({"cadence": "weekly", "hour_utc": 3, "weekday": "fri", "format": "csv"}),
        ))
        .await,
    );
    assert_eq!(status, 200);
    app.run_schedules(datetime!(2031-03-07 03:30 UTC))
        .await
        .unwrap();
    assert_eq!(jobs().await.len(), 3, "that Friday already ran");
    app.run_schedules(datetime!(2031-03-21 03:00 UTC))
        .await
        .unwrap();
    assert_eq!(jobs().await.len(), 4);
}
