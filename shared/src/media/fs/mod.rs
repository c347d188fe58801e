//! The embedded media store: a folder on the local disk, where the key `raw/X/source.mp4` is the
//! file `<root>/raw/X/source.mp4`. Files are streamed through a fixed buffer into a temporary
//! file beside their destination, flushed to disk and renamed into place, so a reader never
//! sees half a file and a crash leaves the old one. Presigned URLs point at `hilite serve`'s
//! `/media/…` route (`super::http`) and carry an expiry and an HMAC-SHA256 signature that
//! [`FsMediaStore::verify`] checks.
//!
//! The folder stores bytes only: content types are not kept (the server derives them from the
//! extension), and nothing here deletes media on a schedule.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use secrecy::zeroize::Zeroizing;
use sha2::Sha256;
use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncWriteExt, BufReader};
use url::Url;

use super::{MediaError, MediaStore, PartialFile};
use crate::clock::Clock;
use crate::domain::MediaKey;
use crate::store::local_vault::key_file::{load_or_create_key, KEY_LEN};

/// The copy buffer: large enough for few system calls on video files, fixed so memory stays
/// constant whatever the file size.
const COPY_BUFFER_BYTES: usize = 256 * 1024;

pub struct FsMediaStore {
    root: PathBuf,
    signing_key: Zeroizing<[u8; KEY_LEN]>,
    /// Always ends with `/`, so `media/<key>` joins below it.
    public_url: Url,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for FsMediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsMediaStore")
            .field("root", &self.root)
            .field("public_url", &self.public_url.as_str())
            .finish_non_exhaustive()
    }
}

impl FsMediaStore {
    /// Use (and create) the folder `root`; sign URLs with the key at `signing_key_path`
    /// (created 0600 on first use) for a server reachable at `public_url`.
    pub fn open(
        root: &Path,
        signing_key_path: &Path,
        mut public_url: Url,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<FsMediaStore> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create the media folder {}", root.display()))?;
        let signing_key = load_or_create_key(signing_key_path)?;
        if public_url.cannot_be_a_base() {
            anyhow::bail!("server.public_url {public_url} is not an http(s) base URL");
        }
        if !public_url.path().ends_with('/') {
            let path = format!("{}/", public_url.path());
            public_url.set_path(&path);
        }
        Ok(FsMediaStore {
            root: root.to_path_buf(),
            signing_key,
            public_url,
            clock,
        })
    }

    /// Remove the half-written copies (`.NAME.UUID.partial`) that a killed process left beside
    /// the media, and return how many. Only for the process that holds the data folder's lock
    /// (`hilite serve`), before its first transfer: nothing else writes into the folder then,
    /// so every such file is abandoned. Links are not followed.
    pub fn remove_partial_files(&self) -> std::io::Result<usize> {
        fn walk(dir: &Path, removed: &mut usize) -> std::io::Result<()> {
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                let kind = entry.file_type()?;
                let path = entry.path();
                if kind.is_dir() {
                    walk(&path, removed)?;
                } else if kind.is_file() && is_partial(&entry.file_name().to_string_lossy()) {
                    match std::fs::remove_file(&path) {
                        Ok(()) => *removed += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(())
        }
        let mut removed = 0;
        walk(&self.root, &mut removed)?;
        Ok(removed)
    }

    /// The file that holds `key`, built segment by segment under the root (a `MediaKey` has
    /// no empty, `.` or `..` segment, so the result is always inside the root).
    pub fn path_of(&self, key: &MediaKey) -> PathBuf {
        key.as_str()
            .split('/')
            .fold(self.root.clone(), |path, segment| path.join(segment))
    }

    /// Check a presigned link's signature and expiry; on success, the file to serve (which
    /// may have been deleted since the link was made).
    pub fn verify(&self, key: &MediaKey, expires: i64, sig: &str) -> Result<PathBuf, MediaError> {
        let given = hex::decode(sig).map_err(|_| MediaError::BadSignature(key.clone()))?;
        self.mac(key, expires)?
            .verify_slice(&given)
            .map_err(|_| MediaError::BadSignature(key.clone()))?;
        if self.clock.now().timestamp() >= expires {
            return Err(MediaError::LinkExpired(key.clone()));
        }
        Ok(self.path_of(key))
    }

    /// HMAC-SHA256 over `key "\n" expires`: the newline keeps the two fields apart.
    fn mac(&self, key: &MediaKey, expires: i64) -> Result<Hmac<Sha256>, MediaError> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.signing_key.as_ref())
            .map_err(|e| MediaError::Misconfigured(format!("media signing key: {e}")))?;
        mac.update(key.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        Ok(mac)
    }
}

fn local_file(path: &Path) -> impl FnOnce(std::io::Error) -> MediaError + '_ {
    move |source| MediaError::LocalFile {
        path: path.display().to_string(),
        source,
    }
}

/// The name [`write_atomically`] gives its temporary file: `.NAME.UUID.partial`.
fn partial_name(name: &str) -> String {
    format!(".{name}.{}{PARTIAL}", uuid::Uuid::new_v4())
}

const PARTIAL: &str = ".partial";

fn is_partial(file_name: &str) -> bool {
    file_name.starts_with('.') && file_name.ends_with(PARTIAL)
}

/// Stream `src` into a temporary file beside `dest`, flush it to disk and rename it over
/// `dest`. The temporary file is removed on any failure, and when the copy is dropped half-way.
async fn write_atomically(src: File, src_path: &Path, dest: &Path) -> Result<u64, MediaError> {
    let dir = match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let mut partial = PartialFile::new(dir.join(partial_name(&name)));
    let tmp = &partial.path;
    let copied = async {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .await
            .map_err(local_file(tmp))?;
        let mut reader = BufReader::with_capacity(COPY_BUFFER_BYTES, src);
        let copy_error = |source| MediaError::LocalFile {
            path: format!("{} (copying from {})", dest.display(), src_path.display()),
            source,
        };
        let n = tokio::io::copy_buf(&mut reader, &mut out)
            .await
            .map_err(copy_error)?;
        out.flush().await.map_err(local_file(tmp))?;
        out.sync_all().await.map_err(local_file(tmp))?;
        drop(out);
        tokio::fs::rename(tmp, dest)
            .await
            .map_err(local_file(dest))?;
        Ok(n)
    }
    .await?;
    partial.keep();
    // Make the rename itself durable; not every file system can sync a folder, and the file is
    // complete either way, so a failure here is only worth a debug line.
    if let Err(e) = sync_dir(&dir).await {
        tracing::debug!(dir = %dir.display(), error = %e, "could not sync the folder");
    }
    Ok(copied)
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir).await?.sync_all().await
}

#[async_trait]
impl MediaStore for FsMediaStore {
    async fn put_file(
        &self,
        key: &MediaKey,
        path: &Path,
        _content_type: &str,
    ) -> Result<u64, MediaError> {
        let src = File::open(path).await.map_err(local_file(path))?;
        let dest = self.path_of(key);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(local_file(parent))?;
        }
        write_atomically(src, path, &dest).await
    }

    async fn get_to_file(&self, key: &MediaKey, path: &Path) -> Result<u64, MediaError> {
        let stored = self.path_of(key);
        let src = match File::open(&stored).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(MediaError::NotFound(key.clone()))
            }
            Err(e) => return Err(local_file(&stored)(e)),
        };
        write_atomically(src, &stored, path).await
    }

    async fn delete(&self, key: &MediaKey) -> Result<(), MediaError> {
        let path = self.path_of(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(local_file(&path)(e)),
        }
    }

    async fn size(&self, key: &MediaKey) -> Result<Option<u64>, MediaError> {
        let path = self.path_of(key);
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            // A folder is a key prefix, not an object.
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(local_file(&path)(e)),
        }
    }

    async fn presign_get(&self, key: &MediaKey, ttl: Duration) -> Result<Url, MediaError> {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let expires = self.clock.now().timestamp().saturating_add(ttl);
        let sig = hex::encode(self.mac(key, expires)?.finalize().into_bytes());
        let mut url = self
            .public_url
            .join(&format!("media/{key}"))
            .map_err(|e| MediaError::Misconfigured(format!("cannot build a media URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("expires", &expires.to_string())
            .append_pair("sig", &sig);
        Ok(url)
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MediaKey>, MediaError> {
        let folder = prefix.trim_end_matches('/');
        let dir = MediaKey::parse(folder)
            .map(|k| self.path_of(&k))
            .map_err(|e| MediaError::Misconfigured(format!("cannot list {prefix}: {e}")))?;
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(local_file(&dir)(e)),
        };
        let mut keys = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(local_file(&dir))? {
            let is_file = entry.file_type().await.is_ok_and(|t| t.is_file());
            let name = entry.file_name();
            // Temporary files of unfinished writes start with '.'; they are not objects.
            match name.to_str() {
                Some(n) if is_file && !n.starts_with('.') => {
                    if let Ok(k) = MediaKey::parse(format!("{folder}/{n}")) {
                        if after.is_none_or(|a| k.as_str() > a) {
                            keys.push(k);
                        }
                    }
                }
                _ => {}
            }
        }
        keys.sort();
        keys.truncate(limit);
        Ok(keys)
    }
}

#[cfg(test)]
mod tests;
