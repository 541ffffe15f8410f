//! `export-worker`: writes the whole file, page by page, as one S3 (multipart) upload, and
//! records progress and the outcome on the job. An export too large for one invocation saves a
//! checkpoint before the deadline and queues its own continuation, so no org is too large.

use super::*;
use shared::metrics::{self, Metric};

/// A failed attempt is tried again this soon (the queue's visibility timeout, 16 minutes, is
/// for workers that die without a word).
const RETRY_AFTER_SECONDS: i32 = 30;

/// What an invocation came to, when it did not fail.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The job already finished, or another invocation is the current one.
    NothingToDo,
    Succeeded {
        rows: u64,
    },
    /// Out of time: the job is saved and continues in the next invocation.
    Continues {
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
    error: DomainError,
}

fn at(stage: Stage) -> impl FnOnce(DomainError) -> Failure {
    move |error| Failure { stage, error }
}

/// Stops the page reader when the export stops, however it stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A page of the listing and where the next one starts (`None`: this was the last).
type ContactPage = Result<(Vec<Contact>, Option<LastEvaluatedKey>), DomainError>;

/// The file as one invocation holds it.
struct File {
    definitions: shared::attributes::AttributeSet,
    encoder: Encoder,
    upload: Upload,
    rows: u64,
    /// The pending-bytes object this invocation began from, removed once it is no longer needed.
    pending_key: Option<String>,
    /// Picked up from a checkpoint: the upload belongs to the job, not to this invocation.
    resumed: bool,
    start: Option<LastEvaluatedKey>,
}

/// How the walk of the listing ended.
enum Walked {
    /// Every page is in the file.
    All,
    /// The budget ran out: the next page starts here.
    OutOfTime(LastEvaluatedKey),
    /// A later invocation took the job over.
    Superseded,
}

impl App {
    /// Runs one invocation of a job. Any number of deliveries of the same task, in sequence or
    /// at once, end with at most one file and a job that says where it is.
    #[tracing::instrument(skip(self, task, deadline), fields(org = %task.org_id, export = %task.export_id))]
    pub async fn attempt(
        &self,
        task: &ExportTask,
        deadline: Deadline,
    ) -> Result<Attempt, DomainError> {
        let org = &task.org_id;
        let Some(job) = self.store.export_job(org, &task.export_id).await? else {
            tracing::warn!("export task for a job that does not exist");
            return Ok(Attempt::NothingToDo);
        };
        if job.status.is_finished() {
            return Ok(Attempt::NothingToDo);
        }
        let continuation = task.lease == Some(job.lease);
        if !continuation && job.attempts >= self.tuning.max_attempts {
            // The last attempt died without a word (a crash or a timeout).
            let reason = format!(
                "the export did not finish in {} attempts",
                self.tuning.max_attempts
            );
            return self.give_up(org, &job, &reason).await;
        }
        let now = rfc3339(self.env.now());
        let lease = match self
            .store
            .claim_export(org, &job.id, job.lease, !continuation, &now)
            .await
        {
            Ok(lease) => lease,
            // Another invocation claimed it first: it carries the job on.
            Err(SaveError::Conflict) if continuation => return Ok(Attempt::NothingToDo),
            Err(SaveError::Conflict) => return Ok(Attempt::WillRetry),
            Err(SaveError::Failed(err)) => return Err(err),
        };
        let budget = Budget::new(self.tuning.budget, deadline);
        match self.write_file(&job, &lease, budget).await {
            Ok(outcome) => Ok(outcome),
            Err(failure) => {
                let attempts = job.attempts + u32::from(!continuation);
                tracing::error!(attempts, error = ?failure.error, "export attempt failed");
                if attempts < self.tuning.max_attempts {
                    return Ok(Attempt::WillRetry);
                }
                let reason = format!(
                    "{} (tried {attempts} times); start a new export",
                    failure.stage.reason()
                );
                self.give_up(org, &job, &reason).await
            }
        }
    }

    async fn give_up(
        &self,
        org: &OrgId,
        job: &ExportJob,
        reason: &str,
    ) -> Result<Attempt, DomainError> {
        let now = rfc3339(self.env.now());
        match self.store.fail_export(org, &job.id, reason, &now).await {
            Ok(()) => {
                tracing::warn!(reason, "export failed");
                metrics::record(Metric::ExportFinished { status: "failed" }, org);
                // Pending bytes and a file written but never recorded; the lifecycle rule
                // removes them if this cleanup cannot.
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

    /// Picks the file up where the checkpoint left it, or begins it.
    async fn open_file(&self, job: &ExportJob, lease: &ExportLease) -> Result<File, Failure> {
        let org = lease.org();
        let crm = self
            .store
            .crm_connection(org)
            .await
            .map_err(at(Stage::ReadContacts))?;
        let file_name = job.file_name();
        let content_type = job.format.content_type();
        if let Some(checkpoint) = &job.checkpoint {
            let pending = match &checkpoint.pending_key {
                Some(key) => self.blobs.get(key).await.map_err(at(Stage::WriteFile))?,
                None => Vec::new(),
            };
            let columns = Columns::new(checkpoint.definitions.clone(), crm);
            return Ok(File {
                definitions: checkpoint.definitions.clone(),
                encoder: Encoder::resume(job.format, columns, pending),
                upload: self.blobs.resume_upload(
                    &checkpoint.object_key,
                    content_type,
                    &file_name,
                    checkpoint.upload.clone(),
                ),
                rows: checkpoint.rows,
                pending_key: checkpoint.pending_key.clone(),
                resumed: true,
                start: Some(checkpoint.position.key()),
            });
        }
        let (_, definitions) = self
            .store
            .org_config(org)
            .await
            .map_err(at(Stage::ReadContacts))?;
        let columns = Columns::new(definitions.value.clone(), crm);
        let key = keys::export_object(org, &job.id, lease.number(), job.format.extension());
        Ok(File {
            definitions: definitions.value,
            encoder: Encoder::new(job.format, columns).map_err(at(Stage::WriteFile))?,
            upload: self.blobs.upload(&key, content_type, &file_name),
            rows: 0,
            pending_key: None,
            resumed: false,
            start: None,
        })
    }

    /// Streams the org's contacts into the job's object: pages are read ahead while the
    /// previous page is encoded and uploaded, and at most one part is held in memory.
    async fn write_file(
        &self,
        job: &ExportJob,
        lease: &ExportLease,
        mut budget: Budget,
    ) -> Result<Attempt, Failure> {
        let mut file = self.open_file(job, lease).await?;
        let (pages, reader) = self.read_ahead(lease.org(), job.filter.vip, file.start.take());
        let walked = self.walk(lease, pages, &mut file, &mut budget).await;
        drop(reader);
        match walked {
            Ok(Walked::All) => self.complete(lease, file).await,
            Ok(Walked::OutOfTime(next)) => self.hand_on(lease, file, next).await,
            outcome => {
                // An upload begun from a checkpoint is the job's: the next invocation goes on
                // with it. One this invocation began is given back.
                if !file.resumed {
                    file.upload.abort().await;
                }
                outcome.map(|_| Attempt::NothingToDo)
            }
        }
    }

    /// Saves where the file stands and queues the invocation that goes on with it.
    async fn hand_on(
        &self,
        lease: &ExportLease,
        mut file: File,
        next: LastEvaluatedKey,
    ) -> Result<Attempt, Failure> {
        let org = lease.org();
        let pending = file
            .encoder
            .take_at_least(0)
            .map_err(at(Stage::WriteFile))?;
        let pending_key = match pending {
            Some(bytes) if !bytes.is_empty() => {
                let key = keys::export_pending(org, lease.id(), lease.number());
                self.blobs
                    .put(&key, bytes, "application/octet-stream")
                    .await
                    .map_err(at(Stage::WriteFile))?;
                Some(key)
            }
            _ => None,
        };
        let checkpoint = ExportCheckpoint {
            definitions: file.definitions,
            object_key: file.upload.key().to_owned(),
            upload: file.upload.state(),
            pending_key,
            position: Position::of(&next),
            rows: file.rows,
        };
        let now = rfc3339(self.env.now());
        match self
            .store
            .save_export_checkpoint(lease, &checkpoint, &now)
            .await
        {
            Ok(()) => {}
            Err(SaveError::Conflict) => return Ok(Attempt::NothingToDo),
            Err(SaveError::Failed(err)) => return Err(at(Stage::WriteFile)(err)),
        }
        let continuation = ExportTask {
            org_id: org.clone(),
            export_id: ExportId::parse(lease.id()).map_err(|_| {
                at(Stage::WriteFile)(DomainError::failed("an export job without a UUID id"))
            })?,
            lease: Some(lease.number()),
        };
        // Should this fail, the delivery is retried and resumes from the checkpoint just saved.
        self.queue
            .send(&continuation)
            .await
            .map_err(at(Stage::WriteFile))?;
        self.forget_pending(file.pending_key.as_deref()).await;
        tracing::info!(
            rows = file.rows,
            lease = lease.number(),
            "export continues in another invocation"
        );
        Ok(Attempt::Continues { rows: file.rows })
    }

    /// Writes the last part, makes the file appear and records it on the job.
    async fn complete(&self, lease: &ExportLease, file: File) -> Result<Attempt, Failure> {
        let org = lease.org();
        let rows = file.rows;
        let key = file.upload.key().to_owned();
        let last = file.encoder.finish().map_err(at(Stage::WriteFile))?;
        file.upload
            .finish(last)
            .await
            .map_err(at(Stage::WriteFile))?;
        let now = rfc3339(self.env.now());
        if let Err(err) = self.store.finish_export(lease, rows, &key, &now).await {
            // A later invocation owns the job now: its file is the one that counts.
            self.blobs
                .delete(&key)
                .await
                .map_err(at(Stage::WriteFile))?;
            return match err {
                SaveError::Conflict => Ok(Attempt::NothingToDo),
                SaveError::Failed(error) => Err(at(Stage::WriteFile)(error)),
            };
        }
        // Pending bytes and files of attempts that died after writing (none, usually).
        if let Err(err) = self
            .blobs
            .delete_prefix_except(&keys::export_prefix(org, lease.id()), Some(&key))
            .await
        {
            tracing::warn!(error = ?err, "could not remove an earlier attempt's file");
        }
        tracing::info!(rows, lease = lease.number(), "export succeeded");
        metrics::record(
            Metric::ExportFinished {
                status: "succeeded",
            },
            org,
        );
        Ok(Attempt::Succeeded { rows })
    }

    async fn forget_pending(&self, key: Option<&str>) {
        if let Some(key) = key
            && let Err(err) = self.blobs.delete(key).await
        {
            tracing::warn!(error = ?err, "pending bytes left for the lifecycle rule");
        }
    }

    fn read_ahead(
        &self,
        org: &OrgId,
        vip_only: bool,
        from: Option<LastEvaluatedKey>,
    ) -> (mpsc::Receiver<ContactPage>, AbortOnDrop) {
        let (tx, rx) = mpsc::channel::<ContactPage>(1);
        let store = self.store.clone();
        let org = org.clone();
        let limit = self.tuning.page_size;
        let reader = tokio::spawn(async move {
            let mut start = from;
            loop {
                let (contacts, next) =
                    match store.contacts_walk_page(&org, vip_only, limit, start).await {
                        Ok(page) => page,
                        Err(err) => {
                            let _ = tx.send(Err(err)).await;
                            return;
                        }
                    };
                let last = next.is_none();
                if tx.send(Ok((contacts, next.clone()))).await.is_err() || last {
                    return;
                }
                start = next;
            }
        });
        (rx, AbortOnDrop(reader))
    }

    /// Encodes pages while the budget lasts.
    async fn walk(
        &self,
        lease: &ExportLease,
        mut pages: mpsc::Receiver<ContactPage>,
        file: &mut File,
        budget: &mut Budget,
    ) -> Result<Walked, Failure> {
        let mut read = 0u64;
        let mut resume_at = None;
        while budget.next_step() {
            let Some(page) = pages.recv().await else {
                return Ok(Walked::All);
            };
            let (contacts, next) = page.map_err(at(Stage::ReadContacts))?;
            for contact in &contacts {
                file.encoder.write(contact).map_err(at(Stage::WriteFile))?;
            }
            file.rows += contacts.len() as u64;
            drop(contacts);
            if let Some(part) = file
                .encoder
                .take_at_least(self.tuning.part_bytes)
                .map_err(at(Stage::WriteFile))?
            {
                file.upload.part(part).await.map_err(at(Stage::WriteFile))?;
            }
            let now = rfc3339(self.env.now());
            match self.store.export_progress(lease, file.rows, &now).await {
                Ok(()) => {}
                Err(SaveError::Conflict) => return Ok(Walked::Superseded),
                Err(SaveError::Failed(err)) => return Err(at(Stage::ReadContacts)(err)),
            }
            read += 1;
            if let Some(stop) = self.tuning.stop_after.as_ref().filter(|f| f.pages == read) {
                stop.reached.notify_one();
                match &stop.resume {
                    Some(resume) => resume.notified().await,
                    None => std::future::pending::<()>().await,
                }
            }
            match next {
                None => return Ok(Walked::All),
                Some(next) => resume_at = Some(next),
            }
        }
        Ok(resume_at.map_or(Walked::All, Walked::OutOfTime))
    }
}

/// `export-worker`: each record is one job to run.
impl QueueFunction for App {
    const BINARY: &'static str = "export-worker";
    type Job = ExportTask;
    type Error = DomainError;

    async fn run(&self, task: ExportTask, delivery: Delivery<'_>) -> Result<Handled, DomainError> {
        let outcome = Box::pin(self.attempt(&task, delivery.deadline)).await;
        if matches!(outcome, Ok(Attempt::WillRetry) | Err(_))
            && let Some(receipt) = delivery.receipt
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
