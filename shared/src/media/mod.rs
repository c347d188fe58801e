//! The media store port: clip sources, rendered shorts and their side files. Transfers stream
//! between a local file and the store with constant memory, whatever the size; platforms that
//! pull media get a presigned URL that expires.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use crate::domain::MediaKey;

#[cfg(feature = "embedded")]
pub mod fs;
#[cfg(feature = "embedded")]
pub mod http;
#[cfg(feature = "aws")]
pub mod s3;

/// A file being written before it is renamed into place: removed when dropped unless
/// [`keep`](Self::keep) was called, so a failed or cancelled transfer leaves nothing behind.
pub(crate) struct PartialFile {
    pub(crate) path: std::path::PathBuf,
    kept: bool,
}

impl PartialFile {
    pub(crate) fn new(path: std::path::PathBuf) -> Self {
        Self { path, kept: false }
    }

    /// The file was renamed into place: nothing to remove.
    pub(crate) fn keep(&mut self) {
        self.kept = true;
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.kept {
            // Best effort: the file is ours, named uniquely, and worthless once abandoned.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("media {0} not found")]
    NotFound(MediaKey),
    #[error("media store unavailable for {key}: {message}")]
    Unavailable { key: MediaKey, message: String },
    /// A local file could not be read or written (disk full, permissions).
    #[error("local file {path}: {source}")]
    LocalFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("media store misconfigured: {0}")]
    Misconfigured(String),
    /// A presigned link whose signature does not match its key and expiry (local serving only).
    #[error("the link to media {0} has an invalid signature")]
    BadSignature(MediaKey),
    /// A presigned link used after its expiry (local serving only).
    #[error("the link to media {0} has expired")]
    LinkExpired(MediaKey),
}

#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Store the file at `path` under `key` (replacing any object there) and return its size.
    async fn put_file(
        &self,
        key: &MediaKey,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, MediaError>;
    /// Write the object to `path` (created or truncated) and return its size.
    async fn get_to_file(&self, key: &MediaKey, path: &Path) -> Result<u64, MediaError>;
    /// Delete; deleting what is not there is not an error.
    async fn delete(&self, key: &MediaKey) -> Result<(), MediaError>;
    /// The object's size, or `None` when absent.
    async fn size(&self, key: &MediaKey) -> Result<Option<u64>, MediaError>;
    /// A URL anyone may GET for `ttl`, then refused.
    async fn presign_get(&self, key: &MediaKey, ttl: Duration) -> Result<Url, MediaError>;
    /// The keys of the objects directly under the folder `prefix` (which ends with `/`), in
    /// key order, from the first after the key `after` when one is given, at most `limit` of
    /// them. The chat logs are many small objects found this way (`pipeline::chat`); a store
    /// that cannot list refuses, and nothing else needs it.
    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MediaKey>, MediaError> {
        let _ = (after, limit);
        Err(MediaError::Misconfigured(format!(
            "this media store cannot list {prefix}; use the folder or S3 store"
        )))
    }
}
