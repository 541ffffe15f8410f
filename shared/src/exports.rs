//! Exports of contact attribute data: the job and the schedule (the file itself is written by
//! `export-contacts`).

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, Weekday};

use crate::error::ApiError;

/// The first columns of every export, before one column per attribute definition.
pub const CONTACT_COLUMNS: [&str; 8] = [
    "contact_id",
    "name",
    "handle",
    "network",
    "vip",
    "validated",
    "created_at",
    "updated_at",
];

/// How long export files are kept (the bucket's lifecycle rule on `exports/`).
pub const FILE_RETENTION: Duration = Duration::days(7);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8; header=present",
            ExportFormat::Jsonl => "application/jsonl; charset=utf-8",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl ExportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Queued => "queued",
            ExportStatus::Running => "running",
            ExportStatus::Succeeded => "succeeded",
            ExportStatus::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, ExportStatus::Succeeded | ExportStatus::Failed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportTrigger {
    Manual,
    Schedule,
}

/// Which contacts an export holds; only the VIP group can be picked out today.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportFilter {
    pub vip: bool,
}

impl ExportFilter {
    /// `{"vip": true}` is the one filter there is; `false` would be ambiguous (everyone, or
    /// everyone but the VIPs?), so it is refused rather than guessed.
    pub fn requested(filter: Option<ExportFilter>) -> Result<Self, ApiError> {
        match filter {
            Some(ExportFilter { vip: false }) => Err(ApiError::validation(
                "filter.vip",
                "filter.vip can only be true; leave the filter out to export every contact",
            )),
            other => Ok(other.unwrap_or_default()),
        }
    }
}

/// The body of `POST /exports`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    pub format: ExportFormat,
    pub filter: Option<ExportFilter>,
}

/// A job as stored; [`ExportJob::view`] is what the API shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportJob {
    pub id: String,
    pub format: ExportFormat,
    #[serde(default)]
    pub filter: ExportFilter,
    pub status: ExportStatus,
    pub rows: u64,
    pub trigger: ExportTrigger,
    pub created_at: String,
    pub completed_at: Option<String>,
    pub error: Option<String>,
    /// Worker attempts started so far; an attempt only writes while it is the latest one.
    #[serde(default)]
    pub attempts: u32,
    /// The finished file in the bucket.
    pub object_key: Option<String>,
    /// The scheduled period a scheduled job was started for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<crate::clock::Timestamp>,
    /// Invocations that have claimed the job; an invocation writes only while its lease is the
    /// latest, so a superseded one stops at its next write.
    #[serde(default)]
    pub lease: u64,
    /// Where the next invocation picks the file up, while the job spans invocations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<ExportCheckpoint>,
}

/// A running export, saved by an invocation whose time ran out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportCheckpoint {
    /// The definitions the file's columns came from, so every row of one file has the same.
    pub definitions: crate::attributes::AttributeSet,
    pub object_key: String,
    pub upload: crate::blobs::UploadState,
    /// Rows encoded but not yet uploaded (every part but the last must be 5 MiB), as an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_key: Option<String>,
    /// Where the listing's next page starts.
    pub position: crate::cursor::Position,
    pub rows: u64,
}

#[derive(Debug, Serialize)]
pub struct ExportJobView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub format: ExportFormat,
    pub filter: Option<ExportFilter>,
    pub status: ExportStatus,
    pub rows: u64,
    pub created_at: String,
    pub completed_at: Option<String>,
    pub download_url: Option<String>,
    pub error: Option<String>,
    pub trigger: ExportTrigger,
}

impl ExportJob {
    pub fn new(
        id: String,
        format: ExportFormat,
        filter: ExportFilter,
        trigger: ExportTrigger,
        now: &str,
    ) -> Self {
        Self {
            id,
            format,
            filter,
            status: ExportStatus::Queued,
            rows: 0,
            trigger,
            created_at: now.to_owned(),
            completed_at: None,
            error: None,
            attempts: 0,
            object_key: None,
            period: None,
            lease: 0,
            checkpoint: None,
        }
    }

    /// The file a download link may be made for: a succeeded job's, until the bucket's
    /// lifecycle rule has removed it.
    pub fn downloadable(&self, now: OffsetDateTime) -> Option<&str> {
        if self.status != ExportStatus::Succeeded {
            return None;
        }
        let completed = self.completed_at.as_deref().and_then(parse_time)?;
        (now < completed + FILE_RETENTION)
            .then_some(self.object_key.as_deref())
            .flatten()
    }

    /// `download_url` is made by the caller for [`ExportJob::downloadable`]'s file.
    pub fn view(&self, now: OffsetDateTime, download_url: Option<String>) -> ExportJobView {
        let expired = self.status == ExportStatus::Succeeded && self.downloadable(now).is_none();
        ExportJobView {
            id: self.id.clone(),
            kind: "contact_attributes",
            format: self.format,
            filter: self.filter.vip.then_some(self.filter),
            status: self.status,
            rows: self.rows,
            created_at: self.created_at.clone(),
            completed_at: self.completed_at.clone(),
            download_url,
            error: self
                .error
                .clone()
                .or_else(|| expired.then(|| "the file has expired; start a new export".to_owned())),
            trigger: self.trigger,
        }
    }

    /// The name the file downloads as.
    pub fn file_name(&self) -> String {
        let day = self.created_at.get(..10).unwrap_or("export");
        format!(
            "contacts-{day}-{}.{}",
            short_id(&self.id),
            self.format.extension()
        )
    }
}

fn short_id(id: &str) -> &str {
    id.rsplit('-').next().unwrap_or(id)
}

fn parse_time(value: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cadence {
    Daily,
    Weekly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Monday,
            Day::Tue => Weekday::Tuesday,
            Day::Wed => Weekday::Wednesday,
            Day::Thu => Weekday::Thursday,
            Day::Fri => Weekday::Friday,
            Day::Sat => Weekday::Saturday,
            Day::Sun => Weekday::Sunday,
        }
    }
}

/// The body of `PUT /export-schedule`, before its rules are checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    pub cadence: Cadence,
    pub hour_utc: i64,
    pub weekday: Option<Day>,
    pub format: ExportFormat,
    pub filter: Option<ExportFilter>,
}

/// A valid export schedule: `hour_utc` in 0..=23, a weekday exactly when weekly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportSchedule {
    pub cadence: Cadence,
    pub hour_utc: u8,
    pub weekday: Option<Day>,
    pub format: ExportFormat,
    #[serde(default)]
    pub filter: ExportFilter,
}

#[derive(Debug, Serialize)]
pub struct ScheduleView {
    pub cadence: Cadence,
    pub hour_utc: u8,
    pub weekday: Option<Day>,
    pub format: ExportFormat,
    pub filter: Option<ExportFilter>,
    pub next_run_at: String,
    pub updated_at: String,
}

impl ExportSchedule {
    pub fn parse(request: ScheduleRequest) -> Result<Self, ApiError> {
        let hour_utc = u8::try_from(request.hour_utc)
            .ok()
            .filter(|h| *h <= 23)
            .ok_or_else(|| ApiError::validation("hour_utc", "hour_utc must be 0..23"))?;
        match (request.cadence, request.weekday) {
            (Cadence::Weekly, None) => {
                return Err(ApiError::validation(
                    "weekday",
                    "a weekly schedule needs a weekday (mon..sun)",
                ));
            }
            (Cadence::Daily, Some(_)) => {
                return Err(ApiError::validation(
                    "weekday",
                    "a daily schedule runs every day; leave weekday out",
                ));
            }
            _ => {}
        }
        Ok(Self {
            cadence: request.cadence,
            hour_utc,
            weekday: request.weekday,
            format: request.format,
            filter: ExportFilter::requested(request.filter)?,
        })
    }

    /// The scheduled period `at` falls in, if the schedule is due in that hour: its start,
    /// which names the period in the once-per-period write.
    pub fn due_period(&self, at: OffsetDateTime) -> Option<crate::clock::Timestamp> {
        let at = at.to_offset(time::UtcOffset::UTC);
        if at.hour() != self.hour_utc {
            return None;
        }
        if let Some(day) = self.weekday
            && at.weekday() != day.weekday()
        {
            return None;
        }
        let start = at.replace_minute(0).ok()?.replace_second(0).ok()?;
        Some(crate::clock::Timestamp::at(start))
    }

    /// The first scheduled start strictly after `now`.
    pub fn next_run(&self, now: OffsetDateTime) -> OffsetDateTime {
        let now = now.to_offset(time::UtcOffset::UTC);
        let mut candidate = now.replace_time(
            time::Time::from_hms(self.hour_utc, 0, 0).unwrap_or(time::Time::MIDNIGHT),
        );
        while candidate <= now
            || self
                .weekday
                .is_some_and(|d| candidate.weekday() != d.weekday())
        {
            candidate += Duration::days(1);
        }
        candidate
    }

    pub fn view(&self, now: OffsetDateTime, updated_at: &str) -> ScheduleView {
        ScheduleView {
            cadence: self.cadence,
            hour_utc: self.hour_utc,
            weekday: self.weekday,
            format: self.format,
            filter: self.filter.vip.then_some(self.filter),
            next_run_at: crate::clock::rfc3339(self.next_run(now)),
            updated_at: updated_at.to_owned(),
        }
    }
}

/// A message on the export queue: one job to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportTask {
    pub org_id: crate::ids::OrgId,
    pub export_id: crate::ids::ExportId,
    /// Set on a continuation: the lease of the invocation that saved the checkpoint and handed
    /// the job on. Anything else (a new job, a redelivery) is a new attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<u64>,
}

impl crate::serve::OrgJob for ExportTask {
    fn org_id(&self) -> &str {
        self.org_id.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn schedule(body: serde_json::Value) -> Result<ExportSchedule, ApiError> {
        ExportSchedule::parse(serde_json::from_value(body).unwrap())
    }

    #[test]
    fn schedule_rules() {
        let daily = serde_json::json!({"cadence": "daily", "hour_utc": 9, "format": "csv"});
        assert!(schedule(daily).is_ok());
        for (body, field) in [
            (
                serde_json::json!({"cadence": "daily", "hour_utc": 24, "format": "csv"}),
                "hour_utc",
            ),
            (
                serde_json::json!({"cadence": "daily", "hour_utc": -1, "format": "csv"}),
                "hour_utc",
            ),
            (
                serde_json::json!({"cadence": "weekly", "hour_utc": 9, "format": "csv"}),
                "weekday",
            ),
            (
                serde_json::json!({"cadence": "daily", "hour_utc": 9, "weekday": "mon", "format": "csv"}),
                "weekday",
            ),
        ] {
            let err = schedule(body).unwrap_err();
            assert_eq!(err.code(), "validation_failed");
            assert_eq!(err.to_body()["error"]["field"], field);
        }
    }

    #[test]
    fn a_schedule_is_due_once_in_its_hour_and_names_the_period() {
        let weekly = schedule(serde_json::json!(
            {"cadence": "weekly", "hour_utc": 9, "weekday": "sat", "format": "jsonl"}
        ))
        .unwrap();
        // 2026-11-21 is a Saturday.
        let at = datetime!(2026-11-21 09:00:41 UTC);
        assert_eq!(
            weekly
                .due_period(at)
                .as_ref()
                .map(crate::clock::Timestamp::as_str),
            Some("2026-11-21T09:00:00Z")
        );
        assert_eq!(
            weekly.due_period(datetime!(2026-11-21 09:59:59 UTC)),
            weekly.due_period(at),
            "every firing in the hour names the same period"
        );
        assert_eq!(weekly.due_period(datetime!(2026-11-21 10:00 UTC)), None);
        assert_eq!(weekly.due_period(datetime!(2026-11-22 09:00 UTC)), None);
        assert_eq!(
            weekly.next_run(at),
            datetime!(2026-11-28 09:00 UTC),
            "the next run is a week on"
        );
        let daily =
            schedule(serde_json::json!({"cadence": "daily", "hour_utc": 0, "format": "csv"}))
                .unwrap();
        assert_eq!(daily.next_run(at), datetime!(2026-11-22 00:00 UTC));
        assert_eq!(
            daily
                .due_period(datetime!(2026-11-22 00:10 UTC))
                .as_ref()
                .map(crate::clock::Timestamp::as_str),
            Some("2026-11-22T00:00:00Z")
        );
    }

    #[test]
    fn only_a_true_vip_filter_is_accepted() {
        let request = |body| serde_json::from_value::<ExportRequest>(body);
        let vip = request(serde_json::json!({"format": "csv", "filter": {"vip": true}})).unwrap();
        assert!(ExportFilter::requested(vip.filter).unwrap().vip);
        let all = request(serde_json::json!({"format": "jsonl"})).unwrap();
        assert!(!ExportFilter::requested(all.filter).unwrap().vip);
        let not_vip = request(serde_json::json!({"format": "csv", "filter": {"vip": false}}));
        let err = ExportFilter::requested(not_vip.unwrap().filter).unwrap_err();
        assert_eq!(err.to_body()["error"]["field"], "filter.vip");
        assert!(request(serde_json::json!({"format": "xlsx"})).is_err());
        assert!(request(serde_json::json!({"format": "csv", "filter": {"tier": 1}})).is_err());
    }

    #[test]
    fn a_file_is_downloadable_until_the_lifecycle_rule_removes_it() {
        let mut job = ExportJob::new(
            "0190-abc".into(),
            ExportFormat::Csv,
            ExportFilter::default(),
            ExportTrigger::Manual,
            "2026-11-01T10:00:00Z",
        );
        assert_eq!(job.downloadable(datetime!(2026-11-01 11:00 UTC)), None);
        job.status = ExportStatus::Succeeded;
        job.completed_at = Some("2026-11-01T10:05:00Z".into());
        job.object_key = Some("exports/acme/0190-abc/1.csv".into());
        assert!(job.downloadable(datetime!(2026-11-08 10:04 UTC)).is_some());
        assert_eq!(job.downloadable(datetime!(2026-11-08 10:06 UTC)), None);
        assert_eq!(job.file_name(), "contacts-2026-11-01-abc.csv");
    }
}
