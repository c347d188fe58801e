//! DynamoDB SDK errors to [`StoreError`]: what retrying may fix (throttling, 5xx, network) is
//! `Unavailable`; what it will not (a missing table, a refused request, no permission) is
//! `Misconfigured`. Messages come from `DisplayErrorContext` (the error chain), never from a
//! debug dump, which would carry the request and so the records in it.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::DynamoStore;
use crate::store::StoreError;

/// Error codes no retry will fix.
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html>
const MISCONFIGURED: [&str; 5] = [
    "AccessDeniedException",
    "UnrecognizedClientException",
    "MissingAuthenticationTokenException",
    "ValidationException",
    "ResourceNotFoundException",
];

/// A write refused by its `ConditionExpression`.
pub(super) fn is_condition_failure<E: ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
) -> bool {
    err.as_service_error().and_then(ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException")
}

impl DynamoStore {
    pub(super) fn fail<E>(&self, operation: &str, err: SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.as_service_error().and_then(ProvideErrorMetadata::code);
        match code {
            Some("ResourceNotFoundException") => StoreError::Misconfigured(format!(
                "table {} (or its index {}) does not exist in this account and region; deploy \
                 infra/template.yaml or set aws.table",
                self.table,
                super::GSI1
            )),
            Some(code) if MISCONFIGURED.contains(&code) => StoreError::Misconfigured(format!(
                "{operation} on table {} was refused: {}",
                self.table,
                DisplayErrorContext(&err)
            )),
            _ => StoreError::Unavailable(format!(
                "{operation} on table {} failed: {}",
                self.table,
                DisplayErrorContext(&err)
            )),
        }
    }
}
