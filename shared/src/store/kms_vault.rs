//! The AWS token vault: envelope encryption with KMS. Each write asks KMS for a fresh AES-256
//! data key, encrypts the secret here with AES-256-GCM under it, and stores the data key only
//! in its KMS-encrypted form beside the nonce and ciphertext, in the state table's item
//! `TOKEN#{name}`. A read has KMS decrypt the data key, then decrypts locally. The token's
//! name is bound twice: as the KMS encryption context (`hilite:token`) and as the AES-GCM
//! associated data, so a record copied under another name does not decrypt.
//!
//! It is not a cache and not a key manager: every read is one KMS call, and key rotation is
//! KMS's (old data keys stay decryptable). Secrets never appear in errors or logs.
//! <https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#enveloping>

use std::collections::HashMap;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::TokenRef;
use crate::store::dynamo::{PK, SK};
use crate::store::{TokenVault, VaultError};

/// The KMS encryption context key naming the token a data key belongs to.
const CONTEXT_KEY: &str = "hilite:token";
const TOKEN_SK: &str = "TOKEN";
const DATA_KEY: &str = "data_key";
const NONCE: &str = "nonce";
const CIPHERTEXT: &str = "ciphertext";
/// AES-GCM's standard nonce length, 96 bits.
const NONCE_LEN: usize = 12;

/// The [`TokenVault`] on KMS and the DynamoDB state table.
#[derive(Debug, Clone)]
pub struct KmsVault {
    kms: aws_sdk_kms::Client,
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
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
            dynamo,
            table,
            key_id,
        }
    }

    fn key_id(&self) -> Result<&str, VaultError> {
        if self.key_id.is_empty() {
            return Err(VaultError::Misconfigured(
                "aws.kms_key_id is not set (HILITE_AWS__KMS_KEY_ID): the vault needs a KMS key"
                    .into(),
            ));
        }
        Ok(&self.key_id)
    }

    fn pk(name: &TokenRef) -> AttributeValue {
        AttributeValue::S(format!("TOKEN#{name}"))
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

    fn dynamo_fail<E>(
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

#[async_trait]
impl TokenVault for KmsVault {
    async fn put_token(&self, name: &TokenRef, secret: &SecretString) -> Result<(), VaultError> {
        let (key, sealed_key) = self.data_key(name).await?;
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| {
            VaultError::Unavailable("KMS returned a data key that is not 256 bits".into())
        })?;
        drop(key);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: secret.expose_secret().as_bytes(),
            aad: name.as_str().as_bytes(),
        };
        let ciphertext = cipher
            .encrypt(&nonce, payload)
            .map_err(|_| VaultError::Unavailable(format!("token {name} could not be encrypted")))?;
        let item: HashMap<String, AttributeValue> = [
            (PK, Self::pk(name)),
            (SK, AttributeValue::S(TOKEN_SK.into())),
            (DATA_KEY, AttributeValue::B(Blob::new(sealed_key))),
            (NONCE, AttributeValue::B(Blob::new(nonce.to_vec()))),
            (CIPHERTEXT, AttributeValue::B(Blob::new(ciphertext))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| self.dynamo_fail("PutItem", e))?;
        Ok(())
    }

    async fn get_token(&self, name: &TokenRef) -> Result<Option<SecretString>, VaultError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key(PK, Self::pk(name))
            .key(SK, AttributeValue::S(TOKEN_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.dynamo_fail("GetItem", e))?;
        let Some(mut item) = out.item else {
            return Ok(None);
        };
        let mut bytes = |attr: &str| match item.remove(attr) {
            Some(AttributeValue::B(b)) => Ok(b.into_inner()),
            _ => Err(VaultError::Corrupt(name.to_string())),
        };
        let (sealed_key, nonce, ciphertext) = (bytes(DATA_KEY)?, bytes(NONCE)?, bytes(CIPHERTEXT)?);
        if nonce.len() != NONCE_LEN {
            return Err(VaultError::Corrupt(name.to_string()));
        }
        let key = self.open_data_key(name, sealed_key).await?;
        let cipher =
            Aes256Gcm::new_from_slice(&key).map_err(|_| VaultError::Corrupt(name.to_string()))?;
        drop(key);
        let payload = Payload {
            msg: &ciphertext,
            aad: name.as_str().as_bytes(),
        };
        let plain = Zeroizing::new(
            cipher
                .decrypt(Nonce::from_slice(&nonce), payload)
                .map_err(|_| VaultError::Corrupt(name.to_string()))?,
        );
        let text =
            std::str::from_utf8(&plain).map_err(|_| VaultError::Corrupt(name.to_string()))?;
        Ok(Some(SecretString::from(text.to_string())))
    }

    async fn delete_token(&self, name: &TokenRef) -> Result<(), VaultError> {
        self.dynamo
            .delete_item()
            .table_name(&self.table)
            .key(PK, Self::pk(name))
            .key(SK, AttributeValue::S(TOKEN_SK.into()))
            .send()
            .await
            .map_err(|e| self.dynamo_fail("DeleteItem", e))?;
        Ok(())
    }
}
