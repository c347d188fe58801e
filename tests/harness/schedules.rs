//! A fresh EventBridge Scheduler schedule group on the test process's `moto_server`, as
//! `infra/` creates one for the accounts' publish schedules, and the production client for it.

use hilite::config::AwsScheduleConfig;
use hilite::schedules::PublishSchedules;

/// A target ARN in moto's default account (the scheduler does not invoke it on moto).
pub const PUBLISH_FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:hilite-publish";
pub const SCHEDULER_ROLE: &str = "arn:aws:iam::123456789012:role/hilite-publish-scheduler";
pub const DEAD_LETTERS: &str = "arn:aws:sqs:us-east-1:123456789012:hilite-invoke-dlq";

/// A new, uniquely named group, and its configuration as the CLI reads it.
pub async fn fresh_group() -> (AwsScheduleConfig, PublishSchedules) {
    let sdk = crate::aws::sdk_config().await;
    let client = aws_sdk_scheduler::Client::new(&sdk);
    let group = format!("hilite-{}", uuid::Uuid::new_v4().simple());
    client
        .create_schedule_group()
        .name(&group)
        .send()
        .await
        .expect("schedule group");
    let config = AwsScheduleConfig {
        group,
        role_arn: SCHEDULER_ROLE.into(),
        publish_function_arn: PUBLISH_FUNCTION.into(),
        dead_letter_arn: DEAD_LETTERS.into(),
    };
    (config.clone(), PublishSchedules::new(client, config))
}

/// The variables that give a `hilite` process this group (`[aws.schedules]`).
pub fn env(config: &AwsScheduleConfig) -> Vec<(String, String)> {
    vec![
        ("HILITE_AWS__SCHEDULES__GROUP".into(), config.group.clone()),
        (
            "HILITE_AWS__SCHEDULES__ROLE_ARN".into(),
            config.role_arn.clone(),
        ),
        (
            "HILITE_AWS__SCHEDULES__PUBLISH_FUNCTION_ARN".into(),
            config.publish_function_arn.clone(),
        ),
        (
            "HILITE_AWS__SCHEDULES__DEAD_LETTER_ARN".into(),
            config.dead_letter_arn.clone(),
        ),
    ]
}
