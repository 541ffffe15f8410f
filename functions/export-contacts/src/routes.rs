//! The HTTP routes: start, read and list export jobs; set, read and remove the schedule.

use super::*;

shared::routes! {
    binary = "export-contacts";
    "/exports" { POST => StartExport: Export, GET => ListExports: Export }
    "/exports/{id}" { GET => GetExport: Export }
    "/export-schedule" {
        PUT => PutSchedule: Export, GET => GetSchedule: Export, DELETE => DeleteSchedule: Export
    }
}

impl App {
    #[tracing::instrument(skip(self, caller, req), fields(org = %caller.org, user = %caller.user_id))]
    async fn start(&self, caller: &Caller, req: &Request) -> HttpResult {
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
    pub(crate) async fn enqueue(&self, org: &OrgId, job: &ExportJob) -> Result<(), DomainError> {
        let task = ExportTask {
            org_id: org.clone(),
            export_id: ExportId::parse(&job.id)
                .map_err(|_| DomainError::failed("an export job without a UUID id"))?,
            lease: None,
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
    async fn get(&self, caller: &Caller, id: &str) -> HttpResult {
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
    async fn put_schedule(&self, caller: &Caller, req: &Request) -> HttpResult {
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
    async fn get_schedule(&self, caller: &Caller) -> HttpResult {
        let stored = self.store.export_schedule(&caller.org).await?;
        let Some((schedule, updated_at)) = stored.and_then(|s| Some((s.schedule?, s.updated_at)))
        else {
            return Err(ApiError::NotFound("export schedule"));
        };
        Ok(ok(&schedule.view(self.env.now(), &updated_at)))
    }

    #[tracing::instrument(skip(self, caller), fields(org = %caller.org, user = %caller.user_id))]
    async fn delete_schedule(&self, caller: &Caller) -> HttpResult {
        let now = rfc3339(self.env.now());
        if self.store.remove_export_schedule(&caller.org, &now).await? {
            Ok(no_content())
        } else {
            Err(ApiError::NotFound("export schedule"))
        }
    }
}

impl HttpFunction for App {
    type RouteId = RouteId;

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
            RouteId::GetExport => self.get(caller, &route.id::<ExportId>("id")?).await,
            RouteId::ListExports => {
                let (scope, page) = route.page(req, "")?;
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
