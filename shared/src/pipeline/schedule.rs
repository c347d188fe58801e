//! The daily plans on one machine: the in-process stand-in for the EventBridge Scheduler
//! schedules that `hilite accounts add` creates in AWS. Each active account's plan runs when its
//! local posting time (`next_run`, daylight saving handled) falls between two ticks. Accounts
//! are read again every tick, so an added, paused or moved account takes effect without a
//! restart. A run missed while `hilite serve` was down is not replayed, as an EventBridge
//! schedule without a flexible window would not; `hilite publish --account NAME --now` runs
//! one by hand. A plan that fails for a moment is tried twice more after a backoff, as Lambda
//! retries a failed scheduled invocation ([`PLAN_TRIES`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::plan::{next_run, plan};
use super::{Pipeline, StageError};
use crate::backend::Ports;
use crate::domain::Account;

/// How often the scheduler looks at the clock: plans start within this of their time.
pub const TICK: Duration = Duration::from_secs(30);

/// The accounts whose daily time fell in `(after, until]`.
pub fn due(accounts: &[Account], after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<&Account> {
    accounts
        .iter()
        .filter(|a| !a.paused && next_run(a, after) <= until)
        .collect()
}

/// Tries of a due account's plan. A plan that fails for a moment (the store or the queue
/// busy) is tried again after a backoff, as Lambda retries a failed scheduled invocation
/// twice; otherwise the day's posts would be skipped until tomorrow's run.
pub const PLAN_TRIES: u32 = 3;

/// Run until `shutdown`: every `tick`, plan the accounts that became due.
pub async fn run_daily_plans(pipeline: Pipeline, tick: Duration, shutdown: CancellationToken) {
    let pipeline = &pipeline;
    let stop = shutdown.clone();
    run_schedule(&pipeline.ports, tick, shutdown, |account, now| {
        let stop = stop.clone();
        async move {
            let planned = with_retries(PLAN_TRIES, super::backoff, &stop, || {
                plan(&pipeline.ports, &pipeline.platforms, &account.name, now)
            })
            .await;
            match planned {
                Ok(report) => tracing::info!(account = %account.name, clips = report.clips.len(), enqueued = report.enqueued, "daily plan ran"),
                Err(e) => tracing::warn!(account = %account.name, error = %e, "daily plan failed; `hilite publish --now` runs it by hand"),
            }
        }
    })
    .await;
}

/// Run `attempt` up to `tries` times while it fails with a retryable error (or a rate limit),
/// pausing `pause(n)` after the n-th failure; a permanent error, or `shutdown`, ends it at once.
pub async fn with_retries<T, F, Fut>(
    tries: u32,
    pause: impl Fn(u32) -> Duration,
    shutdown: &CancellationToken,
    mut attempt: F,
) -> Result<T, StageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StageError>>,
{
    let mut failures = 0;
    loop {
        match attempt().await {
            Err(e @ (StageError::Retryable(_) | StageError::RateLimited { .. }))
                if failures + 1 < tries =>
            {
                failures += 1;
                tracing::info!(error = %e, try_again_in_ms = pause(failures).as_millis() as u64, "trying again");
                tokio::select! {
                    () = shutdown.cancelled() => return Err(e),
                    () = tokio::time::sleep(pause(failures)) => {}
                }
            }
            other => return other,
        }
    }
}

/// The clock-watching loop of [`run_daily_plans`], with what to do for a due account passed in.
pub async fn run_schedule<F, Fut>(
    ports: &Ports,
    tick: Duration,
    shutdown: CancellationToken,
    on_due: F,
) where
    F: Fn(Account, DateTime<Utc>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut last = ports.clock.now();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(tick) => {}
        }
        let now = ports.clock.now();
        let accounts = match ports.store.list_accounts().await {
            Ok(a) => a,
            Err(e) => {
                // Keep `last`: the same window is looked at again next tick.
                tracing::warn!(error = %e, "cannot read the accounts; the daily plans wait");
                continue;
            }
        };
        for account in due(&accounts, last, now) {
            on_due(account.clone(), now).await;
        }
        last = now;
    }
}

/// How often `hilite serve` validates the stored Twitch user tokens. Twitch requires apps that
/// use OAuth to validate their tokens at start-up and hourly:
/// <https://dev.twitch.tv/docs/authentication/validate-tokens/>
pub const TOKEN_VALIDATION_EVERY: Duration = Duration::from_secs(3600);

/// Until `shutdown`: validate every broadcaster's stored token now and every `every` (a token
/// that no longer works is logged at warn level by the validation itself).
pub async fn run_token_validation(
    pipeline: Pipeline,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            checked = pipeline.twitch.validate_stored_tokens(&*pipeline.ports.store) => {
                if let Err(e) = checked {
                    tracing::warn!(error = %e, "cannot list the broadcasters to validate their Twitch tokens");
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_plan_failing_for_a_moment_is_tried_again_a_bounded_number_of_times() {
        let stop = CancellationToken::new();
        let no_pause = |_| Duration::ZERO;
        let calls = AtomicU32::new(0);
        let flaky = || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(StageError::Retryable("database is locked".into())),
                _ => Ok("planned"),
            }
        };
        assert_eq!(
            with_retries(PLAN_TRIES, no_pause, &stop, flaky)
                .await
                .unwrap(),
            "planned"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let down = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(StageError::Retryable("queue unavailable".into()))
        };
        assert!(with_retries(PLAN_TRIES, no_pause, &stop, down)
            .await
            .is_err());
        assert_eq!(calls.load(Ordering::SeqCst), PLAN_TRIES, "bounded");

        let calls = AtomicU32::new(0);
        let refused = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(StageError::Permanent("no account main".into()))
        };
        assert!(with_retries(PLAN_TRIES, no_pause, &stop, refused)
            .await
            .is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "a permanent error is not retried"
        );
    }
    use crate::domain::{AccountName, Platform, Privacy, TimeZoneName};
    use chrono::{NaiveTime, TimeZone};

    fn account(name: &str, tz: &str, at: (u32, u32), paused: bool) -> Account {
        Account {
            name: AccountName::parse(name).unwrap(),
            timezone: TimeZoneName::parse(tz).unwrap(),
            post_at: NaiveTime::from_hms_opt(at.0, at.1, 0).unwrap(),
            max_per_day: 3,
            platforms: vec![Platform::Youtube],
            broadcasters: vec![],
            privacy: Privacy::Public,
            paused,
            templates: Default::default(),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn an_account_is_due_once_when_its_local_time_passes() {
        let paris = account("paris", "Europe/Paris", (17, 0), false);
        let accounts = [paris];
        // 17:00 in Paris on 2026-11-21 is 16:00 UTC (CET).
        let t = |h, m, s| Utc.with_ymd_and_hms(2026, 11, 21, h, m, s).unwrap();
        assert!(due(&accounts, t(15, 59, 0), t(15, 59, 30)).is_empty());
        assert_eq!(due(&accounts, t(15, 59, 30), t(16, 0, 0)).len(), 1);
        assert!(
            due(&accounts, t(16, 0, 0), t(16, 0, 30)).is_empty(),
            "due twice"
        );
    }

    #[test]
    fn summer_time_moves_the_utc_hour_and_paused_accounts_never_run() {
        let accounts = [
            account("ny", "America/New_York", (9, 30), false),
            account("off", "America/New_York", (9, 30), true),
        ];
        // 09:30 in New York is 13:30 UTC in July (EDT) and 14:30 UTC in December (EST).
        let july = Utc.with_ymd_and_hms(2026, 7, 1, 13, 30, 0).unwrap();
        let december = Utc.with_ymd_and_hms(2026, 12, 1, 14, 30, 0).unwrap();
        for at in [july, december] {
            let names: Vec<_> = due(&accounts, at - chrono::Duration::seconds(30), at)
                .iter()
                .map(|a| a.name.to_string())
                .collect();
            assert_eq!(names, ["ny"], "{at}");
        }
        let wrong_hour = Utc.with_ymd_and_hms(2026, 7, 1, 14, 30, 0).unwrap();
        assert!(due(
            &accounts,
            wrong_hour - chrono::Duration::seconds(30),
            wrong_hour
        )
        .is_empty());
    }
}
