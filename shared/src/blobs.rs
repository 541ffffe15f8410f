//! Objects in the data bucket: attachments and export files.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// How long a download link stays valid.
pub const DOWNLOAD_LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);

#[derive(Clone)]
pub struct Blobs {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl Blobs {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    #[tracing::instrument(skip(self, bytes), fields(size = bytes.len()))]
    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), DomainError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(DomainError::failed)?;
        Ok(())
    }

    /// Copies an object within the bucket and returns its size; `None` when the source is absent.
    #[tracing::instrument(skip(self))]
    pub async fn copy(&self, from: &str, to: &str) -> Result<Option<u64>, DomainError> {
        let Some(size) = self.size(from).await? else {
            return Ok(None);
        };
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{}", self.bucket, urlencode_key(from)))
            .key(to)
            .send()
            .await
            .map_err(DomainError::failed)?;
        Ok(Some(size))
    }

    /// The size of an object in bytes; `None` when there is no such object. S3 answers a missing
    /// object with 403, not 404, to a function that may not list the bucket (ingest may not), and
    /// a `HEAD` has no body to tell the two apart: both mean there is nothing this function can
    /// read there.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, DomainError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(head.content_length.unwrap_or_default().max(0) as u64)),
            Err(err)
                if err.as_service_error().is_some_and(|e| e.is_not_found())
                    || err
                        .raw_response()
                        .is_some_and(|r| r.status().as_u16() == 403) =>
            {
                Ok(None)
            }
            Err(err) => Err(DomainError::failed(err)),
        }
    }

    #[tracing::instrument(skip(self))]
    pub async fn delete(&self, key: &str) -> Result<(), DomainError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(DomainError::failed)?;
        Ok(())
    }

    /// Deletes every object under `prefix`, a page of up to 1000 at a time.
    #[tracing::instrument(skip(self), err(Debug))]
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, DomainError> {
        self.delete_prefix_except(prefix, None).await
    }

    /// Deletes every object under `prefix` but `keep`.
    #[tracing::instrument(skip(self), err(Debug))]
    pub async fn delete_prefix_except(
        &self,
        prefix: &str,
        keep: Option<&str>,
    ) -> Result<usize, DomainError> {
        let mut deleted = 0;
        let mut continuation = None;
        loop {
            let listed = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(continuation)
                .send()
                .await
                .map_err(DomainError::failed)?;
            let objects: Vec<ObjectIdentifier> = listed
                .contents
                .unwrap_or_default()
                .into_iter()
                .filter_map(|o| o.key)
                .filter(|key| Some(key.as_str()) != keep)
                .filter_map(|key| ObjectIdentifier::builder().key(key).build().ok())
                .collect();
            if !objects.is_empty() {
                deleted += objects.len();
                let batch = Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .map_err(DomainError::failed)?;
                self.client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(batch)
                    .send()
                    .await
                    .map_err(DomainError::failed)?;
            }
            continuation = listed.next_continuation_token;
            if continuation.is_none() {
                return Ok(deleted);
            }
        }
    }

    /// A new object written in parts: it appears, whole, only when [`Upload::finish`] succeeds.
    pub fn upload(&self, key: &str, content_type: &str, file_name: &str) -> Upload {
        self.resume_upload(key, content_type, file_name, UploadState::default())
    }

    /// An upload an earlier invocation began, from the state it saved ([`Upload::state`]).
    pub fn resume_upload(
        &self,
        key: &str,
        content_type: &str,
        file_name: &str,
        state: UploadState,
    ) -> Upload {
        Upload {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            content_type: content_type.to_owned(),
            disposition: format!("attachment; filename=\"{file_name}\""),
            upload_id: state.upload_id,
            parts: state
                .parts
                .into_iter()
                .map(|p| {
                    CompletedPart::builder()
                        .part_number(p.number)
                        .e_tag(p.etag)
                        .build()
                })
                .collect(),
        }
    }

    /// An object's bytes; only for objects this system wrote and bounded (a pending part).
    #[tracing::instrument(skip(self))]
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, DomainError> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(DomainError::failed)?;
        let bytes = object.body.collect().await.map_err(DomainError::failed)?;
        Ok(bytes.into_bytes().to_vec())
    }

    /// A link that downloads the object without credentials, for [`DOWNLOAD_LINK_LIFETIME`].
    pub async fn download_link(&self, key: &str) -> Result<String, DomainError> {
        self.presigned_get(key, None).await
    }

    /// A download link for a message's attachment: a type on [`shown_inline`]'s list is served
    /// as itself, anything else as a file to save (`Content-Disposition: attachment`) of no
    /// type a browser renders, whatever the object was stored with.
    pub async fn attachment_link(
        &self,
        key: &str,
        content_type: &str,
        file_name: &str,
    ) -> Result<String, DomainError> {
        let served = match shown_inline(content_type) {
            Some(inline) => (inline.to_owned(), "inline".to_owned()),
            None => (
                AS_FILE.to_owned(),
                format!(
                    "attachment; filename=\"{}\"",
                    file_name_for_header(file_name)
                ),
            ),
        };
        self.presigned_get(key, Some(served)).await
    }

    async fn presigned_get(
        &self,
        key: &str,
        served: Option<(String, String)>,
    ) -> Result<String, DomainError> {
        let config =
            PresigningConfig::expires_in(DOWNLOAD_LINK_LIFETIME).map_err(DomainError::failed)?;
        let mut request = self.client.get_object().bucket(&self.bucket).key(key);
        if let Some((content_type, disposition)) = served {
            request = request
                .response_content_type(content_type)
                .response_content_disposition(disposition);
        }
        let request = request
            .presigned(config)
            .await
            .map_err(DomainError::failed)?;
        Ok(request.uri().to_owned())
    }
}

/// The type anything not shown inline is stored and served as.
pub const AS_FILE: &str = "application/octet-stream";

/// The attachment types a browser may show inline (images, audio, video, PDF, plain text),
/// as the type to serve; `None` for every other (HTML and SVG among them, which would run
/// script on the bucket's origin).
pub fn shown_inline(content_type: &str) -> Option<&'static str> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    const INLINE: &[&str] = &[
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/heic",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/ogg",
        "audio/wav",
        "audio/webm",
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "application/pdf",
        "text/plain",
    ];
    INLINE.iter().copied().find(|t| *t == essence)
}

/// A file name as a quoted header parameter can carry it: printable ASCII without quotes or
/// backslashes, everything else `_`.
fn file_name_for_header(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect()
}

/// What a multipart upload has so far, saved so another invocation can go on with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    #[serde(default)]
    pub parts: Vec<UploadedPart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedPart {
    pub number: i32,
    pub etag: String,
}

/// An object being written in parts of at least [`Upload::MIN_PART_BYTES`] (but the last).
pub struct Upload {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    content_type: String,
    disposition: String,
    /// Set by the first part: a file smaller than one part is a single `PutObject`.
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl Upload {
    /// S3's smallest part but the last.
    pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn state(&self) -> UploadState {
        UploadState {
            upload_id: self.upload_id.clone(),
            parts: self
                .parts
                .iter()
                .map(|p| UploadedPart {
                    number: p.part_number.unwrap_or_default(),
                    etag: p.e_tag.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }

    #[tracing::instrument(skip(self, bytes), fields(key = %self.key, size = bytes.len()))]
    pub async fn part(&mut self, bytes: Vec<u8>) -> Result<(), DomainError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let started = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .content_type(&self.content_type)
                    .content_disposition(&self.disposition)
                    .send()
                    .await
                    .map_err(DomainError::failed)?;
                let id = started
                    .upload_id
                    .ok_or_else(|| DomainError::failed("S3 gave no upload id"))?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = i32::try_from(self.parts.len() + 1).map_err(DomainError::failed)?;
        let uploaded = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(DomainError::failed)?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(uploaded.e_tag)
                .build(),
        );
        Ok(())
    }

    /// Writes the last bytes and makes the object appear.
    #[tracing::instrument(skip(self, last), fields(key = %self.key, parts = self.parts.len()))]
    pub async fn finish(mut self, last: Vec<u8>) -> Result<(), DomainError> {
        let Some(upload_id) = self.upload_id.clone() else {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type(&self.content_type)
                .content_disposition(&self.disposition)
                .body(ByteStream::from(last))
                .send()
                .await
                .map_err(DomainError::failed)?;
            return Ok(());
        };
        if !last.is_empty() {
            self.part(last).await?;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(self.parts))
                    .build(),
            )
            .send()
            .await
            .map_err(DomainError::failed)?;
        Ok(())
    }

    /// Gives the parts back; the bucket's lifecycle rule also removes uploads left behind by a
    /// worker that died.
    pub async fn abort(self) {
        let Some(upload_id) = self.upload_id else {
            return;
        };
        if let Err(err) = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .send()
            .await
        {
            tracing::warn!(key = %self.key, error = ?err, "could not abort an upload");
        }
    }
}

/// Percent-encodes a key for `x-amz-copy-source`, keeping `/` as the path separator.
fn urlencode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn copy_sources_are_percent_encoded() {
        assert_eq!(
            super::urlencode_key("incoming/a b+c.png"),
            "incoming/a%20b%2Bc.png"
        );
    }
}
