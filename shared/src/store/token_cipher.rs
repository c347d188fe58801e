//! The one AES-256-GCM implementation of the token vaults: a token is sealed under a 256-bit key
//! with a fresh random 96-bit nonce, and its name is the associated data, so a ciphertext copied
//! to another name does not open. The local vault (key file), the KMS vault (a data key per
//! write) and the secret-key vault (a key from Secrets Manager) differ only in where the key
//! comes from and where the sealed bytes are kept; all three seal and open here.
//!
//! It is not key management and keeps no state beyond the cipher. Errors name the token, never
//! its value.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::TokenRef;
use crate::store::VaultError;

/// AES-GCM's standard nonce length, 96 bits.
pub(crate) const NONCE_LEN: usize = 12;
/// AES-256's key length.
pub(crate) const KEY_LEN: usize = 32;

/// A token as stored: the nonce and the ciphertext (with its 16-byte tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// AES-256-GCM under one key.
#[derive(Clone)]
pub(crate) struct TokenCipher(Aes256Gcm);

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCipher(..)")
    }
}

impl TokenCipher {
    /// The cipher under `key`, which must be 32 bytes; `None` otherwise.
    pub(crate) fn new(key: &[u8]) -> Option<Self> {
        Aes256Gcm::new_from_slice(key).ok().map(Self)
    }

    /// Seal `secret` for `name` with a fresh nonce.
    pub(crate) fn seal(
        &self,
        name: &TokenRef,
        secret: &SecretString,
    ) -> Result<Sealed, VaultError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: secret.expose_secret().as_bytes(),
            aad: name.as_str().as_bytes(),
        };
        // Encryption only fails for plaintexts of many gigabytes.
        let ciphertext = self
            .0
            .encrypt(&nonce, payload)
            .map_err(|_| VaultError::Unavailable(format!("token {name} cannot be encrypted")))?;
        Ok(Sealed {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Open what [`seal`](Self::seal) made for `name`: `Corrupt` when the nonce has the wrong
    /// length, the ciphertext or tag was altered, it was sealed for another name or under another
    /// key, or it is not UTF-8.
    pub(crate) fn open(
        &self,
        name: &TokenRef,
        sealed: &Sealed,
    ) -> Result<SecretString, VaultError> {
        let corrupt = || VaultError::Corrupt(name.to_string());
        if sealed.nonce.len() != NONCE_LEN {
            return Err(corrupt());
        }
        let payload = Payload {
            msg: &sealed.ciphertext,
            aad: name.as_str().as_bytes(),
        };
        let plain = Zeroizing::new(
            self.0
                .decrypt(Nonce::from_slice(&sealed.nonce), payload)
                .map_err(|_| corrupt())?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| corrupt())?;
        Ok(SecretString::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> TokenRef {
        TokenRef::parse(s).unwrap()
    }

    #[test]
    fn a_sealed_token_opens_only_under_its_name_and_key() {
        let cipher = TokenCipher::new(&[7u8; KEY_LEN]).unwrap();
        let sealed = cipher
            .seal(&name("youtube/a"), &SecretString::from("token-of-a"))
            .unwrap();

        assert_eq!(
            cipher
                .open(&name("youtube/a"), &sealed)
                .unwrap()
                .expose_secret(),
            "token-of-a"
        );
        assert!(matches!(
            cipher.open(&name("youtube/b"), &sealed),
            Err(VaultError::Corrupt(n)) if n == "youtube/b"
        ));
        let other = TokenCipher::new(&[8u8; KEY_LEN]).unwrap();
        assert!(matches!(
            other.open(&name("youtube/a"), &sealed),
            Err(VaultError::Corrupt(_))
        ));
        let mut short = sealed.clone();
        short.nonce.pop();
        assert!(matches!(
            cipher.open(&name("youtube/a"), &short),
            Err(VaultError::Corrupt(_))
        ));
    }

    #[test]
    fn each_seal_uses_a_new_nonce_and_a_key_must_be_256_bits() {
        let cipher = TokenCipher::new(&[1u8; KEY_LEN]).unwrap();
        let secret = SecretString::from("same");
        let (a, b) = (
            cipher.seal(&name("tiktok/main"), &secret).unwrap(),
            cipher.seal(&name("tiktok/main"), &secret).unwrap(),
        );
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert!(TokenCipher::new(&[1u8; 16]).is_none());
        assert!(TokenCipher::new(&[]).is_none());
    }
}
