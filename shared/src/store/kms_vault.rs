//! The AWS token vault with KMS: envelope encryption. Each write asks KMS for a fresh AES-256
//! data key, seals the secret here with it (`store::token_cipher`: AES-256-GCM, the token's
//! name as associated data), and stores the data key only in its KMS-encrypted form beside the
//! nonce and ciphertext, in the state table's item `TOKEN#{name}` ([`TokenTable`], which the
//! secret-key vault shares). A read has KMS decrypt the data key, then opens locally. The
//! token's name is bound twice: as the KMS encryption context (`hilite:token`) and as the
//! associated data, so a record copied under another name does not decrypt.
//!
//! It is not a cache and not a key manager: every read is one KMS call (a CloudTrail event),
//! and key rotation is KMS's (old data keys stay decryptable). Secrets never appear in errors
//! or logs. <https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#enveloping>

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use secrecy::zeroize::Zeroizing;
use secrecy::SecretString;

use crate::domain::TokenRef;
use crate::store::dynamo::{PK, SK};
use crate::store::token_cipher::{Sealed, TokenCipher};
use crate::store::{TokenVault, VaultError};

/// The KMS encryption context key naming the token a data key belongs to.
const CONTEXT_KEY: &str = "hilite:token";
const TOKEN_SK: &str = "TOKEN";
/// The KMS-encrypted data key; only the KMS vault writes it.
pub(crate) const DATA_KEY: &str = "data_key";
const NONCE: &str = "nonce";
const CIPHERTEXT: &str = "ciphertext";

/// The state table's token items, `pk = TOKEN#{name}`, `sk = TOKEN`: a nonce, a ciphertext and
/// any extra binary attributes the vault keeps (the KMS vault's sealed data key).
#[derive(Debug, Clone)]
pub(crate) struct TokenTable {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
}

impl TokenTable {
    pub(crate) fn new(dynamo: aws_sdk_dynamodb::Client, table: String) -> Self {
        Self { dynamo, table }
    }

    fn pk(name: &TokenRef) -> AttributeValue {
        AttributeValue::S(format!("TOKEN#{name}"))
    }

    /// Write (or replace) `name`'s item.
    pub(crate) async fn put(
        &self,
        name: &TokenRef,
        sealed: Sealed,
        extra: &[(&str, Vec<u8>)],
    ) -> Result<(), VaultError> {
        let mut item: HashMap<String, AttributeValue> = [
            (PK, Self::pk(name)),
            (SK, AttributeValue::S(TOKEN_SK.into())),
            (NONCE, AttributeValue::B(Blob::new(sealed.nonce))),
            (CIPHERTEXT, AttributeValue::B(Blob::new(sealed.ciphertext))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in extra {
            item.insert(k.to_string(), AttributeValue::B(Blob::new(v.clone())));
        }
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| self.fail("PutItem", e))?;
        Ok(())
    }

    /// `name`'s sealed token and its binary attributes by name, or `None` when there is none.
    /// A record without a binary nonce and ciphertext is `Corrupt`.
    pub(crate) async fn get(
        &self,
        name: &TokenRef,
    ) -> Result<Option<(Sealed, HashMap<String, Vec<u8>>)>, VaultError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key(PK, Self::pk(name))
            .key(SK, AttributeValue::S(TOKEN_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.fail("GetItem", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let mut binary: HashMap<String, Vec<u8>> = item
            .into_iter()
            .filter_map(|(k, v)| match v {
                AttributeValue::B(b) => Some((k, b.into_inner())),
                _ => None,
            })
            .collect();
        match (binary.remove(NONCE), binary.remove(CIPHERTEXT)) {
            (Some(nonce), Some(ciphertext)) => Ok(Some((Sealed { nonce, ciphertext }, binary))),
            _ => Err(VaultError::Corrupt(name.to_string())),
        }
    }

    pub(crate) async fn delete(&self, name: &TokenRef) -> Result<(), VaultError> {
        self.dynamo
            .delete_item()
            .table_name(&self.table)
            .key(PK, Self::pk(name))
            .key(SK, AttributeValue::S(TOKEN_SK.into()))
            .send()
            .await
            .map_err(|e| self.fail("DeleteItem", e))?;
        Ok(())
    }

    fn fail<E>(
        &self,
        operation: &str,
        err: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> VaultError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match err.as_service_error().and_then(ProvideErrorMetadata::code) {
            Some(
                code @ ("ResourceNotFoundException"
                | "AccessDeniedException"
                | "ValidationException"),
            ) => VaultError::Misconfigured(format!(
                "DynamoDB {operation} on table {} was refused ({code})",
                self.table
            )),
            _ => VaultError::Unavailable(format!(
                "DynamoDB {operation} on table {} failed: {}",
                self.table,
                DisplayErrorContext(&err)
            )),
        }
    }
}

/// The [`TokenVault`] on KMS and the DynamoDB state table.
#[derive(Debug, Clone)]
pub struct KmsVault {
    kms: aws_sdk_kms::Client,
    items: TokenTable,
    key_id: String,
}

impl KmsVault {
    pub fn new(
        kms: aws_sdk_kms::Client,
        dynamo: aws_sdk_dynamodb::Client,
        table: String,
        key_id: String,
    ) -> Self {
        Self {
            kms,
            items: TokenTable::new(dynamo, table),
            key_id,
        }
    }

    fn key_id(&self) -> Result<&str, VaultError> {
        if self.key_id.is_empty() {
            return Err(VaultError::Misconfigured(
                "no token vault key: set aws.kms_key_id (HILITE_AWS__KMS_KEY_ID) for KMS, or \
                 aws.secrets.vault_key (HILITE_AWS__SECRETS__VAULT_KEY) for a key kept in \
                 Secrets Manager"
                    .into(),
            ));
        }
        Ok(&self.key_id)
    }

    /// A fresh data key: the plaintext (wiped when dropped) and its KMS-encrypted form.
    async fn data_key(&self, name: &TokenRef) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), VaultError> {
        let mut out = self
            .kms
            .generate_data_key()
            .key_id(self.key_id()?)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, name.as_str())
            .send()
            .await
            .map_err(|e| self.kms_fail("GenerateDataKey", name, e))?;
        let plain = out.plaintext.take().map(|b| Zeroizing::new(b.into_inner()));
        let sealed = out.ciphertext_blob.take().map(Blob::into_inner);
        match (plain, sealed) {
            (Some(plain), Some(sealed)) => Ok((plain, sealed)),
            _ => Err(VaultError::Unavailable(
                "KMS GenerateDataKey returned no key".into(),
            )),
        }
    }

    async fn open_data_key(
        &self,
        name: &TokenRef,
        sealed: Vec<u8>,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let mut out = self
            .kms
            .decrypt()
            .key_id(self.key_id()?)
            .ciphertext_blob(Blob::new(sealed))
            .encryption_context(CONTEXT_KEY, name.as_str())
            .send()
            .await
            .map_err(|e| self.kms_fail("Decrypt", name, e))?;
        out.plaintext
            .take()
            .map(|b| Zeroizing::new(b.into_inner()))
            .ok_or_else(|| VaultError::Unavailable("KMS Decrypt returned no plaintext".into()))
    }

    fn kms_fail<E>(
        &self,
        operation: &str,
        name: &TokenRef,
        err: SdkError<E, aws_sdk_kms::config::http::HttpResponse>,
    ) -> VaultError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        // <https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html#API_Decrypt_Errors>
        match err.as_service_error().and_then(ProvideErrorMetadata::code) {
            Some("InvalidCiphertextException" | "IncorrectKeyException") => VaultError::Corrupt(name.to_string()),
            Some(
                code @ ("NotFoundException"
                | "DisabledException"
                | "KMSInvalidStateException"
                | "AccessDeniedException"
                | "InvalidKeyUsageException"
                | "UnrecognizedClientException"),
            ) => VaultError::Misconfigured(format!(
                "KMS {operation} with key {} was refused ({code}): check aws.kms_key_id and the key policy",
                self.key_id
            )),
            _ => VaultError::Unavailable(format!("KMS {operation} failed: {}", DisplayErrorContext(&err))),
        }
    }
}

#[async_trait]
impl TokenVault for KmsVault {
    async fn put_token(&self, name: &TokenRef, secret: &SecretString) -> Result<(), VaultError> {
        let (key, sealed_key) = self.data_key(name).await?;
        let cipher = TokenCipher::new(&key).ok_or_else(|| {
            VaultError::Unavailable("KMS returned a data key that is not 256 bits".into())
        })?;
        drop(key);
        let sealed = cipher.seal(name, secret)?;
        self.items
            .put(name, sealed, &[(DATA_KEY, sealed_key)])
            .await
    }

    async fn get_token(&self, name: &TokenRef) -> Result<Option<SecretString>, VaultError> {
        let Some((sealed, mut extra)) = self.items.get(name).await? else {
            return Ok(None);
        };
        let Some(sealed_key) = extra.remove(DATA_KEY) else {
            return Err(VaultError::Misconfigured(format!(
                "token {name} was stored by the secret-key vault, not with KMS: deploy with the \
                 TokenVaultKey the tokens were written under, or store them again (`hilite auth`)"
            )));
        };
        let key = self.open_data_key(name, sealed_key).await?;
        let cipher = TokenCipher::new(&key).ok_or_else(|| VaultError::Corrupt(name.to_string()))?;
        drop(key);
        cipher.open(name, &sealed).map(Some)
    }

    async fn delete_token(&self, name: &TokenRef) -> Result<(), VaultError> {
        self.items.delete(name).await
    }
}
