//! Handler tests: the export worker and the hourly trigger driven directly, including workers that
//! die, race or keep failing.
//!
//! Schedules are found by hour across orgs, so each test that fires the trigger owns its hour.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod common;

use common::*;
use export_contacts::{App, Attempt, StopAfter, Tuning};
use serde_json::{Value, json};
use shared::blobs::Blobs;
use shared::clock::Env;
use shared::exports::{ExportStatus, ExportTask};
use shared::ids::OrgId;
use shared::invocation::BudgetPolicy;
use shared::invocation::Deadline;
use shared::serve::{Build, HttpFunction, QueueFunction};
use shared::testing::TestQueue;
use shared::testing::{
    decode, load_event, local_services, new_org, own_week, unpolled_queue, with_caller,
};

#[tokio::test]
async fn a_worker_that_dies_mid_export_is_retried_and_leaves_one_complete_file() {
    let (local, org) = org_with_contacts("die", 200).await;
    let death = death_after(3);
    let dying = worker(
        &unpolled_queue("export-handler-tests").await,
        paged(10, Some(death.clone())),
    )
    .await;
    let id = start(&app(&local, Tuning::default()).await, &org).await;

    // The first delivery dies after its third page: its future is dropped right there.
    dies(dying, &task(&org, &id), &death).await;
    let died = job(&local, &org, &id).await;
    assert_eq!(died.status, ExportStatus::Running);
    assert_eq!(died.rows, 30, "progress up to the death");
    let app = worker(
        &unpolled_queue("export-handler-tests").await,
        paged(10, None),
    )
    .await;
    assert!(
        files(&org, &id).await.is_empty(),
        "no file from a dead attempt"
    );

    // The queue delivers the task again.
    assert_eq!(
        app.attempt(&task(&org, &id), Deadline::longest())
            .await
            .unwrap(),
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
        app.attempt(&task(&org, &id), Deadline::longest())
            .await
            .unwrap(),
        Attempt::NothingToDo,
        "a late duplicate changes nothing"
    );
}

/// A fault that stops the worker after its `pages`th page.
fn death_after(pages: u64) -> StopAfter {
    StopAfter {
        pages,
        ..StopAfter::default()
    }
}

/// A fault that holds the worker after its `pages`th page until the returned notify resumes it.
fn hold_after(pages: u64) -> (StopAfter, std::sync::Arc<tokio::sync::Notify>) {
    let resume = std::sync::Arc::new(tokio::sync::Notify::new());
    let hold = StopAfter {
        pages,
        resume: Some(resume.clone()),
        ..StopAfter::default()
    };
    (hold, resume)
}

/// Runs `task` on `dying` until its fault fires, then drops the attempt right there, as Lambda
/// ends an invocation that dies: nothing after that point of the attempt runs.
async fn dies(dying: App, task: &ExportTask, death: &StopAfter) {
    tokio::select! {
        _ = dying.attempt(task, Deadline::longest()) => panic!("the attempt should have died"),
        () = death.reached.notified() => {}
    }
}

/// Pages of `page_size` contacts, and the fault, if any, that stops the worker.
fn paged(page_size: i32, stop_after: Option<StopAfter>) -> Tuning {
    Tuning {
        page_size: Some(page_size),
        stop_after,
        ..Tuning::default()
    }
}

/// The job left one file (no pending bytes, no earlier attempt's file), with one header and
/// each of the org's `contacts` exactly once.
async fn assert_one_file_with_every_contact_once(org: &str, id: &str, contacts: usize) {
    let keys = files(org, id).await;
    assert_eq!(keys.len(), 1, "one file, nothing else left: {keys:?}");
    let text = text_of(&keys[0]).await;
    let mut lines = text.lines();
    assert!(
        lines.next().unwrap().starts_with("contact_id,"),
        "one header, first"
    );
    let ids: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    let distinct: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(
        (ids.len(), distinct.len()),
        (contacts, contacts),
        "every contact once"
    );
}

/// A worker on `queue` that reads pages of 100 and hands the job on after `pages` of them.
async fn continuing(queue: &TestQueue, pages: u32) -> App {
    continuing_until(queue, pages, None).await
}

async fn continuing_until(queue: &TestQueue, pages: u32, stop_after: Option<StopAfter>) -> App {
    let tuning = Tuning {
        budget: BudgetPolicy::Steps(pages),
        ..paged(100, stop_after)
    };
    worker(&queue.queue(), tuning).await
}

/// The export worker as deployed: its calls checked against its policy in template.yaml, its
/// continuations sent to `queue` (standing in for the template's ExportQueue).
async fn worker(queue: &shared::queue::Queue, tuning: Tuning) -> App {
    let services =
        local::testing::services_as("export-worker", &[(queue.url(), "ExportQueue")]).await;
    App::tuned(
        services.store(),
        services.blobs(),
        services.exports(),
        Env::system(),
        tuning,
    )
}

/// `POST /exports` as the export-contacts function runs it, its job sent to `queue`.
async fn starter(queue: &TestQueue) -> App {
    let services =
        local::testing::services_as("export-contacts", &[(queue.url(), "ExportQueue")]).await;
    App::build(&services, &Env::system())
}

#[tokio::test]
async fn an_export_too_large_for_one_invocation_continues_and_yields_one_whole_file() {
    let (local, org) = org_with_contacts("long", 5_000).await;
    let queue = TestQueue::new(&format!("export-{org}")).await;
    // 50 pages of 100, 15 pages an invocation.
    let app = continuing(&queue, 15).await;
    let id = start(&starter(&queue).await, &org).await;

    let invocations = queue.drain(&app).await;
    assert_eq!(invocations, 4, "15 + 15 + 15 + 5 pages");
    let done = job(&local, &org, &id).await;
    assert_eq!(
        (done.status, done.rows, done.attempts),
        (ExportStatus::Succeeded, 5_000, 1),
        "continuations are not new attempts"
    );
    assert_eq!(done.checkpoint, None, "nothing left of the checkpoint");
    assert_one_file_with_every_contact_once(&org, &id, 5_000).await;
}

#[tokio::test]
async fn a_worker_killed_between_checkpoints_is_resumed_and_the_file_has_every_row_once() {
    let (local, org) = org_with_contacts("kill", 700).await;
    let queue = TestQueue::new(&format!("export-{org}")).await;
    let app = continuing(&queue, 2).await;
    // The job's first message goes elsewhere: this test delivers it itself.
    let elsewhere = starter(&TestQueue::new(&format!("start-{org}")).await).await;
    let id = start(&elsewhere, &org).await;
    let first = task(&org, &id);
    assert_eq!(
        app.attempt(&first, Deadline::longest()).await.unwrap(),
        Attempt::Continues { rows: 200 }
    );

    // The continuation is delivered to a worker that dies after one more page.
    let death = death_after(1);
    let dying = continuing_until(&queue, 2, Some(death.clone())).await;
    let mut continuation = task(&org, &id);
    continuation.lease = Some(1);
    dies(dying, &continuation, &death).await;
    assert_eq!(
        job(&local, &org, &id).await.rows,
        300,
        "progress up to the death"
    );

    // Its message comes back after the visibility timeout: the checkpoint is where it resumes.
    let invocations = queue.drain(&app).await;
    assert!(
        invocations >= 3,
        "the redelivery and its continuations: {invocations}"
    );
    let done = job(&local, &org, &id).await;
    assert_eq!(
        (done.status, done.rows, done.attempts),
        (ExportStatus::Succeeded, 700, 2),
        "the death cost one attempt"
    );
    assert_one_file_with_every_contact_once(&org, &id, 700).await;
}

#[tokio::test]
async fn two_workers_on_one_job_leave_one_file_and_one_result() {
    let (local, org) = org_with_contacts("race", 40).await;
    // The first worker holds after its third page until the second has finished the job.
    let (hold, resume) = hold_after(3);
    let unpolled = unpolled_queue("export-handler-tests").await;
    let slow = worker(&unpolled, paged(1, Some(hold.clone()))).await;
    let fast = worker(&unpolled, Tuning::default()).await;
    let id = start(&app(&local, Tuning::default()).await, &org).await;
    let first = tokio::spawn({
        let slow = std::sync::Arc::new(slow);
        let task = task(&org, &id);
        async move { slow.attempt(&task, Deadline::longest()).await.unwrap() }
    });
    hold.reached.notified().await;
    assert_eq!(
        job(&local, &org, &id).await.rows,
        3,
        "the first worker is under way"
    );
    // A redelivery while the first worker still runs takes the job over.
    let second = fast
        .attempt(&task(&org, &id), Deadline::longest())
        .await
        .unwrap();
    resume.notify_one();
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
    let (local, org) = org_with_contacts("fail", 2).await;
    let queue = TestQueue::new(&format!("export-{org}")).await;
    // The worker as deployed, but writing to a bucket that is not there (the fault; S3's
    // answer, not the policy's, so its client is not the function's).
    let deployed =
        local::testing::services_as("export-worker", &[(queue.url(), "ExportQueue")]).await;
    let broken = App::tuned(
        deployed.store(),
        Blobs::new(s3().await, "inbox-local-no-such-bucket"),
        deployed.exports(),
        Env::system(),
        Tuning::default(),
    );
    let id = start(&starter(&queue).await, &org).await;
    // Each failed attempt asks the queue for the job back sooner than its visibility timeout,
    // with the receipt of the delivery it is on.
    let delivered = queue.receive_one().await;
    let event = |_: &str| {
        let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
        event.records = vec![delivered.clone()];
        event
    };
    for attempt in 1..=2 {
        let response = broken.handle_batch(event(&id), Deadline::longest()).await;
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
    let response = broken.handle_batch(event(&id), Deadline::longest()).await;
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
    let (status, view) = http(
        &app(&local, Tuning::default()).await,
        &org,
        "get-export",
        None,
        &id,
    )
    .await;
    assert_eq!((status, view["download_url"].clone()), (200, Value::Null));
}

#[tokio::test]
async fn a_job_whose_last_attempt_died_is_failed_by_the_next_delivery() {
    let (local, org) = org_with_contacts("dead", 100).await;
    let death = death_after(1);
    let one_attempt = |fault| Tuning {
        max_attempts: 1,
        ..paged(5, fault)
    };
    let dying = app(&local, one_attempt(Some(death.clone()))).await;
    let id = start(&dying, &org).await;
    dies(dying, &task(&org, &id), &death).await;
    let app = app(&local, one_attempt(None)).await;
    assert_eq!(
        app.attempt(&task(&org, &id), Deadline::longest())
            .await
            .unwrap(),
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
    // Sets the schedule as its admin would; answers the status.
    let set_schedule = |body: Value| {
        let mut event = with_caller(
            load_event("export-contacts", "put-export-schedule"),
            &org,
            None,
        );
        event["body"] = body.to_string().into();
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        let app = &app;
        async move { decode(app.handle(request).await).0 }
    };
    // Day 0 is a Tuesday of the test's own week.
    let week = own_week(&org);
    let at = |day: i64, hour: u8, minute: u8, second: u8| {
        (week + time::Duration::days(day))
            .with_hms(hour, minute, second)
            .unwrap()
            .assume_utc()
    };
    let year = format!("{}-", week.year());
    assert_eq!(
        set_schedule(json!({"cadence": "daily", "hour_utc": 3, "format": "csv"})).await,
        200
    );
    let jobs = || async {
        local
            .store()
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
            .into_iter()
            .filter(|job| {
                job.period
                    .as_ref()
                    .is_some_and(|p| p.as_str().starts_with(&year))
            })
            .collect::<Vec<_>>()
    };

    app.run_schedules(at(0, 2, 0, 0)).await.unwrap();
    assert!(jobs().await.is_empty(), "not due before its hour");

    // Three firings in the hour, two at once: one job.
    let (a, b) = tokio::join!(
        app.run_schedules(at(0, 3, 0, 5)),
        app.run_schedules(at(0, 3, 0, 5))
    );
    a.unwrap();
    b.unwrap();
    app.run_schedules(at(0, 3, 40, 0)).await.unwrap();
    let started = jobs().await;
    assert_eq!(started.len(), 1);
    assert_eq!(
        started[0].period,
        Some(shared::clock::Timestamp::at(at(0, 3, 0, 0)))
    );
    assert_eq!(started[0].trigger, shared::exports::ExportTrigger::Schedule);

    // Changing the schedule keeps the period it ran for.
    assert_eq!(
        set_schedule(json!({"cadence": "daily", "hour_utc": 3, "format": "jsonl"})).await,
        200
    );
    app.run_schedules(at(0, 3, 50, 0)).await.unwrap();
    assert_eq!(jobs().await.len(), 1, "the period already ran");

    app.run_schedules(at(1, 3, 0, 0)).await.unwrap();
    let started = jobs().await;
    assert_eq!(started.len(), 2, "the next day is the next period");
    assert_eq!(started[0].format, shared::exports::ExportFormat::Jsonl);

    // Weekly on Friday: Thursday is not due, Friday is.
    let fridays = json!({"cadence": "weekly", "hour_utc": 3, "weekday": "fri", "format": "csv"});
    assert_eq!(set_schedule(fridays.clone()).await, 200);
    app.run_schedules(at(2, 3, 0, 0)).await.unwrap();
    assert_eq!(jobs().await.len(), 2);
    app.run_schedules(at(3, 3, 0, 0)).await.unwrap();
    assert_eq!(jobs().await.len(), 3);

    // Removed, nothing runs; set again, the period that already ran does not run twice.
    let (status, _) = http(&app, &org, "delete-export-schedule", None, SAMPLE_JOB).await;
    assert_eq!(status, 204);
    app.run_schedules(at(10, 3, 0, 0)).await.unwrap();
    assert_eq!(jobs().await.len(), 3, "no schedule, no job");
    assert_eq!(set_schedule(fridays).await, 200);
    app.run_schedules(at(3, 3, 30, 0)).await.unwrap();
    assert_eq!(jobs().await.len(), 3, "that Friday already ran");
    app.run_schedules(at(17, 3, 0, 0)).await.unwrap();
    assert_eq!(jobs().await.len(), 4);
}

/// A worker that began a multipart upload and then lost its job to a redelivery gives the
/// upload back: no parts of it are left in the bucket (the deployed worker's AbortMultipartUpload).
#[tokio::test]
async fn a_superseded_worker_gives_back_the_multipart_upload_it_began() {
    let (local, org) = org_with_contacts("parts", 40).await;
    let (hold, resume) = hold_after(3);
    let unpolled = unpolled_queue("export-handler-tests").await;
    // Parts of 256 bytes: the slow worker's file is a multipart upload from its first page.
    let slow = worker(
        &unpolled,
        Tuning {
            part_bytes: 256,
            ..paged(5, Some(hold.clone()))
        },
    )
    .await;
    let fast = worker(&unpolled, Tuning::default()).await;
    let id = start(&app(&local, Tuning::default()).await, &org).await;
    let first = tokio::spawn({
        let (slow, task) = (std::sync::Arc::new(slow), task(&org, &id));
        async move { slow.attempt(&task, Deadline::longest()).await.unwrap() }
    });
    hold.reached.notified().await;
    assert_eq!(
        uploads_in_progress(&org).await,
        1,
        "the slow worker has begun a multipart upload"
    );
    let second = fast
        .attempt(&task(&org, &id), Deadline::longest())
        .await
        .unwrap();
    assert_eq!(second, Attempt::Succeeded { rows: 40 });
    resume.notify_one();
    assert_eq!(first.await.unwrap(), Attempt::NothingToDo);
    assert_eq!(
        uploads_in_progress(&org).await,
        0,
        "the superseded worker's parts are given back"
    );
    assert_one_file_with_every_contact_once(&org, &id, 40).await;
}

/// Multipart uploads begun and neither completed nor aborted under the org's exports.
async fn uploads_in_progress(org: &str) -> usize {
    s3().await
        .list_multipart_uploads()
        .bucket("inbox-local-databucket")
        .prefix(format!("exports/{org}/"))
        .send()
        .await
        .unwrap()
        .uploads()
        .len()
}
