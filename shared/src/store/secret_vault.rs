//! The AWS token vault with a key from Secrets Manager (`TokenVaultKey=secret`, the template's
//! default): a 256-bit AES key that `hilite::secrets` derives at cold start from the `AppSecrets`
//! secret and hands over as `aws.vault_key` (base64). Tokens are sealed here with AES-256-GCM
//! (`store::token_cipher`, the token's name as associated data, as the other vaults) and kept in
//! the state table's item `TOKEN#{name}`, where the KMS vault keeps its own, without a data key.
//!
//! The trade against the KMS vault (docs/cost.md): no $1/month key and no KMS call per read, but
//! the key is in the function's memory rather than never leaving KMS, and only the secret's read
//! at cold start is a CloudTrail event, not each decrypt. Either way a role that may decrypt can
//! read the tokens. It is not a key manager: changing the key makes stored tokens unreadable
//! (they must be stored again). The key never appears in errors, logs or `Debug` output.

use async_trait::async_trait;
use base64::Engine;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::TokenRef;
use crate::store::kms_vault::{TokenTable, DATA_KEY};
use crate::store::token_cipher::{TokenCipher, KEY_LEN};
use crate::store::{TokenVault, VaultError};

/// The [`TokenVault`] on the DynamoDB state table with a key held in memory.
#[derive(Debug, Clone)]
pub struct SecretKeyVault {
    items: TokenTable,
    cipher: TokenCipher,
}

impl SecretKeyVault {
    /// `key` is the base64 of 32 bytes (`aws.vault_key`); anything else is refused, by its shape
    /// only.
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        table: String,
        key: &SecretString,
    ) -> Result<Self, VaultError> {
        let cipher = decode_key(key)
            .and_then(|k| TokenCipher::new(&k))
            .ok_or_else(|| {
                VaultError::Misconfigured(
                    "aws.vault_key is not the base64 of 32 bytes: leave it to \
                     aws.secrets.vault_key (the AppSecrets secret's `vault_seed`), or set it to \
                     the output of `openssl rand -base64 32`"
                        .into(),
                )
            })?;
        Ok(Self {
            items: TokenTable::new(dynamo, table),
            cipher,
        })
    }
}

/// The 32 bytes `key` encodes in standard base64, or `None`.
pub fn decode_key(key: &SecretString) -> Option<Zeroizing<Vec<u8>>> {
    base64::engine::general_purpose::STANDARD
        .decode(key.expose_secret().trim())
        .ok()
        .map(Zeroizing::new)
        .filter(|k| k.len() == KEY_LEN)
}

#[async_trait]
impl TokenVault for SecretKeyVault {
    async fn put_token(&self, name: &TokenRef, secret: &SecretString) -> Result<(), VaultError> {
        let sealed = self.cipher.seal(name, secret)?;
        self.items.put(name, sealed, &[]).await
    }

    async fn get_token(&self, name: &TokenRef) -> Result<Option<SecretString>, VaultError> {
        let Some((sealed, extra)) = self.items.get(name).await? else {
            return Ok(None);
        };
        if extra.contains_key(DATA_KEY) {
            return Err(VaultError::Misconfigured(format!(
                "token {name} was stored with KMS (TokenVaultKey=kms), not under this key: \
                 deploy with TokenVaultKey=kms, or store it again (`hilite auth`)"
            )));
        }
        self.cipher.open(name, &sealed).map(Some)
    }

    async fn delete_token(&self, name: &TokenRef) -> Result<(), VaultError> {
        self.items.delete(name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_base64_of_32_bytes_is_a_key() {
        let b64 = |bytes: &[u8]| {
            SecretString::from(base64::engine::general_purpose::STANDARD.encode(bytes))
        };
        assert_eq!(decode_key(&b64(&[3u8; 32])).unwrap().as_slice(), &[3u8; 32]);
        assert!(decode_key(&b64(&[3u8; 31])).is_none());
        assert!(decode_key(&b64(&[3u8; 33])).is_none());
        assert!(decode_key(&SecretString::from("not base64 at all!")).is_none());
        assert!(decode_key(&SecretString::from("")).is_none());
    }
}
