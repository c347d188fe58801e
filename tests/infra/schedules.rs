//! The accounts' publish schedules: the group, the role they run as (trusted by EventBridge
//! Scheduler for that group only, allowed to invoke only the publish function and to send only
//! to the invocation dead-letter queue), and the stack outputs `[aws.schedules]` is filled from.

use serde_norway::Value;

use crate::template::{refers_to, resource, template};

fn statements(v: &Value) -> Vec<&Value> {
    v["Statement"]
        .as_sequence()
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

#[test]
fn the_scheduler_role_is_for_the_schedule_group_and_invokes_only_the_publish_function() {
    assert_eq!(
        resource("PublishScheduleGroup")["Type"].as_str(),
        Some("AWS::Scheduler::ScheduleGroup")
    );
    let role = &resource("PublishSchedulerRole")["Properties"];
    let trust = statements(&role["AssumeRolePolicyDocument"]);
    assert_eq!(trust.len(), 1, "{trust:?}");
    assert_eq!(
        trust[0]["Principal"]["Service"].as_str(),
        Some("scheduler.amazonaws.com")
    );
    assert!(
        refers_to(
            &trust[0]["Condition"]["ArnEquals"]["aws:SourceArn"],
            "PublishScheduleGroup",
            Some("Arn")
        ),
        "the role must be usable only by schedules of the group: {trust:?}"
    );
    let policies = role["Policies"].as_sequence().expect("policies");
    let allowed: Vec<&Value> = policies
        .iter()
        .flat_map(|p| statements(&p["PolicyDocument"]))
        .collect();
    for s in &allowed {
        let action = s["Action"].as_str().unwrap_or_default();
        let targets: Vec<&Value> = match &s["Resource"] {
            Value::Sequence(r) => r.iter().collect(),
            one => vec![one],
        };
        match action {
            "lambda:InvokeFunction" => {
                assert!(
                    refers_to(targets[0], "PublishFunction", Some("Arn")),
                    "{s:?}"
                );
                // The second form is `${PublishFunction.Arn}:*` (its versions and aliases).
                assert!(
                    targets[1..]
                        .iter()
                        .all(|t| format!("{t:?}").contains("${PublishFunction.Arn}:")),
                    "{s:?}"
                );
            }
            "sqs:SendMessage" => assert!(
                refers_to(targets[0], "InvokeDeadLetterQueue", Some("Arn")) && targets.len() == 1,
                "{s:?}"
            ),
            other => panic!("the scheduler role may not {other}: {s:?}"),
        }
    }
}

#[test]
fn the_stack_outputs_name_what_aws_schedules_needs() {
    let outputs = &template()["Outputs"];
    for (output, id, attr) in [
        ("PublishScheduleGroupName", "PublishScheduleGroup", None),
        (
            "PublishSchedulerRoleArn",
            "PublishSchedulerRole",
            Some("Arn"),
        ),
        ("PublishFunctionArn", "PublishFunction", Some("Arn")),
        (
            "InvokeDeadLetterQueueArn",
            "InvokeDeadLetterQueue",
            Some("Arn"),
        ),
    ] {
        assert!(
            refers_to(&outputs[output]["Value"], id, attr),
            "output {output} must be {id}{}",
            attr.map(|a| format!(".{a}")).unwrap_or_default()
        );
    }
}
