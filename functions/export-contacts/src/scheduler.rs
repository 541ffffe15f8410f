//! `export-scheduler`: the hourly trigger starts the jobs due in the event's hour.

use super::*;

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

impl App {
    /// The hourly trigger: starts a job for every schedule due in `at`'s hour whose period has
    /// not run yet. However often it fires, a period runs once (the store's conditional write).
    #[tracing::instrument(skip(self))]
    pub async fn run_schedules(&self, at: OffsetDateTime) -> Result<ScheduleRun, DomainError> {
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

/// `export-scheduler`: the hourly trigger starts the jobs due in the event's hour.
impl ScheduledFunction for App {
    const BINARY: &'static str = "export-scheduler";
    type Event = ScheduledEvent;
    type Output = ScheduleRun;

    async fn run_scheduled(&self, event: ScheduledEvent) -> Result<ScheduleRun, DomainError> {
        Box::pin(self.run_schedules(event.time.unwrap_or_else(|| self.env.now()))).await
    }
}
