//! The two ways the publish function is invoked: by the publish queue (an SQS event, one
//! message per clip × account × platform) and by an account's EventBridge Scheduler schedule
//! (`{"account": NAME}`, see `hilite::schedules`), which runs that account's daily plan.

use aws_lambda_events::sqs::SqsEvent;
use hilite::schedules::ScheduledPlan;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Invocation {
    /// Tried first: it accepts exactly `{"account": NAME}`, never an SQS event.
    Schedule(ScheduledPlan),
    Queue(SqsEvent),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedules_payload_is_a_plan_and_a_queue_event_is_a_batch() {
        let scheduled: Invocation = serde_json::from_str(r#"{"account":"main"}"#).unwrap();
        assert!(
            matches!(&scheduled, Invocation::Schedule(p) if p.account.as_str() == "main"),
            "{scheduled:?}"
        );
        let sqs = r#"{"Records":[{"messageId":"m1","receiptHandle":"r","body":"{}",
            "attributes":{},"messageAttributes":{},"md5OfBody":"x","eventSource":"aws:sqs",
            "eventSourceARN":"arn:aws:sqs:eu-west-1:123456789012:publish","awsRegion":"eu-west-1"}]}"#;
        let queued: Invocation = serde_json::from_str(sqs).unwrap();
        assert!(
            matches!(&queued, Invocation::Queue(e) if e.records.len() == 1),
            "{queued:?}"
        );
        assert!(serde_json::from_str::<Invocation>(r#"{"account":"Not Valid"}"#).is_err());
    }
}
