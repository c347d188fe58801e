//! Key files: 32 random bytes in a file only its owner may read, created on first use. Used
//! for the token vault's AES-256 key and the media store's URL signing key. A file others may
//! read, or of the wrong size, is refused with the fix; the key never appears in an error.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use aes_gcm::aead::OsRng;
use rand::RngCore;
use secrecy::zeroize::Zeroizing;

/// Length of the AES-256 and HMAC-SHA256 keys HiLite keeps in files.
pub(crate) const KEY_LEN: usize = 32;

/// Why a key file cannot be used. Messages name the file and what to do; never the key.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyFileError {
    #[error("key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {path} may be read by other users (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error(
        "key file {path} holds {len} bytes, not 32: it is not a HiLite key; restore the \
         right file (a new key cannot read what the old one wrote)"
    )]
    WrongLength { path: PathBuf, len: u64 },
}

/// Read the 32-byte key at `path`, or create it (mode 0600, random) when there is none.
///
/// The new key is written to a temporary file and hard-linked into place, which fails if the
/// name exists: two processes starting together end up with the same, complete key.
pub(crate) fn load_or_create_key(path: &Path) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.exists() {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(key.as_mut());
        let tmp = path.with_file_name(format!(
            ".{}.{}.tmp",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            uuid::Uuid::new_v4()
        ));
        let written =
            write_private(&tmp, key.as_ref()).and_then(|()| std::fs::hard_link(&tmp, path));
        // The temporary name is only a staging point; it goes whatever happened.
        let _ = std::fs::remove_file(&tmp);
        match written {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created a new key file");
                return Ok(key);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
    }
    let mut file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    if meta.len() != KEY_LEN as u64 {
        return Err(KeyFileError::WrongLength {
            path: path.to_path_buf(),
            len: meta.len(),
        });
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    file.read_exact(key.as_mut()).map_err(io)?;
    Ok(key)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_new_key_file_is_random_private_and_read_back_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");

        let created = load_or_create_key(&path).unwrap();
        let again = load_or_create_key(&path).unwrap();

        assert_eq!(*created, *again);
        assert_ne!(*created, [0u8; KEY_LEN]);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), KEY_LEN as u64);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["k.key"], "a temporary file was left behind");
    }

    #[test]
    fn processes_starting_together_end_up_with_one_key() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("k.key");
            let keys: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..4)
                    .map(|_| s.spawn(|| load_or_create_key(&path).unwrap()))
                    .collect();
                handles.into_iter().map(|h| *h.join().unwrap()).collect()
            });
            assert!(keys.windows(2).all(|w| w[0] == w[1]));
            assert_eq!(std::fs::read(&path).unwrap(), keys[0]);
        }
    }

    #[test]
    fn a_key_file_others_may_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        std::fs::write(&path, [7u8; KEY_LEN]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();

        let err = load_or_create_key(&path).unwrap_err();

        assert!(
            matches!(err, KeyFileError::TooOpen { mode: 0o640, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains(&format!("chmod 600 {}", path.display())),
            "{err}"
        );
    }

    #[test]
    fn a_key_file_of_the_wrong_length_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        write_private(&path, b"too short").unwrap();

        let err = load_or_create_key(&path).unwrap_err();

        assert!(err.to_string().contains("holds 9 bytes"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"too short");
    }
}
