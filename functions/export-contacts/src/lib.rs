//! `export-contacts`: admins export contact attribute data as CSV or JSON Lines, on demand and
//! on a schedule. Three entry points share this crate: the HTTP routes (`export-contacts`), the
//! queue worker that writes the file (`export-worker`) and the hourly trigger that starts
//! scheduled jobs (`export-scheduler`).

use aws_lambda_events::event::sqs::SqsMessage;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::ApiError;
use shared::auth::Caller;
use shared::blobs::{Blobs, Upload};
use shared::clock::{Env, rfc3339};
use shared::contacts::Contact;
use shared::cursor::LastEvaluatedKey;
use shared::exports::{
    Columns, Encoder, ExportFilter, ExportJob, ExportRequest, ExportSchedule, ExportTask,
    ExportTrigger, ScheduleRequest, is_export_id,
};
use shared::http::{
    HttpResult, Matched, Page, Route, json, json_body, no_content, ok, page_request,
};
use shared::idempotency;
use shared::ids::OrgId;
use shared::keys;
use shared::queue::Queue;
use shared::serve::{Build, Handled, HttpFunction, QueueFunction, ScheduledFunction};
use shared::services::Services;
use shared::store::{SaveError, Store, retry_on_conflict};
use time::OffsetDateTime;
use tokio::sync::mpsc;

/// A failed attempt is tried again this soon (the queue's visibility timeout, 16 minutes, is
/// for workers that die without a word).
const RETRY_AFTER_SECONDS: i32 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    StartExport,
    GetExport,
    ListExports,
    PutSchedule,
    GetSchedule,
    DeleteSchedule,
}

pub const ROUTES: &[Route<RouteId>] = shared::routes![
    POST "/exports" => RouteId::StartExport, Export;
    GET "/exports/{id}" => RouteId::GetExport, Export;
    GET "/exports" => RouteId::ListExports, Export;
    PUT "/export-schedule" => RouteId::PutSchedule, Export;
    GET "/export-schedule" => RouteId::GetSchedule, Export;
    DELETE "/export-schedule" => RouteId::DeleteSchedule, Export;
];

/// How the worker reads and writes; tests shrink pages to watch an export in progress.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Contacts per listing query; `None` takes DynamoDB's 1 MB pages.
    pub page_size: Option<i32>,
    /// Bytes gathered before a part is uploaded (S3 wants at least 5 MiB but for the last).
    pub part_bytes: usize,
    /// Attempts before a job ends `failed`. The queue's `maxReceiveCount` is higher, so the
    /// delivery after the last attempt died can still record the failure.
    pub max_attempts: u32,
    /// An injected fault for tests; never set outside them.
    pub die_after: Option<DieAfter>,
}

/// A worker that stops dead after `pages` pages, as one whose process is killed mid-export:
/// no clean-up runs and nothing more is written. It tells `reached` when it gets there, so a
/// test drops it at exactly that point rather than after a guessed delay.
#[derive(Debug, Clone, Default)]
pub struct DieAfter {
    pub pages: u64,
    pub reached: std::sync::Arc<tokio::sync::Notify>,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            page_size: None,
            part_bytes: Upload::MIN_PART_BYTES,
            max_attempts: 3,
            die_after: None,
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

/// What an attempt came to, when it did not fail.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The job already finished, or another attempt is the current one.
    NothingToDo,
    Succeeded {
        rows: u64,
    },
    /// The attempt failed and the job has attempts left: the queue delivers it again.
    WillRetry,
    Failed,
}

/// Where an attempt failed, in words an admin can act on (never an internal message).
#[derive(Debug, Clone, Copy)]
enum Stage {
    ReadContacts,
    WriteFile,
}

impl Stage {
    fn reason(self) -> &'static str {
        match self {
            Stage::ReadContacts => "the contacts could not be read",
            Stage::WriteFile => "the file could not be written",
        }
    }
}

struct Failure {
    stage: Stage,
    error: ApiError,
}

fn at(stage: Stage) -> impl FnOnce(ApiError) -> Failure {
    move |error| Failure { stage, error }
}

/// The hourly trigger's event (EventBridge): `time` is the scheduled time.
#[derive(Debug, Default, Deserialize)]
pub struct ScheduledEvent {
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub time: Option<OffsetDateTime>,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct ScheduleRun {
    pub hour_utc: u8,
    pub due: usize,
    pub started: Vec<String>,
}

/// Stops the page reader when the export stops, however it stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type ContactPage = Result<Vec<Contact>, ApiError>;

impl App {
    pub fn new(store: Store, blobs: Blobs, queue: Queue, env: Env) -> Self {
        Self::tuned(store, blobs, queue, env, Tuning::default())
    }

    pub fn tuned(store: Store, blobs: Blobs, queue: Queue, env: Env, tuning: Tuning) -> Self {
        Self {
            store,
            blobs,
            queue,
            env,
            tuning,
        }
    }

    #[tracing::instrument(skip(self, caller, req), fields(org = %caller.org, user = %caller.user_id))]
    async fn start(&self, caller: &Caller, req: &Request) -> Result<Response<Body>, ApiError> {
        let request: ExportRequest = json_body(req)?;
        let filter = ExportFilter::requested(request.filter)?;
        let now = rfc3339(self.env.now());
        let job = ExportJob::new(
            self.env.ids.new_id(),
            request.format,
            filter,
            ExportTrigger::Manual,
            &now,
        );
        self.store.create_export(&caller.org, &job).await?;
        self.enqueue(&caller.org, &job).await?;
        tracing::info!(export = %job.id, "export queued");
        Ok(json(StatusCode::ACCEPTED, &job.view(self.env.now(), None)))
    }

    /// Hands a written job to the worker. A job the queue would not take is failed at once,
    /// so it never waits forever in `queued`.
    async fn enqueue(&self, org: &OrgId, job: &ExportJob) -> Result<(), ApiError> {
        let task = ExportTask {
            org_id: org.to_string(),
            export_id: job.id.clone(),
        };
        let Err(err) = self.queue.send(&task).await else {
            return Ok(());
        };
        let now = rfc3339(self.env.now());
        let reason = "the export could not be queued; start it again";
        if let Err(SaveError::Failed(fail)) =
            self.store.fail_export(org, &job.id, reason, &now).await
        {
            tracing::error!(export = %job.id, error = ?fail, "could not fail an unqueued export");
        }
        Err(err)
    }

    #[tracing::instrument(skip(self, caller), fields(org = %caller.org))]
    async fn get(&self, caller: &Caller, id: &str) -> Result<Response<Body>, ApiError> {
        if !is_export_id(id) {
            return Err(ApiError::NotFound("export"));
        }
        let job = self
            .store
            .export_job(&caller.org, id)
            .await?
            .ok_or(ApiError::NotFound("export"))?;
        Ok(ok(&self.view(&job).await?))
    }

    async fn view(&self, job: &ExportJob) -> Result<shared::exports::ExportJobView, ApiError> {
        let now = self.env.now();
        let url = match job.downloadable(now) {
            Some(key) => Some(self.blobs.download_link(key).await?),
            None => None,
        };
        Ok(job.view(now, url))
    }

    #[tracing::instrument(skip(self, caller, req), fields(org = %caller.org, user = %caller.user_id))]
    async fn put_schedule(
        &self,
        caller: &Caller,
        req: &Request,
    ) -> Result<Response<Body>, ApiError> {
        let schedule = ExportSchedule::parse(json_body::<ScheduleRequest>(req)?)?;
        let now = rfc3339(self.env.now());
        retry_on_conflict(|| async {
            let previous = self.store.export_schedule(&caller.org).await?;
            self.store
                .save_export_schedule(&caller.org, previous.as_ref(), &schedule, &now)
                .await
        })
        .await?;
        Ok(ok(&schedule.view(self.env.now(), &now)))
    }

    #[tracing::instrument(skip(self, caller), fields(org = %caller.org))]
    async fn get_schedule(&self, caller: &Caller) -> Result<Response<Body>, ApiError> {
        let stored = self.store.export_schedule(&caller.org).await?;
        let Some((schedule, updated_at)) = stored.and_then(|s| Some((s.schedule?, s.updated_at)))
        else {
            return Err(ApiError::NotFound("export schedule"));
        };
        Ok(ok(&schedule.view(self.env.now(), &updated_at)))
    }

    #[tracing::instrument(skip(self, caller), fields(org = %caller.org, user = %caller.user_id))]
    async fn delete_schedule(&self, caller: &Caller) -> Result<Response<Body>, ApiError> {
        let now = rfc3339(self.env.now());
        if self.store.remove_export_schedule(&caller.org, &now).await? {
            Ok(no_content())
        } else {
            Err(ApiError::NotFound("export schedule"))
        }
    }

    /// Runs one attempt of a job. Any number of deliveries of the same task, in sequence or at
    /// once, end with at most one file and a job that says where it is.
    #[tracing::instrument(skip(self, task), fields(org = %task.org_id, export = %task.export_id))]
    pub async fn attempt(&self, task: &ExportTask) -> Result<Attempt, ApiError> {
        let org = OrgId::parse(&task.org_id)?;
        let Some(job) = self.store.export_job(&org, &task.export_id).await? else {
            tracing::warn!("export task for a job that does not exist");
            return Ok(Attempt::NothingToDo);
        };
        if job.status.is_finished() {
            return Ok(Attempt::NothingToDo);
        }
        if job.attempts >= self.tuning.max_attempts {
            // The last attempt died without a word (a crash or a timeout).
            let reason = format!(
                "the export did not finish in {} attempts",
                self.tuning.max_attempts
            );
            return self.give_up(&org, &job, &reason).await;
        }
        let now = rfc3339(self.env.now());
        let attempt = match self
            .store
            .start_export_attempt(&org, &job.id, job.attempts, &now)
            .await
        {
            Ok(attempt) => attempt,
            Err(SaveError::Conflict) => return Ok(Attempt::WillRetry),
            Err(SaveError::Failed(err)) => return Err(err),
        };
        match self.write_file(&org, &job, attempt).await {
            Ok(outcome) => Ok(outcome),
            Err(failure) => {
                tracing::error!(attempt, error = ?failure.error, "export attempt failed");
                if attempt < self.tuning.max_attempts {
                    return Ok(Attempt::WillRetry);
                }
                let reason = format!(
                    "{} (tried {attempt} times); start a new export",
                    failure.stage.reason()
                );
                self.give_up(&org, &job, &reason).await
            }
        }
    }

    async fn give_up(
        &self,
        org: &OrgId,
        job: &ExportJob,
        reason: &str,
    ) -> Result<Attempt, ApiError> {
        let now = rfc3339(self.env.now());
        match self.store.fail_export(org, &job.id, reason, &now).await {
            Ok(()) => {
                tracing::warn!(reason, "export failed");
                // Only an attempt that died between writing its file and recording it leaves
                // one behind; the lifecycle rule removes it if this cleanup cannot.
                if let Err(err) = self
                    .blobs
                    .delete_prefix(&keys::export_prefix(org, &job.id))
                    .await
                {
                    tracing::warn!(error = ?err, "could not remove a failed export's files");
                }
                Ok(Attempt::Failed)
            }
            Err(SaveError::Conflict) => Ok(Attempt::NothingToDo),
            Err(SaveError::Failed(err)) => Err(err),
        }
    }

    /// Streams the org's contacts into the attempt's own object: pages are read ahead while
    /// the previous page is encoded and uploaded, and at most one part is held in memory.
    async fn write_file(
        &self,
        org: &OrgId,
        job: &ExportJob,
        attempt: u32,
    ) -> Result<Attempt, Failure> {
        let (_, definitions) = self
            .store
            .org_config(org)
            .await
            .map_err(at(Stage::ReadContacts))?;
        let mut encoder = Encoder::new(job.format, Columns::new(definitions.value))
            .map_err(at(Stage::WriteFile))?;
        let key = keys::export_object(org, &job.id, attempt, job.format.extension());
        let mut upload = self
            .blobs
            .upload(&key, job.format.content_type(), &job.file_name());
        let (pages, reader) = self.read_ahead(org, job.filter.vip);
        let streamed = self
            .stream(org, job, attempt, pages, &mut encoder, &mut upload)
            .await;
        drop(reader);
        let rows = match streamed {
            Ok(Some(rows)) => rows,
            Ok(None) => {
                upload.abort().await;
                return Ok(Attempt::NothingToDo);
            }
            Err(failure) => {
                upload.abort().await;
                return Err(failure);
            }
        };
        let last = encoder.finish().map_err(at(Stage::WriteFile))?;
        upload.finish(last).await.map_err(at(Stage::WriteFile))?;
        let now = rfc3339(self.env.now());
        match self
            .store
            .finish_export(org, &job.id, attempt, rows, &key, &now)
            .await
        {
            Ok(()) => {}
            Err(SaveError::Conflict) => {
                // A later attempt owns the job now: its file is the one that counts.
                self.blobs
                    .delete(&key)
                    .await
                    .map_err(at(Stage::WriteFile))?;
                return Ok(Attempt::NothingToDo);
            }
            Err(SaveError::Failed(err)) => {
                self.blobs
                    .delete(&key)
                    .await
                    .map_err(at(Stage::WriteFile))?;
                return Err(at(Stage::WriteFile)(err));
            }
        }
        // Files of attempts that died after writing (none, usually).
        if let Err(err) = self
            .blobs
            .delete_prefix_except(&keys::export_prefix(org, &job.id), Some(&key))
            .await
        {
            tracing::warn!(error = ?err, "could not remove an earlier attempt's file");
        }
        tracing::info!(rows, attempt, "export succeeded");
        Ok(Attempt::Succeeded { rows })
    }

    fn read_ahead(
        &self,
        org: &OrgId,
        vip_only: bool,
    ) -> (mpsc::Receiver<ContactPage>, AbortOnDrop) {
        let (tx, rx) = mpsc::channel::<ContactPage>(1);
        let store = self.store.clone();
        let org = org.clone();
        let limit = self.tuning.page_size;
        let reader = tokio::spawn(async move {
            let mut start: Option<LastEvaluatedKey> = None;
            loop {
                let (contacts, next) = match store.contacts_page(&org, vip_only, limit, start).await
                {
                    Ok(page) => page,
                    Err(err) => {
                        let _ = tx.send(Err(err)).await;
                        return;
                    }
                };
                if tx.send(Ok(contacts)).await.is_err() || next.is_none() {
                    return;
                }
                start = next;
            }
        });
        (rx, AbortOnDrop(reader))
    }

    /// Encodes every page; `None` when a later attempt took the job over.
    async fn stream(
        &self,
        org: &OrgId,
        job: &ExportJob,
        attempt: u32,
        mut pages: mpsc::Receiver<ContactPage>,
        encoder: &mut Encoder,
        upload: &mut Upload,
    ) -> Result<Option<u64>, Failure> {
        let mut rows = 0u64;
        let mut read = 0u64;
        while let Some(page) = pages.recv().await {
            let contacts = page.map_err(at(Stage::ReadContacts))?;
            for contact in &contacts {
                encoder.write(contact).map_err(at(Stage::WriteFile))?;
            }
            rows += contacts.len() as u64;
            drop(contacts);
            if let Some(part) = encoder
                .take_at_least(self.tuning.part_bytes)
                .map_err(at(Stage::WriteFile))?
            {
                upload.part(part).await.map_err(at(Stage::WriteFile))?;
            }
            let now = rfc3339(self.env.now());
            match self
                .store
                .export_progress(org, &job.id, attempt, rows, &now)
                .await
            {
                Ok(()) => {}
                Err(SaveError::Conflict) => return Ok(None),
                Err(SaveError::Failed(err)) => return Err(at(Stage::ReadContacts)(err)),
            }
            read += 1;
            if let Some(fault) = self.tuning.die_after.as_ref().filter(|f| f.pages == read) {
                fault.reached.notify_one();
                std::future::pending::<()>().await;
            }
        }
        Ok(Some(rows))
    }

    /// The hourly trigger: starts a job for every schedule due in `at`'s hour whose period has
    /// not run yet. However often it fires, a period runs once (the store's conditional write).
    #[tracing::instrument(skip(self))]
    pub async fn run_schedules(&self, at: OffsetDateTime) -> Result<ScheduleRun, ApiError> {
        let at = at.to_offset(time::UtcOffset::UTC);
        let mut run = ScheduleRun {
            hour_utc: at.hour(),
            ..ScheduleRun::default()
        };
        let mut first_error = None;
        for stored in self.store.schedules_for_hour(at.hour()).await? {
            let Some(schedule) = stored.schedule else {
                continue;
            };
            let Some(period) = schedule.due_period(at) else {
                continue;
            };
            if stored.last_period.as_ref().is_some_and(|p| *p >= period) {
                continue;
            }
            run.due += 1;
            let now = rfc3339(self.env.now());
            let mut job = ExportJob::new(
                self.env.ids.new_id(),
                schedule.format,
                schedule.filter,
                ExportTrigger::Schedule,
                &now,
            );
            job.period = Some(period.clone());
            let result = match self
                .store
                .start_scheduled_export(&stored.org, &job, &period)
                .await
            {
                Ok(()) => self.enqueue(&stored.org, &job).await.map(|()| true),
                Err(SaveError::Conflict) => Ok(false),
                Err(SaveError::Failed(err)) => Err(err),
            };
            match result {
                Ok(true) => {
                    tracing::info!(org = %stored.org, export = %job.id, %period, "scheduled export started");
                    run.started.push(job.id);
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::error!(org = %stored.org, error = ?err, "scheduled export not started");
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(run),
        }
    }
}

impl Build for App {
    fn build(s: &Services, env: &Env) -> Self {
        Self::new(
            s.store.clone(),
            s.blobs.clone(),
            s.exports.clone(),
            env.clone(),
        )
    }
}

impl HttpFunction for App {
    type RouteId = RouteId;
    const BINARY: &'static str = "export-contacts";
    const ROUTES: &'static [Route<RouteId>] = ROUTES;

    async fn dispatch(&self, route: Matched<RouteId>, req: &Request) -> HttpResult {
        let caller = &route.caller;
        match route.id {
            RouteId::StartExport => {
                Box::pin(idempotency::once(
                    &self.store,
                    &self.env,
                    caller,
                    req,
                    || self.start(caller, req),
                ))
                .await
            }
            RouteId::GetExport => self.get(caller, route.param("id")).await,
            RouteId::ListExports => {
                let scope = route.list_scope("");
                let page = page_request(req, &scope)?;
                let (jobs, next) = self.store.list_exports(&caller.org, page).await?;
                let mut items = Vec::with_capacity(jobs.len());
                for job in &jobs {
                    items.push(self.view(job).await?);
                }
                Ok(ok(&Page::new(items, &scope, next)))
            }
            RouteId::PutSchedule => self.put_schedule(caller, req).await,
            RouteId::GetSchedule => self.get_schedule(caller).await,
            RouteId::DeleteSchedule => self.delete_schedule(caller).await,
        }
    }
}

/// `export-worker`: each record is one job to run.
impl QueueFunction for App {
    const BINARY: &'static str = "export-worker";
    type Job = ExportTask;
    type Error = ApiError;

    async fn run(&self, task: ExportTask, record: &SqsMessage) -> Result<Handled, ApiError> {
        let outcome = Box::pin(self.attempt(&task)).await;
        if matches!(outcome, Ok(Attempt::WillRetry) | Err(_))
            && let Some(receipt) = record.receipt_handle.as_deref()
            && let Err(err) = self.queue.retry_after(receipt, RETRY_AFTER_SECONDS).await
        {
            tracing::warn!(error = ?err, "retry left to the visibility timeout");
        }
        match outcome? {
            Attempt::WillRetry => Ok(Handled::Again),
            _ => Ok(Handled::Done),
        }
    }
}

/// `export-scheduler`: the hourly trigger starts the jobs due in the event's hour.
impl ScheduledFunction for App {
    const BINARY: &'static str = "export-scheduler";
    type Event = ScheduledEvent;
    type Output = ScheduleRun;

    async fn run_scheduled(&self, event: ScheduledEvent) -> Result<ScheduleRun, ApiError> {
        Box::pin(self.run_schedules(event.time.unwrap_or_else(|| self.env.now()))).await
    }
}
