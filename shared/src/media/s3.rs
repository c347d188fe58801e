//! The S3 media store: one private bucket, object keys exactly the [`MediaKey`]s. Transfers
//! stream between a local file and S3 with constant memory: small files go up in one
//! PutObject read from disk, large ones as a multipart upload whose parts are read from the
//! file by offset; downloads are written chunk by chunk to a temporary file that is renamed into
//! place, so a reader never sees half a file. Platforms that pull media get presigned GET URLs,
//! which are bearer credentials: they are returned, never logged.
//!
//! It does not create the bucket or set lifecycle rules (`infra/template.yaml` does).

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use futures::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;
use url::Url;

use super::{MediaError, MediaStore, PartialFile};
use crate::domain::MediaKey;

/// Files up to this size go up in one PutObject; larger ones in parts of this size.
const PART_SIZE: u64 = 8 * 1024 * 1024;
/// S3's limit on the number of parts; very large files get larger parts to stay under it.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html>
const MAX_PARTS: u64 = 10_000;
/// Parts in flight at once. Each is read from the file as it is sent, so memory stays a few
/// buffers whatever the part size.
const PARALLEL_PARTS: usize = 2;
/// S3 error codes no retry will fix.
const MISCONFIGURED: [&str; 5] = [
    "NoSuchBucket",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "PermanentRedirect",
];

/// The [`MediaStore`] on one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3MediaStore {
    client: Client,
    bucket: String,
}

fn local(path: &Path) -> impl FnOnce(std::io::Error) -> MediaError + '_ {
    move |source| MediaError::LocalFile {
        path: path.display().to_string(),
        source,
    }
}

/// The part size for a file of `size` bytes: [`PART_SIZE`], or more when the file would need
/// more than [`MAX_PARTS`] parts.
fn part_size(size: u64) -> u64 {
    PART_SIZE.max(size.div_ceil(MAX_PARTS))
}

impl S3MediaStore {
    pub fn new(client: Client, bucket: String) -> Self {
        Self { client, bucket }
    }

    fn fail<E>(&self, key: &MediaKey, operation: &str, err: SdkError<E, HttpResponse>) -> MediaError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match err.as_service_error().and_then(ProvideErrorMetadata::code) {
            Some(code) if MISCONFIGURED.contains(&code) => MediaError::Misconfigured(format!(
                "S3 {operation} on bucket {} was refused ({code}); check aws.bucket and the role's policy",
                self.bucket
            )),
            _ => MediaError::Unavailable {
                key: key.clone(),
                message: format!("S3 {operation} failed: {}", DisplayErrorContext(&err)),
            },
        }
    }

    fn is_not_found<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
        let code = err.as_service_error().and_then(ProvideErrorMetadata::code);
        // HEAD responses have no body, so the error is known by its status alone.
        matches!(code, Some("NoSuchKey" | "NotFound"))
            || err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 404)
    }

    async fn put_multipart(
        &self,
        key: &MediaKey,
        path: &Path,
        size: u64,
        content_type: &str,
    ) -> Result<(), MediaError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(|e| self.fail(key, "CreateMultipartUpload", e))?;
        let upload_id = created.upload_id.ok_or_else(|| MediaError::Unavailable {
            key: key.clone(),
            message: "S3 CreateMultipartUpload returned no upload id".into(),
        })?;
        let result = self.upload_parts(key, path, size, &upload_id).await;
        if result.is_err() {
            // An abandoned upload's parts are billed until aborted.
            let abort = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(e) = abort {
                tracing::warn!(%key, error = %DisplayErrorContext(&e), "could not abort a failed multipart upload");
            }
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &MediaKey,
        path: &Path,
        size: u64,
        upload_id: &str,
    ) -> Result<(), MediaError> {
        let part = part_size(size);
        let count = size.div_ceil(part);
        let parts: Vec<CompletedPart> = futures::stream::iter(0..count)
            .map(|i| async move {
                let offset = i * part;
                let length = part.min(size - offset);
                let body = ByteStream::read_from()
                    .path(path)
                    .offset(offset)
                    .length(Length::Exact(length))
                    .build()
                    .await
                    .map_err(|e| MediaError::LocalFile {
                        path: path.display().to_string(),
                        source: std::io::Error::other(e),
                    })?;
                // Part numbers start at 1; `count` is at most MAX_PARTS, so it fits.
                let number = i32::try_from(i + 1).unwrap_or(i32::MAX);
                let out = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key.as_str())
                    .upload_id(upload_id)
                    .part_number(number)
                    .checksum_algorithm(ChecksumAlgorithm::Crc32)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| self.fail(key, "UploadPart", e))?;
                Ok::<_, MediaError>(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag)
                        .set_checksum_crc32(out.checksum_crc32)
                        .build(),
                )
            })
            .buffered(PARALLEL_PARTS)
            .try_collect()
            .await?;
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.fail(key, "CompleteMultipartUpload", e))?;
        Ok(())
    }
}

#[async_trait]
impl MediaStore for S3MediaStore {
    async fn put_file(
        &self,
        key: &MediaKey,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, MediaError> {
        let size = tokio::fs::metadata(path).await.map_err(local(path))?.len();
        if size > PART_SIZE {
            self.put_multipart(key, path, size, content_type).await?;
        } else {
            let body = ByteStream::from_path(path)
                .await
                .map_err(|e| MediaError::LocalFile {
                    path: path.display().to_string(),
                    source: std::io::Error::other(e),
                })?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key.as_str())
                .content_type(content_type)
                .content_length(i64::try_from(size).unwrap_or(i64::MAX))
                .body(body)
                .send()
                .await
                .map_err(|e| self.fail(key, "PutObject", e))?;
        }
        tracing::debug!(%key, size, "stored media in S3");
        Ok(size)
    }

    async fn get_to_file(&self, key: &MediaKey, path: &Path) -> Result<u64, MediaError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if Self::is_not_found(&e) => return Err(MediaError::NotFound(key.clone())),
            Err(e) => return Err(self.fail(key, "GetObject", e)),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let mut temp =
            PartialFile::new(path.with_file_name(format!(".{name}.{}.part", uuid::Uuid::new_v4())));
        let mut file = tokio::fs::File::create(&temp.path)
            .await
            .map_err(local(&temp.path))?;
        let mut body = out.body;
        let mut written = 0u64;
        while let Some(chunk) = body.try_next().await.map_err(|e| MediaError::Unavailable {
            key: key.clone(),
            message: format!("S3 download broke off after {written} bytes: {e}"),
        })? {
            file.write_all(&chunk).await.map_err(local(&temp.path))?;
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(local(&temp.path))?;
        file.sync_all().await.map_err(local(&temp.path))?;
        drop(file);
        tokio::fs::rename(&temp.path, path)
            .await
            .map_err(local(path))?;
        temp.keep();
        Ok(written)
    }

    async fn delete(&self, key: &MediaKey) -> Result<(), MediaError> {
        // S3 answers 204 whether or not the object existed.
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if Self::is_not_found(&e) => Ok(()),
            Err(e) => Err(self.fail(key, "DeleteObject", e)),
        }
    }

    async fn size(&self, key: &MediaKey) -> Result<Option<u64>, MediaError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.content_length
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
            )),
            Err(e) if Self::is_not_found(&e) => Ok(None),
            Err(e) => Err(self.fail(key, "HeadObject", e)),
        }
    }

    async fn presign_get(&self, key: &MediaKey, ttl: Duration) -> Result<Url, MediaError> {
        // S3 refuses presigned URLs valid for more than 7 days.
        // <https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-presigned-url.html>
        let config = PresigningConfig::expires_in(ttl).map_err(|e| {
            MediaError::Misconfigured(format!(
                "a presigned URL cannot last {}s: {e}",
                ttl.as_secs()
            ))
        })?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(config)
            .await
            .map_err(|e| self.fail(key, "presign GetObject", e))?;
        Url::parse(request.uri()).map_err(|e| MediaError::Unavailable {
            key: key.clone(),
            message: format!("the presigned URL does not parse: {e}"),
        })
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MediaKey>, MediaError> {
        let folder = MediaKey::parse(prefix.trim_end_matches('/'))
            .map_err(|e| MediaError::Misconfigured(format!("cannot list {prefix}: {e}")))?;
        let prefix = format!("{folder}/");
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        // ListObjectsV2 returns at most 1000 keys per page, in key order.
        // <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html>
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .delimiter("/")
                .set_start_after(after.map(str::to_string))
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.fail(&folder, "ListObjectsV2", e))?;
            for object in out.contents.unwrap_or_default() {
                if let Some(k) = object.key.and_then(|k| MediaKey::parse(k).ok()) {
                    keys.push(k);
                }
            }
            match out.next_continuation_token {
                Some(t) if out.is_truncated == Some(true) && keys.len() < limit => token = Some(t),
                _ => break,
            }
        }
        keys.truncate(limit);
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_stay_at_eight_mib_until_the_part_limit_forces_them_larger() {
        assert_eq!(part_size(20 * 1024 * 1024), PART_SIZE);
        assert_eq!(part_size(PART_SIZE * MAX_PARTS), PART_SIZE);
        let huge = PART_SIZE * MAX_PARTS + 1;
        assert!(part_size(huge) > PART_SIZE);
        assert!(huge.div_ceil(part_size(huge)) <= MAX_PARTS);
    }
}
