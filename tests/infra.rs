//! Checks `infra/template.yaml` against the code that runs under it: the state table has the keys
//! and index the DynamoDB adapter writes, each function (and the render job) gets exactly the
//! `HILITE_*` variables its configuration needs and they load into `Config`, every stage queue has
//! its dead-letter queue and a visibility timeout that fits its consumer, every event source
//! reports partial batch failures (and carries a concurrency cap only where it protects
//! something), the token vault's key is where `TokenVaultKey` says, the bucket's lifecycle does
//! the cleanup, every failure point has an alarm, and no role grants an action on every resource.
//! It deploys nothing; `make lint-infra` runs cfn-lint and checkov on the same file. The
//! Makefile's AWS targets are checked as `make -n` prints them.

#[path = "infra/cost.rs"]
mod cost;
#[path = "infra/environment.rs"]
mod environment;
#[path = "infra/makefile.rs"]
mod makefile;
#[path = "infra/queues.rs"]
mod queues;
#[path = "infra/schedules.rs"]
mod schedules;
#[path = "infra/storage.rs"]
mod storage;
#[path = "infra/template.rs"]
mod template;
#[path = "infra/vault.rs"]
mod vault;
