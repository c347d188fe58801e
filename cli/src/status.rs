//! `hilite status`: what an operator checks first. Clip counts per status, each queue's
//! depth (visible, in flight, dead-lettered) and broadcasters whose Twitch subscription was
//! revoked (clips stop arriving until they authorise again). Read-only.

use anyhow::Context;
use hilite::backend::Ports;
use hilite::domain::{ClipStatus, SubscriptionStatus};
use hilite::queue::QueueName;

use crate::output::table;

pub async fn report(ports: &Ports) -> anyhow::Result<String> {
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
    Ok(text)
}

fn indent(block: &str) -> String {
    block.lines().map(|l| format!("  {l}\n")).collect()
}
