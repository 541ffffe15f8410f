//! Objects in the data bucket: attachments now, export files later.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use crate::error::ApiError;

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
    pub async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), ApiError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(ApiError::internal)?;
        Ok(())
    }

    /// Copies an object within the bucket and returns its size; `None` when the source is absent.
    #[tracing::instrument(skip(self))]
    pub async fn copy(&self, from: &str, to: &str) -> Result<Option<u64>, ApiError> {
        let head = match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(from)
            .send()
            .await
        {
            Ok(head) => head,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {
                return Ok(None);
            }
            Err(err) => return Err(ApiError::internal(err)),
        };
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{}", self.bucket, urlencode_key(from)))
            .key(to)
            .send()
            .await
            .map_err(ApiError::internal)?;
        Ok(Some(head.content_length.unwrap_or_default().max(0) as u64))
    }

    #[tracing::instrument(skip(self))]
    pub async fn delete(&self, key: &str) -> Result<(), ApiError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(ApiError::internal)?;
        Ok(())
    }

    /// Deletes every object under `prefix`, a page of up to 1000 at a time.
    #[tracing::instrument(skip(self), err(Debug))]
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, ApiError> {
        let mut deleted = 0;
        loop {
            let listed = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .send()
                .await
                .map_err(ApiError::internal)?;
            let objects: Vec<ObjectIdentifier> = listed
                .contents
                .unwrap_or_default()
                .into_iter()
                .filter_map(|o| o.key)
                .filter_map(|key| ObjectIdentifier::builder().key(key).build().ok())
                .collect();
            if objects.is_empty() {
                return Ok(deleted);
            }
            deleted += objects.len();
            let batch = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(ApiError::internal)?;
            self.client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(batch)
                .send()
                .await
                .map_err(ApiError::internal)?;
        }
    }

    /// A link that downloads the object without credentials, for [`DOWNLOAD_LINK_LIFETIME`].
    pub async fn download_link(&self, key: &str) -> Result<String, ApiError> {
        let config =
            PresigningConfig::expires_in(DOWNLOAD_LINK_LIFETIME).map_err(ApiError::internal)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(ApiError::internal)?;
        Ok(request.uri().to_owned())
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
