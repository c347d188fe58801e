//! The end-to-end scenario (tests/README.md): two broadcasters' streams go online and offline
//! by signed EventSub deliveries, and their whitelisted clips come out as posts on YouTube,
//! TikTok and Instagram for three accounts — once per backend. Here the pipeline runs in this
//! process as the Lambda functions would: the webhook handler takes the deliveries, the harness
//! plays the SQS event source (through the Lambda batch runner) and the scheduler (the plan
//! step). The same scenario through `hilite serve` itself is `cli/tests/e2e_serve.rs`.

#[path = "e2e/scenario_run.rs"]
mod scenario_run;
