//! The contract suite (DESIGN.md §1): every test body here runs once per backend — `embedded::*`
//! against SQLite and a folder, `aws::*` against DynamoDB, SQS, S3 and KMS on `moto_server` —
//! so a behaviour that differs between the two shows up as a failing test named after its
//! backend.
//!
//! One module per subject, under `contract/`: `clips`, `publications` (and
//! `reopening_publications`), `records` (message ids, accounts, whitelist, streams,
//! broadcasters), `token_vault` (and `vault_secret`, the third vault), `queue`, `media`, and
//! `webhook_claims`; `common` holds the helpers they share.

#[path = "contract/clips.rs"]
mod clips;
#[path = "contract/common.rs"]
mod common;
#[path = "contract/media.rs"]
mod media;
#[path = "contract/publications.rs"]
mod publications;
#[path = "contract/queue.rs"]
mod queue;
#[path = "contract/records.rs"]
mod records;
#[path = "contract/reopening_publications.rs"]
mod reopening_publications;
#[path = "contract/token_vault.rs"]
mod token_vault;
#[path = "contract/vault_secret.rs"]
mod vault_secret;
#[path = "contract/webhook_claims.rs"]
mod webhook_claims;

// `vault_secret` runs the token-vault body as `super::tokens_round_trip_…` against its own vault.
use token_vault::tokens_round_trip_encrypted_and_can_be_deleted;
