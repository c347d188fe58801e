//! Each account's daily publish schedule in AWS: one EventBridge Scheduler schedule per account,
//! named after it, in the schedule group `infra/` creates, invoking the publish function with
//! `{"account": NAME}` at the account's local time in its IANA time zone. The scheduler applies
//! the time zone and its daylight-saving changes itself (`ScheduleExpressionTimezone`,
//! <https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based>).
//!
//! `hilite accounts add/update/pause/resume/remove` keep the schedule in step with the account
//! record: [`PublishSchedules::put`] creates or replaces it (disabled while the account is
//! paused), [`PublishSchedules::remove`] deletes it. Not here: what the scheduled invocation
//! does (`pipeline::plan`, through the publish function), and the one-machine scheduler
//! (`pipeline::schedule`).

use aws_sdk_scheduler::error::DisplayErrorContext;
use aws_sdk_scheduler::types::{
    DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target,
};
use chrono::Timelike;
use serde::{Deserialize, Serialize};

use crate::config::AwsScheduleConfig;
use crate::domain::{Account, AccountName};

/// What the publish function receives from an account's schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledPlan {
    pub account: AccountName,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// Anything EventBridge Scheduler answered with an error; nothing was changed by us.
    #[error("EventBridge Scheduler could not {action} the publish schedule of account {account}: {message} (check [aws.schedules] against the stack outputs, and that your credentials may call scheduler:*Schedule and iam:PassRole on its role)")]
    Scheduler {
        action: &'static str,
        account: AccountName,
        message: String,
    },
}

/// One account's schedule as EventBridge Scheduler holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleView {
    pub expression: String,
    pub timezone: String,
    pub enabled: bool,
    pub target_arn: String,
    pub role_arn: String,
    pub input: String,
    pub dead_letter_arn: Option<String>,
}

/// The accounts' publish schedules in one schedule group.
#[derive(Clone)]
pub struct PublishSchedules {
    client: aws_sdk_scheduler::Client,
    config: AwsScheduleConfig,
}

/// The scheduler's cron expression for a daily run at `account.post_at` (minutes, hours,
/// day-of-month, month, day-of-week, year; one of the two days must be `?`).
pub fn cron(account: &Account) -> String {
    format!(
        "cron({} {} * * ? *)",
        account.post_at.minute(),
        account.post_at.hour()
    )
}

impl PublishSchedules {
    pub fn new(client: aws_sdk_scheduler::Client, config: AwsScheduleConfig) -> Self {
        Self { client, config }
    }

    /// With the standard AWS chain (region, credentials, endpoint); `None` when
    /// `[aws.schedules]` is not filled in.
    pub async fn from_config(config: &AwsScheduleConfig) -> Option<Self> {
        if !config.enabled() {
            return None;
        }
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Some(Self::new(
            aws_sdk_scheduler::Client::new(&sdk),
            config.clone(),
        ))
    }

    fn error(
        action: &'static str,
        account: &AccountName,
        e: impl std::error::Error,
    ) -> ScheduleError {
        ScheduleError::Scheduler {
            action,
            account: account.clone(),
            message: DisplayErrorContext(e).to_string(),
        }
    }

    /// Create or replace `account`'s schedule: enabled unless the account is paused.
    pub async fn put(&self, account: &Account) -> Result<(), ScheduleError> {
        let name = &account.name;
        let input = serde_json::to_string(&ScheduledPlan {
            account: name.clone(),
        })
        .map_err(|e| Self::error("encode", name, e))?;
        let mut target = Target::builder()
            .arn(&self.config.publish_function_arn)
            .role_arn(&self.config.role_arn)
            .input(input);
        if !self.config.dead_letter_arn.is_empty() {
            // Sent with the schedule's role, which `infra/` allows to send there.
            target = target.dead_letter_config(
                DeadLetterConfig::builder()
                    .arn(&self.config.dead_letter_arn)
                    .build(),
            );
        }
        let target = target.build().map_err(|e| Self::error("build", name, e))?;
        // Off: run at the exact minute, as the one-machine scheduler does.
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| Self::error("build", name, e))?;
        let state = if account.paused {
            ScheduleState::Disabled
        } else {
            ScheduleState::Enabled
        };
        let description = format!("HiLite: plan the posts of account {name}");
        let updated = self
            .client
            .update_schedule()
            .name(name.as_str())
            .group_name(&self.config.group)
            .schedule_expression(cron(account))
            .schedule_expression_timezone(account.timezone.as_str())
            .flexible_time_window(window.clone())
            .target(target.clone())
            .state(state.clone())
            .description(&description)
            .send()
            .await;
        match updated {
            Ok(_) => {
                tracing::info!(account = %name, "publish schedule updated");
                return Ok(());
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(Self::error("update", name, e)),
        }
        self.client
            .create_schedule()
            .name(name.as_str())
            .group_name(&self.config.group)
            .schedule_expression(cron(account))
            .schedule_expression_timezone(account.timezone.as_str())
            .flexible_time_window(window)
            .target(target)
            .state(state)
            .description(description)
            .send()
            .await
            .map_err(|e| Self::error("create", name, e))?;
        tracing::info!(account = %name, "publish schedule created");
        Ok(())
    }

    /// Delete `name`'s schedule; `false` when there was none.
    pub async fn remove(&self, name: &AccountName) -> Result<bool, ScheduleError> {
        match self
            .client
            .delete_schedule()
            .name(name.as_str())
            .group_name(&self.config.group)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(Self::error("delete", name, e)),
        }
    }

    /// `name`'s schedule as the scheduler holds it; `None` when there is none.
    pub async fn get(&self, name: &AccountName) -> Result<Option<ScheduleView>, ScheduleError> {
        let out = match self
            .client
            .get_schedule()
            .name(name.as_str())
            .group_name(&self.config.group)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(Self::error("read", name, e)),
        };
        let target = out.target();
        Ok(Some(ScheduleView {
            expression: out.schedule_expression().unwrap_or_default().to_string(),
            timezone: out
                .schedule_expression_timezone()
                .unwrap_or("UTC")
                .to_string(),
            enabled: out.state() != Some(&ScheduleState::Disabled),
            target_arn: target.map(|t| t.arn().to_string()).unwrap_or_default(),
            role_arn: target.map(|t| t.role_arn().to_string()).unwrap_or_default(),
            input: target
                .and_then(|t| t.input())
                .unwrap_or_default()
                .to_string(),
            dead_letter_arn: target
                .and_then(|t| t.dead_letter_config())
                .and_then(|d| d.arn())
                .map(str::to_string),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Platform, Privacy, TimeZoneName};
    use chrono::{NaiveTime, Utc};

    #[test]
    fn the_cron_expression_runs_daily_at_the_local_time() {
        let account = Account {
            name: AccountName::parse("main").unwrap(),
            timezone: TimeZoneName::parse("Europe/Paris").unwrap(),
            post_at: NaiveTime::from_hms_opt(17, 5, 0).unwrap(),
            max_per_day: 3,
            platforms: vec![Platform::Youtube],
            broadcasters: vec![],
            privacy: Privacy::Public,
            paused: false,
            templates: Default::default(),
            created_at: Utc::now(),
        };
        assert_eq!(cron(&account), "cron(5 17 * * ? *)");
    }

    #[test]
    fn the_scheduled_payload_names_the_account_and_nothing_else() {
        let p: ScheduledPlan = serde_json::from_str(r#"{"account":"main"}"#).unwrap();
        assert_eq!(p.account.as_str(), "main");
        assert!(serde_json::from_str::<ScheduledPlan>(r#"{"account":"Bad Name"}"#).is_err());
        assert!(serde_json::from_str::<ScheduledPlan>(r#"{"account":"a","x":1}"#).is_err());
    }
}
