//! `export-contacts`: admins export contact attribute data as CSV or JSON Lines, on demand and
//! on a schedule. Three entry points share this crate: the HTTP routes (`export-contacts`), the
//! queue worker that writes the file (`export-worker`) and the hourly trigger that starts
//! scheduled jobs (`export-scheduler`).

mod encoder;
mod routes;
mod scheduler;
mod worker;

pub use routes::RouteId;
pub use scheduler::{ScheduleRun, ScheduledEvent};
pub use worker::Attempt;

use encoder::{Columns, Encoder};
use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::auth::Caller;
use shared::blobs::{Blobs, Upload};
use shared::clock::{Env, rfc3339};
use shared::contacts::Contact;
use shared::cursor::{LastEvaluatedKey, Position};
use shared::exports::{
    ExportCheckpoint, ExportFilter, ExportJob, ExportRequest, ExportSchedule, ExportTask,
    ExportTrigger, ScheduleRequest,
};
use shared::http::{HttpResult, Matched, Page, json, json_body, no_content, ok};
use shared::idempotency;
use shared::ids::{ExportId, OrgId};
use shared::invocation::{Budget, BudgetPolicy, Deadline};
use shared::keys;
use shared::queue::Queue;
use shared::serve::{Build, Delivery, Handled, HttpFunction, QueueFunction, ScheduledFunction};
use shared::services::Services;
use shared::store::{ExportLease, SaveError, Store, retry_on_conflict};
use shared::{ApiError, DomainError};
use time::OffsetDateTime;
use tokio::sync::mpsc;

/// How the worker reads and writes; tests shrink pages to watch an export in progress.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Contacts per listing query (a step of the budget); `None` takes DynamoDB's 1 MB pages.
    pub page_size: Option<i32>,
    /// Bytes gathered before a part is uploaded (S3 wants at least 5 MiB but for the last).
    pub part_bytes: usize,
    /// Attempts before a job ends `failed`. The queue's `maxReceiveCount` is higher, so the
    /// delivery after the last attempt died can still record the failure.
    pub max_attempts: u32,
    /// How much of an invocation the worker spends before it hands the job on; tests give it
    /// a number of pages.
    pub budget: BudgetPolicy,
    /// An injected fault for tests; never set outside them.
    pub stop_after: Option<StopAfter>,
}

/// An injected fault: the worker stops after `pages` pages and tells `reached`, so a test acts
/// at exactly that point rather than after a guessed delay. Without `resume` it never goes on,
/// as one whose process is killed mid-export: no clean-up runs and nothing more is written. With
/// it, it waits there until told, as one that is merely slow.
#[derive(Debug, Clone, Default)]
pub struct StopAfter {
    pub pages: u64,
    pub reached: std::sync::Arc<tokio::sync::Notify>,
    pub resume: Option<std::sync::Arc<tokio::sync::Notify>>,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            // A step must be short beside any deadline, even a 3-second local one on moto
            // (milliseconds an item); DynamoDB bills by size, so smaller pages cost no more.
            page_size: Some(100),
            part_bytes: Upload::MIN_PART_BYTES,
            max_attempts: 3,
            budget: BudgetPolicy::UntilDeadline,
            stop_after: None,
        }
    }
}

pub struct App {
    store: Store,
    blobs: Blobs,
    queue: Queue,
    env: Env,
    tuning: Tuning,
}

impl App {
    pub fn tuned(store: Store, blobs: Blobs, queue: Queue, env: Env, tuning: Tuning) -> Self {
        Self {
            store,
            blobs,
            queue,
            env,
            tuning,
        }
    }
}

impl Build for App {
    fn build(s: &Services, env: &Env) -> Self {
        Self::tuned(
            s.store(),
            s.blobs(),
            s.exports(),
            env.clone(),
            Tuning::default(),
        )
    }
}
