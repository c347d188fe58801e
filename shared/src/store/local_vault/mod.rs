//! The embedded token vault: OAuth tokens encrypted with AES-256-GCM before they reach the
//! SQLite file, under a 32-byte key kept in its own 0600 file beside it ([`key_file`]). The
//! sealing (a fresh random 96-bit nonce per write, the token's name as associated data, so a
//! ciphertext copied to another name does not decrypt) is `store::token_cipher`'s, shared with
//! the AWS vaults. This is not key management: whoever can read the key file can read the
//! tokens, so a key file others may read is refused.

pub(crate) mod key_file;

use std::path::Path;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use secrecy::SecretString;

use crate::domain::TokenRef;
use crate::store::sqlite::Database;
use crate::store::token_cipher::{Sealed, TokenCipher};
use crate::store::{StoreError, TokenVault, VaultError};
use key_file::load_or_create_key;

/// AES-256-GCM token vault over the shared SQLite [`Database`].
#[derive(Clone)]
pub struct LocalVault {
    db: Database,
    cipher: TokenCipher,
}

impl std::fmt::Debug for LocalVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalVault")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl LocalVault {
    /// Use the key at `key_path`, creating it (0600) on first use.
    pub fn open(db: Database, key_path: &Path) -> Result<LocalVault, VaultError> {
        let key =
            load_or_create_key(key_path).map_err(|e| VaultError::Misconfigured(e.to_string()))?;
        let cipher = TokenCipher::new(key.as_ref()).ok_or_else(|| {
            VaultError::Misconfigured("the vault key file does not hold a 256-bit key".into())
        })?;
        Ok(LocalVault { db, cipher })
    }
}

fn unavailable(e: StoreError) -> VaultError {
    VaultError::Unavailable(e.to_string())
}

#[async_trait]
impl TokenVault for LocalVault {
    async fn put_token(&self, name: &TokenRef, secret: &SecretString) -> Result<(), VaultError> {
        let Sealed { nonce, ciphertext } = self.cipher.seal(name, secret)?;
        let name = name.to_string();
        self.db
            .run(move |c| {
                c.execute(
                    "INSERT INTO tokens (name, nonce, ciphertext) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce,
                                                      ciphertext = excluded.ciphertext",
                    params![name, nonce, ciphertext],
                )?;
                Ok(())
            })
            .await
            .map_err(unavailable)
    }

    async fn get_token(&self, name: &TokenRef) -> Result<Option<SecretString>, VaultError> {
        let key = name.to_string();
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .db
            .run(move |c| {
                Ok(c.query_row(
                    "SELECT nonce, ciphertext FROM tokens WHERE name = ?1",
                    [key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
            })
            .await
            .map_err(unavailable)?;
        let Some((nonce, ciphertext)) = row else {
            return Ok(None);
        };
        self.cipher
            .open(name, &Sealed { nonce, ciphertext })
            .map(Some)
    }

    async fn delete_token(&self, name: &TokenRef) -> Result<(), VaultError> {
        let name = name.to_string();
        self.db
            .run(move |c| {
                c.execute("DELETE FROM tokens WHERE name = ?1", [name])?;
                Ok(())
            })
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use secrecy::ExposeSecret;

    use super::*;
    use crate::store::sqlite::tests::temp_db;

    fn name(s: &str) -> TokenRef {
        TokenRef::parse(s).unwrap()
    }

    fn vault() -> (tempfile::TempDir, LocalVault) {
        let (dir, db) = temp_db();
        let vault = LocalVault::open(db, &dir.path().join("vault.key")).unwrap();
        (dir, vault)
    }

    async fn stored(vault: &LocalVault, name: &str) -> (Vec<u8>, Vec<u8>) {
        let name = name.to_string();
        vault
            .db
            .run(move |c| {
                Ok(c.query_row(
                    "SELECT nonce, ciphertext FROM tokens WHERE name = ?1",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_token_round_trips_and_is_not_stored_in_clear() {
        let (dir, vault) = vault();
        let secret = "access-token-with-a-recognisable-value";
        vault
            .put_token(&name("twitch/broadcaster/1"), &SecretString::from(secret))
            .await
            .unwrap();

        let back = vault
            .get_token(&name("twitch/broadcaster/1"))
            .await
            .unwrap()
            .unwrap();

        assert_eq!(back.expose_secret(), secret);
        let (_, ciphertext) = stored(&vault, "twitch/broadcaster/1").await;
        assert!(!ciphertext
            .windows(secret.len())
            .any(|w| w == secret.as_bytes()));
        for file in ["hilite.db", "hilite.db-wal"] {
            let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{file}"
            );
        }
        assert!(vault
            .get_token(&name("twitch/broadcaster/2"))
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn each_write_uses_a_new_nonce() {
        let (_dir, vault) = vault();
        let n = name("youtube/main");
        vault
            .put_token(&n, &SecretString::from("same"))
            .await
            .unwrap();
        let first = stored(&vault, "youtube/main").await;
        vault
            .put_token(&n, &SecretString::from("same"))
            .await
            .unwrap();
        let second = stored(&vault, "youtube/main").await;
        assert_ne!(first.0, second.0);
        assert_ne!(first.1, second.1);
    }

    #[tokio::test]
    async fn the_key_file_is_created_readable_by_its_owner_only_and_reused() {
        let (dir, vault) = vault();
        let path = dir.path().join("vault.key");
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        vault
            .put_token(&name("tiktok/main"), &SecretString::from("s"))
            .await
            .unwrap();

        let reopened = LocalVault::open(vault.db.clone(), &path).unwrap();

        let back = reopened
            .get_token(&name("tiktok/main"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back.expose_secret(), "s");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[tokio::test]
    async fn a_tampered_ciphertext_is_reported_corrupt_without_the_secret() {
        let (_dir, vault) = vault();
        let n = name("instagram/main");
        vault
            .put_token(&n, &SecretString::from("secret-value"))
            .await
            .unwrap();
        vault
            .db
            .run(|c| {
                c.execute(
                    "UPDATE tokens SET ciphertext = zeroblob(length(ciphertext))",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();

        let err = vault.get_token(&n).await.unwrap_err();

        assert!(
            matches!(&err, VaultError::Corrupt(x) if x == "instagram/main"),
            "{err:?}"
        );
        assert!(!format!("{err} {err:?}").contains("secret-value"));
    }

    #[tokio::test]
    async fn a_ciphertext_moved_to_another_name_does_not_decrypt() {
        let (_dir, vault) = vault();
        vault
            .put_token(&name("youtube/a"), &SecretString::from("token-of-a"))
            .await
            .unwrap();
        vault
            .db
            .run(|c| {
                c.execute(
                    "INSERT INTO tokens (name, nonce, ciphertext)
                     SELECT 'youtube/b', nonce, ciphertext FROM tokens WHERE name = 'youtube/a'",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();

        let err = vault.get_token(&name("youtube/b")).await.unwrap_err();

        assert!(
            matches!(&err, VaultError::Corrupt(x) if x == "youtube/b"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_deleted_token_is_gone_and_deleting_again_is_fine() {
        let (_dir, vault) = vault();
        let n = name("youtube/main");
        vault.put_token(&n, &SecretString::from("s")).await.unwrap();
        vault.delete_token(&n).await.unwrap();
        vault.delete_token(&n).await.unwrap();
        assert!(vault.get_token(&n).await.unwrap().is_none());
    }

    #[test]
    fn a_vault_key_file_others_may_read_is_refused_with_the_fix() {
        let (dir, db) = temp_db();
        let path = dir.path().join("vault.key");
        std::fs::write(&path, [7u8; 32]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

        let err = LocalVault::open(db, &path).unwrap_err();

        let message = err.to_string();
        assert!(matches!(err, VaultError::Misconfigured(_)), "{err:?}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("chmod 600"), "{message}");
    }
}
