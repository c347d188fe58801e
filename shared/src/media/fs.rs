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

use super::{MediaError, MediaStore};
use crate::clock::Clock;
use crate::domain::MediaKey;
use crate::store::local_vault::{load_or_create_key, KEY_LEN};

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
        Ok(FsMediaStore { root: root.to_path_buf(), signing_key, public_url, clock })
    }

    /// The file that holds `key`, built segment by segment under the root (a `MediaKey` has
    /// no empty, `.` or `..` segment, so the result is always inside the root).
    pub fn path_of(&self, key: &MediaKey) -> PathBuf {
        key.as_str().split('/').fold(self.root.clone(), |path, segment| path.join(segment))
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
    move |source| MediaError::LocalFile { path: path.display().to_string(), source }
}

/// Stream `src` into a temporary file beside `dest`, flush it to disk and rename it over
/// `dest`. The temporary file is removed on any failure.
async fn write_atomically(src: File, src_path: &Path, dest: &Path) -> Result<u64, MediaError> {
    let dir = match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.partial", uuid::Uuid::new_v4()));
    let copied = async {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await
            .map_err(local_file(&tmp))?;
        let mut reader = BufReader::with_capacity(COPY_BUFFER_BYTES, src);
        let copy_error = |source| MediaError::LocalFile {
            path: format!("{} (copying from {})", dest.display(), src_path.display()),
            source,
        };
        let n = tokio::io::copy_buf(&mut reader, &mut out).await.map_err(copy_error)?;
        out.flush().await.map_err(local_file(&tmp))?;
        out.sync_all().await.map_err(local_file(&tmp))?;
        drop(out);
        tokio::fs::rename(&tmp, dest).await.map_err(local_file(dest))?;
        Ok(n)
    }
    .await;
    match copied {
        Ok(n) => {
            // Make the rename itself durable; not every file system can sync a folder, and the
            // file is complete either way, so a failure here is only worth a debug line.
            if let Err(e) = sync_dir(&dir).await {
                tracing::debug!(dir = %dir.display(), error = %e, "could not sync the folder");
            }
            Ok(n)
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e)
        }
    }
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir).await?.sync_all().await
}

#[async_trait]
impl MediaStore for FsMediaStore {
    async fn put_file(&self, key: &MediaKey, path: &Path, _content_type: &str) -> Result<u64, MediaError> {
        let src = File::open(path).await.map_err(local_file(path))?;
        let dest = self.path_of(key);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(local_file(parent))?;
        }
        write_atomically(src, path, &dest).await
    }

    async fn get_to_file(&self, key: &MediaKey, path: &Path) -> Result<u64, MediaError> {
        let stored = self.path_of(key);
        let src = match File::open(&stored).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(MediaError::NotFound(key.clone())),
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
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::clock::ManualClock;

    struct Fixture {
        dir: tempfile::TempDir,
        store: FsMediaStore,
        clock: Arc<ManualClock>,
    }

    fn fixture(public_url: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()));
        let store = FsMediaStore::open(
            &dir.path().join("media"),
            &dir.path().join("media-url.key"),
            Url::parse(public_url).unwrap(),
            clock.clone(),
        )
        .unwrap();
        Fixture { dir, store, clock }
    }

    fn key(s: &str) -> MediaKey {
        MediaKey::parse(s).unwrap()
    }

    /// Every file under `dir`, recursively.
    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push(path);
            }
        }
        found.sort();
        found
    }

    fn query(url: &Url, name: &str) -> String {
        url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap()
    }

    #[tokio::test]
    async fn a_put_file_is_stored_whole_under_its_key_with_no_temporary_file_left() {
        let f = fixture("http://127.0.0.1:8080/");
        let src = f.dir.path().join("source.mp4");
        let content: Vec<u8> = (0..3 * COPY_BUFFER_BYTES + 17).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src, &content).unwrap();
        let k = key("raw/Clip1/source.mp4");

        let size = f.store.put_file(&k, &src, "video/mp4").await.unwrap();

        assert_eq!(size, content.len() as u64);
        let root = f.dir.path().join("media");
        assert_eq!(files_under(&root), [root.join("raw/Clip1/source.mp4")]);
        assert_eq!(std::fs::read(root.join("raw/Clip1/source.mp4")).unwrap(), content);
        assert_eq!(f.store.size(&k).await.unwrap(), Some(content.len() as u64));
    }

    #[tokio::test]
    async fn a_stored_file_comes_back_to_any_path_and_replaces_what_was_there() {
        let f = fixture("http://127.0.0.1:8080/");
        let src = f.dir.path().join("in.srt");
        std::fs::write(&src, b"1\n00:00:00,000 --> 00:00:01,000\nhi\n").unwrap();
        let k = key("shorts/Clip1/captions.srt");
        f.store.put_file(&k, &src, "application/x-subrip").await.unwrap();
        let out = f.dir.path().join("out.srt");
        std::fs::write(&out, b"old and longer content that must disappear entirely").unwrap();

        let size = f.store.get_to_file(&k, &out).await.unwrap();

        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&src).unwrap());
        assert_eq!(size, std::fs::metadata(&src).unwrap().len());
        let leftovers: Vec<_> = files_under(f.dir.path()).into_iter().filter(|p| p.to_string_lossy().ends_with(".partial")).collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[tokio::test]
    async fn a_missing_key_is_not_found_and_deleting_it_is_fine() {
        let f = fixture("http://127.0.0.1:8080/");
        let k = key("raw/Nothing/source.mp4");
        let out = f.dir.path().join("out.mp4");
        assert!(matches!(f.store.get_to_file(&k, &out).await, Err(MediaError::NotFound(x)) if x == k));
        assert!(!out.exists());
        assert_eq!(f.store.size(&k).await.unwrap(), None);
        f.store.delete(&k).await.unwrap();

        let src = f.dir.path().join("s");
        std::fs::write(&src, b"x").unwrap();
        f.store.put_file(&k, &src, "video/mp4").await.unwrap();
        f.store.delete(&k).await.unwrap();
        f.store.delete(&k).await.unwrap();
        assert_eq!(f.store.size(&k).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_file_that_cannot_be_written_is_reported_with_its_path() {
        let f = fixture("http://127.0.0.1:8080/");
        // `raw` exists as a file, so the folder `raw/Clip1` cannot be made.
        std::fs::write(f.dir.path().join("media/raw"), b"in the way").unwrap();
        let src = f.dir.path().join("s");
        std::fs::write(&src, b"x").unwrap();

        let err = f.store.put_file(&key("raw/Clip1/source.mp4"), &src, "video/mp4").await.unwrap_err();

        assert!(matches!(&err, MediaError::LocalFile { path, .. } if path.contains("media/raw")), "{err:?}");
        let missing = f.dir.path().join("no-such-input.mp4");
        let err = f.store.put_file(&key("raw/Clip2/source.mp4"), &missing, "video/mp4").await.unwrap_err();
        assert!(err.to_string().contains("no-such-input.mp4"), "{err}");
    }

    #[tokio::test]
    async fn a_presigned_url_verifies_until_it_expires() {
        let f = fixture("http://127.0.0.1:8080/");
        let k = key("shorts/Clip1/short.mp4");

        let url = f.store.presign_get(&k, Duration::from_secs(600)).await.unwrap();

        assert!(url.as_str().starts_with("http://127.0.0.1:8080/media/shorts/Clip1/short.mp4?expires="), "{url}");
        let expires: i64 = query(&url, "expires").parse().unwrap();
        assert_eq!(expires, f.clock.now().timestamp() + 600);
        let sig = query(&url, "sig");
        assert_eq!(f.store.verify(&k, expires, &sig).unwrap(), f.dir.path().join("media/shorts/Clip1/short.mp4"));
        f.clock.advance(chrono::Duration::seconds(599));
        assert!(f.store.verify(&k, expires, &sig).is_ok());
        f.clock.advance(chrono::Duration::seconds(1));
        assert!(matches!(f.store.verify(&k, expires, &sig), Err(MediaError::LinkExpired(_))));
    }

    #[tokio::test]
    async fn a_tampered_or_borrowed_signature_is_refused() {
        let f = fixture("http://127.0.0.1:8080/");
        let k = key("shorts/Clip1/short.mp4");
        let url = f.store.presign_get(&k, Duration::from_secs(600)).await.unwrap();
        let (expires, sig): (i64, String) = (query(&url, "expires").parse().unwrap(), query(&url, "sig"));
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();

        for (k2, e2, s2) in [
            (&k, expires, flipped.as_str()),
            (&k, expires + 3600, sig.as_str()),
            (&key("shorts/Clip2/short.mp4"), expires, sig.as_str()),
            (&k, expires, "not-hex"),
            (&k, expires, ""),
        ] {
            assert!(matches!(f.store.verify(k2, e2, s2), Err(MediaError::BadSignature(_))), "{k2} {e2} {s2}");
        }
    }

    #[tokio::test]
    async fn urls_keep_the_public_url_path_and_another_key_file_makes_other_signatures() {
        let f = fixture("https://example.test/hilite");
        let k = key("raw/Clip1/source.mp4");
        let url = f.store.presign_get(&k, Duration::from_secs(60)).await.unwrap();
        assert!(url.as_str().starts_with("https://example.test/hilite/media/raw/Clip1/source.mp4?"), "{url}");

        let other = fixture("https://example.test/hilite");
        let (expires, sig) = (query(&url, "expires").parse().unwrap(), query(&url, "sig"));
        assert!(matches!(other.store.verify(&k, expires, &sig), Err(MediaError::BadSignature(_))));
    }

    #[test]
    fn a_key_that_could_leave_the_folder_cannot_even_be_made() {
        for bad in ["../vault.key", "raw/../../x", "/etc/passwd", "raw/./x"] {
            assert!(MediaKey::parse(bad).is_err(), "{bad}");
        }
        let f = fixture("http://127.0.0.1:8080/");
        let path = f.store.path_of(&key("raw/a..b/c"));
        assert!(path.starts_with(f.dir.path().join("media")));
    }

    #[test]
    fn the_signing_key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let f = fixture("http://127.0.0.1:8080/");
        let mode = std::fs::metadata(f.dir.path().join("media-url.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
