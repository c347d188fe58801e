//! Each account's publish schedule in EventBridge Scheduler (on moto): created at the account's
//! local time in its IANA time zone, invoking the publish function with `{"account": NAME}`,
//! disabled while paused, moved when the account moves, deleted with it.

use chrono::NaiveTime;
use harness::schedules::{DEAD_LETTERS, PUBLISH_FUNCTION as FUNCTION, SCHEDULER_ROLE as ROLE};
use hilite::config::AwsScheduleConfig;
use hilite::schedules::{PublishSchedules, ScheduledPlan};

use super::*;

async fn schedules() -> PublishSchedules {
    harness::schedules::fresh_group().await.1
}

#[tokio::test]
async fn an_accounts_schedule_follows_it_through_add_pause_move_and_remove() {
    let s = schedules().await;
    let mut account = records::account("main", "Europe/Paris");
    assert_eq!(s.get(&account.name).await.unwrap(), None);

    s.put(&account).await.expect("create");
    let created = s.get(&account.name).await.unwrap().expect("created");
    assert_eq!(created.expression, "cron(0 17 * * ? *)");
    assert_eq!(created.timezone, "Europe/Paris");
    assert!(created.enabled);
    assert_eq!(
        (created.target_arn.as_str(), created.role_arn.as_str()),
        (FUNCTION, ROLE)
    );
    assert_eq!(created.dead_letter_arn.as_deref(), Some(DEAD_LETTERS));
    let payload: ScheduledPlan = serde_json::from_str(&created.input).expect("payload");
    assert_eq!(payload.account, account.name);

    account.paused = true;
    s.put(&account).await.expect("pause");
    assert!(!s.get(&account.name).await.unwrap().unwrap().enabled);

    account.paused = false;
    account.timezone = TimeZoneName::parse("America/New_York").unwrap();
    account.post_at = NaiveTime::from_hms_opt(8, 30, 0).unwrap();
    s.put(&account).await.expect("move");
    let moved = s.get(&account.name).await.unwrap().unwrap();
    assert_eq!(
        (
            moved.expression.as_str(),
            moved.timezone.as_str(),
            moved.enabled
        ),
        ("cron(30 8 * * ? *)", "America/New_York", true)
    );

    assert!(s.remove(&account.name).await.unwrap());
    assert_eq!(s.get(&account.name).await.unwrap(), None);
    assert!(!s.remove(&account.name).await.unwrap(), "removed twice");
}

#[tokio::test]
async fn a_schedule_the_scheduler_refuses_is_an_error_that_says_what_to_check() {
    let s = schedules().await;
    // An expression the scheduler refuses is impossible from a valid account; a missing
    // group is the likely operator mistake.
    let missing = PublishSchedules::new(
        aws_sdk_scheduler::Client::new(&harness::aws::sdk_config().await),
        AwsScheduleConfig {
            group: "no-such-group".into(),
            role_arn: ROLE.into(),
            publish_function_arn: FUNCTION.into(),
            dead_letter_arn: String::new(),
        },
    );
    let account = records::account("main", "Europe/Paris");
    let err = missing.put(&account).await.expect_err("no group");
    let text = err.to_string();
    assert!(
        text.contains("account main") && text.contains("[aws.schedules]"),
        "{text}"
    );
    // The working group is untouched by the failure.
    assert_eq!(s.get(&account.name).await.unwrap(), None);
}
