//! Export jobs (created once, listed newest first, written only under the latest lease) and
//! export schedules (saved on their version, found by hour, each period run once).

use super::*;
use crate::exports::{
    Cadence, Day, ExportCheckpoint, ExportFilter, ExportFormat, ExportJob, ExportSchedule,
    ExportStatus, ExportTrigger,
};
use crate::testing::local_store;

const LATER: &str = "2026-01-01T10:05:00Z";

fn job(id: &str) -> ExportJob {
    ExportJob::new(
        id.into(),
        ExportFormat::Csv,
        ExportFilter::default(),
        ExportTrigger::Manual,
        NOW,
    )
}

fn daily(hour_utc: u8) -> ExportSchedule {
    ExportSchedule {
        cadence: Cadence::Daily,
        hour_utc,
        weekday: None,
        format: ExportFormat::Jsonl,
        filter: ExportFilter { vip: true },
    }
}

#[tokio::test]
async fn export_jobs_are_created_once_and_listed_newest_first() {
    let (store, org) = (local_store().await, org());
    for id in ["01a-1", "01a-2", "01a-3"] {
        store.create_export(&org, &job(id)).await.unwrap();
    }
    assert!(
        store.create_export(&org, &job("01a-2")).await.is_err(),
        "an id is never written twice"
    );
    assert_eq!(
        store.export_job(&org, "01a-2").await.unwrap(),
        Some(job("01a-2"))
    );
    assert_eq!(store.export_job(&org, "01a-9").await.unwrap(), None);
    let (first, next) = store.list_exports(&org, page(2)).await.unwrap();
    let ids: Vec<&str> = first.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["01a-3", "01a-2"]);
    let (last, next) = store.list_exports(&org, next_page(2, next)).await.unwrap();
    assert_eq!(
        last.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        ["01a-1"]
    );
    assert_eq!(next, None);
    let (other, _) = store.list_exports(&self::org(), page(10)).await.unwrap();
    assert!(other.is_empty(), "another org lists none of them");
    let foreign = raw_key(&crate::keys::org_pk(&self::org()), "EXPORT#01a-3");
    let err = store
        .list_exports(&org, next_page(2, Some(foreign)))
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::ForeignCursor), "{err:?}");
}

#[tokio::test]
async fn an_export_is_written_only_by_the_invocation_holding_its_latest_lease() {
    let (store, org) = (local_store().await, org());
    store.create_export(&org, &job("e1")).await.unwrap();
    let first = store.claim_export(&org, "e1", 0, true, NOW).await.unwrap();
    assert_eq!((first.org(), first.id(), first.number()), (&org, "e1", 1));
    assert_refused(
        store.claim_export(&org, "e1", 0, true, NOW).await,
        "a twin delivery that read the same lease loses",
    );
    store.export_progress(&first, 10, NOW).await.unwrap();
    let running = store.export_job(&org, "e1").await.unwrap().unwrap();
    assert_eq!(
        (
            running.status,
            running.lease,
            running.attempts,
            running.rows
        ),
        (ExportStatus::Running, 1, 1, 10)
    );

    let checkpoint = ExportCheckpoint {
        definitions: crate::attributes::AttributeSet::default(),
        object_key: "exports/o/e1/1.csv".into(),
        upload: crate::blobs::UploadState {
            upload_id: Some("up-1".into()),
            parts: vec![],
        },
        pending_key: None,
        position: crate::cursor::Position::of(&raw_key("ORG#o#C#c7", "PROFILE")),
        rows: 20,
    };
    store
        .save_export_checkpoint(&first, &checkpoint, NOW)
        .await
        .unwrap();
    // The continuation claims the next lease and keeps the attempt count.
    let second = store
        .claim_export(&org, "e1", 1, false, LATER)
        .await
        .unwrap();
    assert_eq!(second.number(), 2);
    let continued = store.export_job(&org, "e1").await.unwrap().unwrap();
    assert_eq!(continued.checkpoint, Some(checkpoint.clone()));
    assert_eq!(
        (continued.lease, continued.attempts, continued.rows),
        (2, 1, 20)
    );

    let stale = store.export_progress(&first, 99, LATER).await;
    assert_refused(stale, "superseded");
    let stale = store
        .save_export_checkpoint(&first, &checkpoint, LATER)
        .await;
    assert_refused(stale, "superseded");
    let stale = store
        .finish_export(&first, 99, "exports/o/e1/1.csv", LATER)
        .await;
    assert_refused(stale, "superseded");
    assert_eq!(
        store.export_job(&org, "e1").await.unwrap().unwrap().rows,
        20
    );

    store
        .finish_export(&second, 42, "exports/o/e1/2.csv", LATER)
        .await
        .unwrap();
    let done = store.export_job(&org, "e1").await.unwrap().unwrap();
    assert_eq!(done.status, ExportStatus::Succeeded);
    assert_eq!(done.rows, 42);
    assert_eq!(done.object_key.as_deref(), Some("exports/o/e1/2.csv"));
    assert_eq!(done.completed_at.as_deref(), Some(LATER));
    assert_eq!(
        done.checkpoint, None,
        "the checkpoint goes with the job's end"
    );
    assert_refused(
        store.claim_export(&org, "e1", 2, true, LATER).await,
        "a finished job is not claimed again",
    );
    assert_refused(
        store.fail_export(&org, "e1", "late", LATER).await,
        "a finished job stays succeeded",
    );
    assert_refused(
        store.claim_export(&org, "e9", 0, true, LATER).await,
        "a claim never creates a job",
    );
}

#[tokio::test]
async fn an_unfinished_export_fails_once_and_its_worker_stops() {
    let (store, org) = (local_store().await, org());
    store.create_export(&org, &job("queued")).await.unwrap();
    store
        .fail_export(&org, "queued", "the queue gave up", LATER)
        .await
        .unwrap();
    let failed = store.export_job(&org, "queued").await.unwrap().unwrap();
    assert_eq!(failed.status, ExportStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("the queue gave up"));
    assert_eq!(failed.completed_at.as_deref(), Some(LATER));
    assert_refused(
        store.fail_export(&org, "queued", "again", LATER).await,
        "a job fails once",
    );
    assert_refused(
        store.claim_export(&org, "queued", 0, true, LATER).await,
        "a failed job is not claimed",
    );

    store.create_export(&org, &job("running")).await.unwrap();
    let lease = store
        .claim_export(&org, "running", 0, true, NOW)
        .await
        .unwrap();
    store
        .fail_export(&org, "running", "timed out", LATER)
        .await
        .unwrap();
    assert_refused(
        store.export_progress(&lease, 5, LATER).await,
        "a failed job takes no more progress",
    );
    let failed = store.export_job(&org, "running").await.unwrap().unwrap();
    assert_eq!((failed.status, failed.rows), (ExportStatus::Failed, 0));
}

#[tokio::test]
async fn an_export_schedule_is_saved_on_its_version_and_removed_once() {
    let (store, org) = (local_store().await, org());
    assert!(store.export_schedule(&org).await.unwrap().is_none());
    assert!(!store.remove_export_schedule(&org, NOW).await.unwrap());
    store
        .save_export_schedule(&org, None, &daily(9), NOW)
        .await
        .unwrap();
    assert_refused(
        store.save_export_schedule(&org, None, &daily(9), NOW).await,
        "created once",
    );
    let first = store.export_schedule(&org).await.unwrap().unwrap();
    assert_eq!((first.schedule, first.version), (Some(daily(9)), 1));
    assert_eq!(
        (first.org.as_str(), first.created_at.as_str()),
        (org.as_str(), NOW)
    );

    let weekly = ExportSchedule {
        cadence: Cadence::Weekly,
        weekday: Some(Day::Mon),
        ..daily(10)
    };
    store
        .save_export_schedule(&org, Some(&first), &weekly, LATER)
        .await
        .unwrap();
    assert_refused(
        store
            .save_export_schedule(&org, Some(&first), &daily(11), LATER)
            .await,
        "a change over a stale read is refused",
    );
    let second = store.export_schedule(&org).await.unwrap().unwrap();
    assert_eq!((second.schedule, second.version), (Some(weekly), 2));
    assert_eq!(
        (second.created_at.as_str(), second.updated_at.as_str()),
        (NOW, LATER)
    );

    assert!(store.remove_export_schedule(&org, LATER).await.unwrap());
    assert!(!store.remove_export_schedule(&org, LATER).await.unwrap());
    let removed = store.export_schedule(&org).await.unwrap().unwrap();
    assert_eq!((removed.schedule, removed.version), (None, 3));
    assert_refused(
        store
            .save_export_schedule(&org, None, &daily(9), LATER)
            .await,
        "the record stays, so a new schedule is saved over it",
    );
    store
        .save_export_schedule(&org, Some(&removed), &daily(9), LATER)
        .await
        .unwrap();
    assert_eq!(
        store.export_schedule(&org).await.unwrap().unwrap().version,
        4
    );
}

/// Whether `schedules_for_hour(hour)` lists `org`'s schedule (other orgs' are there too).
async fn listed(store: &Store, org: &OrgId, hour: u8) -> bool {
    let all = store.schedules_for_hour(hour).await.unwrap();
    all.iter().any(|s| s.org == *org)
}

/// The scheduled job `id` for the period that starts at `period`.
fn scheduled(id: &str, period: &str) -> ExportJob {
    ExportJob {
        trigger: ExportTrigger::Schedule,
        period: Some(at(period)),
        ..job(id)
    }
}

/// Starts the scheduled job `id` for the period that starts at `period`.
async fn start(store: &Store, org: &OrgId, id: &str, period: &str) -> Result<(), SaveError> {
    store
        .start_scheduled_export(org, &scheduled(id, period), &at(period))
        .await
}

/// The period the org's schedule last started a job for.
async fn last_period(store: &Store, org: &OrgId) -> Option<String> {
    let schedule = store.export_schedule(org).await.unwrap().unwrap();
    schedule.last_period.map(|p| p.as_str().to_owned())
}

#[tokio::test]
async fn a_schedule_is_found_by_its_hour_and_runs_each_period_once() {
    let (store, org) = (local_store().await, org());
    store
        .save_export_schedule(&org, None, &daily(7), NOW)
        .await
        .unwrap();
    assert!(listed(&store, &org, 7).await);
    assert!(!listed(&store, &org, 8).await);

    let (day1, day2) = ("2026-01-01T07:00:00Z", "2026-01-02T07:00:00Z");
    start(&store, &org, "s1", day1).await.unwrap();
    assert_eq!(
        store.export_job(&org, "s1").await.unwrap(),
        Some(scheduled("s1", day1))
    );
    assert_refused(start(&store, &org, "s2", day1).await, "a period runs once");
    assert_eq!(
        store.export_job(&org, "s2").await.unwrap(),
        None,
        "nor its job"
    );
    assert_refused(
        start(&store, &org, "s0", "2025-12-31T07:00:00Z").await,
        "a period before the last one run does not start",
    );

    // A change of the schedule keeps the period it last ran for.
    assert_eq!(last_period(&store, &org).await.as_deref(), Some(day1));
    let stored = store.export_schedule(&org).await.unwrap().unwrap();
    store
        .save_export_schedule(&org, Some(&stored), &daily(8), LATER)
        .await
        .unwrap();
    assert!(listed(&store, &org, 8).await);
    assert!(!listed(&store, &org, 7).await, "moved, not copied");
    assert_eq!(last_period(&store, &org).await.as_deref(), Some(day1));
    assert_refused(start(&store, &org, "s3", day1).await, "a period runs once");
    start(&store, &org, "s4", day2).await.unwrap();

    assert!(store.remove_export_schedule(&org, LATER).await.unwrap());
    assert!(
        !listed(&store, &org, 8).await,
        "a removed schedule is not due"
    );
    assert_refused(
        start(&store, &org, "s5", "2026-01-03T08:00:00Z").await,
        "a removed schedule starts nothing",
    );
    assert_eq!(
        last_period(&store, &org).await.as_deref(),
        Some(day2),
        "remembered after removal"
    );
}
