//! `hilite status`: what an operator checks first. Clip counts per status, each queue's
//! depth (visible, in flight, dead-lettered), broadcasters whose Twitch subscription was
//! revoked (clips stop arriving until they authorise again), and the stage figures: runs,
//! outcomes and mean duration per stage and posts per platform — on this machine from the
//! counters `hilite serve`'s workers keep (`hilite::metrics::local`), in AWS a pointer to the
//! same figures as CloudWatch metrics. Read-only.

use anyhow::Context;
use hilite::backend::Ports;
use hilite::config::{BackendKind, Config};
use hilite::domain::{ClipStatus, SubscriptionStatus};
use hilite::metrics::local::{LocalCounters, StageCounters};
use hilite::queue::QueueName;

use crate::output::table;

pub async fn report(config: &Config, ports: &Ports) -> anyhow::Result<String> {
    let counts = ports
        .store
        .count_clips()
        .await
        .context("cannot count clips")?;
    let clip_rows: Vec<Vec<String>> = ClipStatus::ALL
        .iter()
        .map(|s| {
            vec![
                s.to_string(),
                counts.get(s).copied().unwrap_or(0).to_string(),
            ]
        })
        .collect();

    let mut queue_rows = Vec::new();
    for name in QueueName::ALL {
        let depth = ports
            .queue
            .depth(name)
            .await
            .with_context(|| format!("cannot read the depth of queue {name}"))?;
        queue_rows.push(vec![
            name.to_string(),
            depth.visible.to_string(),
            depth.in_flight.to_string(),
            depth.dead.to_string(),
        ]);
    }

    let broadcasters = ports
        .store
        .list_broadcasters()
        .await
        .context("cannot list broadcasters")?;
    let mut revoked_rows = Vec::new();
    for b in &broadcasters {
        for s in b
            .subscriptions
            .iter()
            .filter(|s| s.status == SubscriptionStatus::Revoked)
        {
            revoked_rows.push(vec![
                b.login.to_string(),
                b.id.to_string(),
                s.kind.clone(),
                s.reason
                    .clone()
                    .unwrap_or_else(|| "(no reason given)".into()),
                s.updated_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            ]);
        }
    }

    let mut text = String::from("Clips\n");
    text.push_str(&indent(&table(&["status", "count"], &clip_rows)));
    text.push_str("\nQueues\n");
    text.push_str(&indent(&table(
        &["queue", "visible", "in-flight", "dead"],
        &queue_rows,
    )));
    text.push_str("\nRevoked Twitch subscriptions\n");
    if revoked_rows.is_empty() {
        text.push_str("  none\n");
    } else {
        text.push_str(&indent(&table(
            &["broadcaster", "id", "subscription", "reason", "since"],
            &revoked_rows,
        )));
    }
    text.push_str(&stage_figures(config).await?);
    Ok(text)
}

/// Runs per stage and posts per platform, since the data folder was created.
async fn stage_figures(config: &Config) -> anyhow::Result<String> {
    if config.backend == BackendKind::Aws {
        return Ok(
            "\nStage runs\n  published by the functions as CloudWatch metrics, namespace \
                   HiLite (StageDuration, StageSucceeded, StageFailed, StageRetried by Stage; \
                   Posts, PostFailures by Platform)\n"
                .into(),
        );
    }
    let rows = LocalCounters::open(&config.local.database_path())
        .context("cannot open the stage counters")?
        .read()
        .await
        .context("cannot read the stage counters")?;
    let mut text = String::from("\nStage runs (hilite serve, since the data folder was created)\n");
    if rows.is_empty() {
        text.push_str("  none yet\n");
        return Ok(text);
    }
    let mut stage_rows = Vec::new();
    for stage in QueueName::ALL {
        let mut sum = StageCounters {
            stage: stage.to_string(),
            platform: String::new(),
            succeeded: 0,
            failed: 0,
            retried: 0,
            total_ms: 0,
        };
        for r in rows.iter().filter(|r| r.stage == stage.as_str()) {
            sum.succeeded += r.succeeded;
            sum.failed += r.failed;
            sum.retried += r.retried;
            sum.total_ms += r.total_ms;
        }
        stage_rows.push(vec![
            sum.stage.clone(),
            sum.runs().to_string(),
            sum.succeeded.to_string(),
            sum.failed.to_string(),
            sum.retried.to_string(),
            mean_ms(&sum),
        ]);
    }
    text.push_str(&indent(&table(
        &["stage", "runs", "succeeded", "failed", "retried", "mean ms"],
        &stage_rows,
    )));
    let post_rows: Vec<Vec<String>> = rows
        .iter()
        .filter(|r| r.stage == QueueName::Publish.as_str() && !r.platform.is_empty())
        .map(|r| {
            vec![
                r.platform.clone(),
                r.succeeded.to_string(),
                (r.failed + r.retried).to_string(),
            ]
        })
        .collect();
    text.push_str("\nPosts per platform (publish runs done / not done)\n");
    if post_rows.is_empty() {
        text.push_str("  none yet\n");
    } else {
        text.push_str(&indent(&table(
            &["platform", "done", "not done"],
            &post_rows,
        )));
    }
    Ok(text)
}

fn mean_ms(c: &StageCounters) -> String {
    match c.runs() {
        0 => "-".into(),
        n => (c.total_ms / n).to_string(),
    }
}

fn indent(block: &str) -> String {
    block.lines().map(|l| format!("  {l}\n")).collect()
}
