//! Export jobs and export schedules. A job's worker attempt is its lease: every write of an
//! attempt is conditioned on it still being the latest, so a superseded worker cannot touch it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::Head;
use super::{Item, SaveError, Store, conditional, failed, key};
use crate::clock::Timestamp;
use crate::cursor::{LastEvaluatedKey, PageRequest};
use crate::error::DomainError;
use crate::exports::{ExportCheckpoint, ExportJob, ExportSchedule, ExportStatus};
use crate::ids::OrgId;
use crate::keys;

/// One invocation's claim on a job: every write it makes is conditioned on this still being the
/// job's latest lease, so only [`Store::claim_export`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportLease {
    org: OrgId,
    id: String,
    number: u64,
}

impl ExportLease {
    pub fn org(&self) -> &OrgId {
        &self.org
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Counts the job's claims; it names the invocation's file parts and its continuation.
    pub fn number(&self) -> u64 {
        self.number
    }
}

#[derive(Serialize, Deserialize)]
struct ExportItem {
    #[serde(flatten)]
    head: Head,
    version: u64,
    updated_at: String,
    #[serde(flatten)]
    job: ExportJob,
}

#[derive(Serialize, Deserialize)]
struct ScheduleItem {
    #[serde(flatten)]
    head: Head,
    /// Only a set schedule is in the hourly index.
    #[serde(rename = "GSI2PK", default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(rename = "GSI2SK", default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
    org_id: String,
    /// `None` once removed: the item stays, so the period it last ran for is not forgotten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schedule: Option<ExportSchedule>,
    /// The last scheduled period a job was started for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_period: Option<Timestamp>,
    version: u64,
    created_at: String,
    updated_at: String,
}

/// An org's schedule record: the schedule while one is set, and the last period it ran for.
#[derive(Debug, Clone)]
pub struct StoredSchedule {
    pub org: OrgId,
    pub schedule: Option<ExportSchedule>,
    pub last_period: Option<Timestamp>,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<ScheduleItem> for Option<StoredSchedule> {
    fn from(item: ScheduleItem) -> Self {
        Some(StoredSchedule {
            org: OrgId::parse(&item.org_id).ok()?,
            schedule: item.schedule,
            last_period: item.last_period,
            version: item.version,
            created_at: item.created_at,
            updated_at: item.updated_at,
        })
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// What an attempt may write, and when.
struct JobUpdate<'a> {
    set: &'a str,
    /// Attributes that go, if any (`checkpoint` once the job is over).
    remove: Option<&'a str>,
    condition: &'a str,
    values: Vec<(&'a str, AttributeValue)>,
}

impl Store {
    fn export_item(&self, org: &OrgId, job: &ExportJob) -> Result<Item, DomainError> {
        serde_dynamo::to_item(ExportItem {
            head: Head::new(keys::org_pk(org), keys::export_sk(&job.id), "export_job"),
            version: 1,
            updated_at: job.created_at.clone(),
            job: job.clone(),
        })
        .map_err(failed)
    }

    /// Writes a new, queued job.
    #[tracing::instrument(skip(self, job), fields(org = %org, export = %job.id))]
    pub async fn create_export(&self, org: &OrgId, job: &ExportJob) -> Result<(), DomainError> {
        let put = self.put_new(self.export_item(org, job)?)?;
        self.put_conditionally(put).await.map_err(|err| match err {
            SaveError::Conflict => DomainError::failed("an export id was reused"),
            SaveError::Failed(err) => err,
        })
    }

    #[tracing::instrument(skip(self), fields(org = %org))]
    pub async fn export_job(
        &self,
        org: &OrgId,
        id: &str,
    ) -> Result<Option<ExportJob>, DomainError> {
        let item: Option<ExportItem> = self.get_as(key(org, &keys::export_sk(id))).await?;
        Ok(item.map(|i| i.job))
    }

    /// A page of an org's export jobs, newest first.
    #[tracing::instrument(skip(self, page), fields(org = %org))]
    pub async fn list_exports(
        &self,
        org: &OrgId,
        page: PageRequest,
    ) -> Result<(Vec<ExportJob>, Option<LastEvaluatedKey>), DomainError> {
        let (items, next) = self
            .page_newest_first::<ExportItem>(keys::org_pk(org), keys::EXPORT_SK_PREFIX, page)
            .await?;
        Ok((items.into_iter().map(|i| i.job).collect(), next))
    }

    /// An update only the invocation holding `lease` of a running job may make.
    async fn update_under_lease(
        &self,
        lease: &ExportLease,
        now: &str,
        set: &str,
        remove: Option<&str>,
        mut values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), SaveError> {
        values.push((":lease", n(lease.number)));
        values.push((":running", s(ExportStatus::Running.as_str())));
        let update = JobUpdate {
            set,
            remove,
            condition: "#lease = :lease AND #status = :running",
            values,
        };
        self.update_export(&lease.org, &lease.id, now, update).await
    }

    async fn update_export(
        &self,
        org: &OrgId,
        id: &str,
        now: &str,
        update: JobUpdate<'_>,
    ) -> Result<(), SaveError> {
        let mut set = format!(
            "SET {}, #version = #version + :one, updated_at = :now",
            update.set
        );
        if let Some(remove) = update.remove {
            set = format!("{set} REMOVE {remove}");
        }
        let condition = format!("attribute_exists(PK) AND ({})", update.condition);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(org, &keys::export_sk(id))))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now));
        // Reserved words need placeholders, and DynamoDB refuses unused ones.
        for (placeholder, name) in [
            ("#version", "version"),
            ("#status", "status"),
            ("#rows", "rows"),
            ("#error", "error"),
            ("#lease", "lease"),
        ] {
            if set.contains(placeholder) || condition.contains(placeholder) {
                request = request.expression_attribute_names(placeholder, name);
            }
        }
        request = request
            .update_expression(set)
            .condition_expression(condition);
        for (name, value) in update.values {
            request = request.expression_attribute_values(name, value);
        }
        conditional(request.send().await)?
            .map(drop)
            .ok_or(SaveError::Conflict)
    }

    /// Claims the job for one invocation: lease `seen_lease + 1`. A continuation keeps the
    /// attempt count; anything else (a new job, a redelivery after a failure or a death) is a
    /// new attempt. A conflict means another invocation claimed it first or the job finished.
    #[tracing::instrument(skip(self, now), fields(org = %org, export = %id))]
    pub async fn claim_export(
        &self,
        org: &OrgId,
        id: &str,
        seen_lease: u64,
        new_attempt: bool,
        now: &str,
    ) -> Result<ExportLease, SaveError> {
        let lease = seen_lease + 1;
        self.update_export(
            org,
            id,
            now,
            JobUpdate {
                set: "#status = :running, #lease = :lease, attempts = attempts + :counted",
                remove: None,
                condition: "(#lease = :seen OR (attribute_not_exists(#lease) AND :seen = :zero)) \
                            AND #status IN (:queued, :running)",
                values: vec![
                    (":running", s(ExportStatus::Running.as_str())),
                    (":queued", s(ExportStatus::Queued.as_str())),
                    (":lease", n(lease)),
                    (":seen", n(seen_lease)),
                    (":zero", n(0)),
                    (":counted", n(u32::from(new_attempt))),
                ],
            },
        )
        .await?;
        Ok(ExportLease {
            org: org.clone(),
            id: id.to_owned(),
            number: lease,
        })
    }

    /// Saves where the job stands, for the invocation that continues it.
    #[tracing::instrument(skip(self, checkpoint, now), fields(org = %lease.org, export = %lease.id))]
    pub async fn save_export_checkpoint(
        &self,
        lease: &ExportLease,
        checkpoint: &ExportCheckpoint,
        now: &str,
    ) -> Result<(), SaveError> {
        let saved = serde_dynamo::to_attribute_value(checkpoint)
            .map_err(|e| SaveError::Failed(failed(e)))?;
        let values = vec![(":checkpoint", saved), (":rows", n(checkpoint.rows))];
        let set = "checkpoint = :checkpoint, #rows = :rows";
        self.update_under_lease(lease, now, set, None, values).await
    }

    /// The live row count of a running invocation; a conflict means it was superseded.
    #[tracing::instrument(skip(self, now), fields(org = %lease.org, export = %lease.id))]
    pub async fn export_progress(
        &self,
        lease: &ExportLease,
        rows: u64,
        now: &str,
    ) -> Result<(), SaveError> {
        let values = vec![(":rows", n(rows))];
        self.update_under_lease(lease, now, "#rows = :rows", None, values)
            .await
    }

    /// Marks the job succeeded with its file, if `lease` is still the latest one.
    #[tracing::instrument(skip(self, now), fields(org = %lease.org, export = %lease.id))]
    pub async fn finish_export(
        &self,
        lease: &ExportLease,
        rows: u64,
        object_key: &str,
        now: &str,
    ) -> Result<(), SaveError> {
        let values = vec![
            (":succeeded", s(ExportStatus::Succeeded.as_str())),
            (":rows", n(rows)),
            (":object", s(object_key)),
        ];
        let set = "#status = :succeeded, #rows = :rows, object_key = :object, completed_at = :now";
        self.update_under_lease(lease, now, set, Some("checkpoint"), values)
            .await
    }

    /// Ends an unfinished job as failed; a conflict means it had already finished.
    #[tracing::instrument(skip(self, reason, now), fields(org = %org, export = %id))]
    pub async fn fail_export(
        &self,
        org: &OrgId,
        id: &str,
        reason: &str,
        now: &str,
    ) -> Result<(), SaveError> {
        self.update_export(
            org,
            id,
            now,
            JobUpdate {
                set: "#status = :failed, #error = :reason, completed_at = :now",
                remove: Some("checkpoint"),
                condition: "#status IN (:queued, :running)",
                values: vec![
                    (":failed", s(ExportStatus::Failed.as_str())),
                    (":reason", s(reason)),
                    (":queued", s(ExportStatus::Queued.as_str())),
                    (":running", s(ExportStatus::Running.as_str())),
                ],
            },
        )
        .await
    }

    #[tracing::instrument(skip(self), fields(org = %org))]
    pub async fn export_schedule(
        &self,
        org: &OrgId,
    ) -> Result<Option<StoredSchedule>, DomainError> {
        let item: Option<ScheduleItem> = self.get_as(key(org, keys::EXPORT_SCHEDULE_SK)).await?;
        Ok(item.and_then(Option::from))
    }

    /// Creates or replaces the schedule over the record read (`None`: there must be none),
    /// keeping the period it last ran for, so neither a change nor a removal and a new schedule
    /// runs a period twice.
    #[tracing::instrument(skip(self, previous, schedule, now), fields(org = %org))]
    pub async fn save_export_schedule(
        &self,
        org: &OrgId,
        previous: Option<&StoredSchedule>,
        schedule: &ExportSchedule,
        now: &str,
    ) -> Result<(), SaveError> {
        let item = ScheduleItem {
            head: Head::new(
                keys::org_pk(org),
                keys::EXPORT_SCHEDULE_SK,
                "export_schedule",
            ),
            gsi2pk: Some(keys::schedules_due_pk(schedule.hour_utc)),
            gsi2sk: Some(keys::org_pk(org)),
            org_id: org.to_string(),
            schedule: Some(*schedule),
            last_period: previous.and_then(|p| p.last_period.clone()),
            version: previous.map_or(1, |p| p.version + 1),
            created_at: previous.map_or_else(|| now.to_owned(), |p| p.created_at.clone()),
            updated_at: now.to_owned(),
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item).map_err(failed)?));
        let put = match previous {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(p) => put
                .condition_expression("#version = :version")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":version", n(p.version)),
        };
        self.put_conditionally(put.build().map_err(failed)?).await
    }

    /// Removes the schedule (and its place in the hourly index); `false` when there was none.
    #[tracing::instrument(skip(self, now), fields(org = %org))]
    pub async fn remove_export_schedule(
        &self,
        org: &OrgId,
        now: &str,
    ) -> Result<bool, DomainError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(org, keys::EXPORT_SCHEDULE_SK)))
            .update_expression(
                "REMOVE #schedule, GSI2PK, GSI2SK SET #version = #version + :one, updated_at = :now",
            )
            .condition_expression("attribute_exists(#schedule)")
            .expression_attribute_names("#schedule", "schedule")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    /// Every org's schedule set for `hour_utc`.
    #[tracing::instrument(skip(self))]
    pub async fn schedules_for_hour(
        &self,
        hour_utc: u8,
    ) -> Result<Vec<StoredSchedule>, DomainError> {
        let query = self.index_query(
            super::SPARSE_INDEX,
            "GSI2PK",
            keys::schedules_due_pk(hour_utc),
        );
        let mut schedules = Vec::new();
        for item in self.query_all(query).await? {
            let item: ScheduleItem = serde_dynamo::from_item(item).map_err(failed)?;
            schedules.extend(Option::<StoredSchedule>::from(item));
        }
        Ok(schedules)
    }

    /// Writes a scheduled job and marks its period as run, in one transaction that only
    /// succeeds if the period has not run yet: a conflict means it has (or the schedule went).
    #[tracing::instrument(skip(self, job), fields(org = %org, export = %job.id))]
    pub async fn start_scheduled_export(
        &self,
        org: &OrgId,
        job: &ExportJob,
        period: &Timestamp,
    ) -> Result<(), SaveError> {
        let put = self.put_new(self.export_item(org, job)?)?;
        let mark = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(org, keys::EXPORT_SCHEDULE_SK)))
            .update_expression("SET last_period = :period, #version = #version + :one")
            .condition_expression(
                "attribute_exists(#schedule) AND (attribute_not_exists(last_period) OR last_period < :period)",
            )
            .set_expression_attribute_names(Some(HashMap::from([
                ("#version".to_owned(), "version".to_owned()),
                ("#schedule".to_owned(), "schedule".to_owned()),
            ])))
            .set_expression_attribute_values(Some(HashMap::from([
                (":period".to_owned(), s(period.as_str())),
                (":one".to_owned(), n(1)),
            ])))
            .build()
            .map_err(failed)?;
        self.transact(vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(mark).build(),
        ])
        .await
    }
}
