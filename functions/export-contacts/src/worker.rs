//! `export-worker`: one attempt per delivery writes the whole file, page by page, as one S3
//! (multipart) upload, and records progress and the outcome on the job.

use super::*;

/// A failed attempt is tried again this soon (the queue's visibility timeout, 16 minutes, is
/// for workers that die without a word).
const RETRY_AFTER_SECONDS: i32 = 30;

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

/// Stops the page reader when the export stops, however it stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type ContactPage = Result<Vec<Contact>, ApiError>;

impl App {
    /// Runs one attempt of a job. Any number of deliveries of the same task, in sequence or at
    /// once, end with at most one file and a job that says where it is.
    #[tracing::instrument(skip(self, task), fields(org = %task.org_id, export = %task.export_id))]
    pub async fn attempt(&self, task: &ExportTask) -> Result<Attempt, ApiError> {
        let org = &task.org_id;
        let Some(job) = self.store.export_job(org, &task.export_id).await? else {
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
            return self.give_up(org, &job, &reason).await;
        }
        let now = rfc3339(self.env.now());
        let attempt = match self
            .store
            .start_export_attempt(org, &job.id, job.attempts, &now)
            .await
        {
            Ok(attempt) => attempt,
            Err(SaveError::Conflict) => return Ok(Attempt::WillRetry),
            Err(SaveError::Failed(err)) => return Err(err),
        };
        match self.write_file(org, &job, attempt).await {
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
                self.give_up(org, &job, &reason).await
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
        let crm = self
            .store
            .crm_connection(org)
            .await
            .map_err(at(Stage::ReadContacts))?;
        let mut encoder = Encoder::new(job.format, Columns::new(definitions.value, crm))
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
