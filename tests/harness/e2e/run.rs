//! Running the scenario in this process: the webhook handler for the signed deliveries, the
//! [`Pump`] as SQS event source and clock, the plan step as the scheduler would call it, and
//! a listing of the media store for the verdict.

use std::time::Duration;

use chrono::Utc;
use hilite::config::{BackendKind, Config};
use hilite::domain::{AccountName, ClipStatus};
use hilite::pipeline::plan::plan;
use hilite::pipeline::webhook::handle_webhook;

use super::pump::Pump;
use super::scenario::{self, cast, Fate, MediaListing};
use super::world::World;
use crate::eventsub::Delivery;

/// How long one phase of a scenario may take (renders included) before the test fails.
pub const PHASE: Duration = Duration::from_secs(150);

/// Put the cast in the fakes and the store.
pub async fn seed(world: &World) {
    scenario::stage_fakes(&world.fakes);
    scenario::seed_store(&world.b.ports, &world.fakes, &world.pipeline.twitch).await;
}

/// Hand one delivery to the webhook handler (what the Lambda's Function URL does); its status.
pub async fn deliver(world: &World, d: &Delivery) -> u16 {
    handle_webhook(&world.b.ports, &world.webhook, &d.headers, &d.body)
        .await
        .status
}

/// How many cast clips must reach the store.
pub fn expected_in_store() -> u64 {
    cast().iter().filter(|c| c.fate != Fate::Absent).count() as u64
}

/// Whether every expected clip is in the store and out of the ingest and render stages.
pub async fn ready_to_plan(world: &World) -> bool {
    let counts = world.b.ports.store.count_clips().await.expect("count");
    let total: u64 = counts.values().sum();
    let waiting: u64 = [
        ClipStatus::Pending,
        ClipStatus::Downloaded,
        ClipStatus::Analyzed,
    ]
    .iter()
    .map(|s| counts.get(s).copied().unwrap_or(0))
    .sum();
    total == expected_in_store() && waiting == 0
}

/// Every account's daily plan, now: what EventBridge Scheduler (AWS) or the in-process
/// scheduler (`hilite serve`) triggers.
pub async fn plan_all(world: &World) {
    for (name, _) in scenario::accounts() {
        let name = AccountName::parse(name).expect("account");
        plan(&world.b.ports, &world.pipeline.platforms, &name, Utc::now())
            .await
            .unwrap_or_else(|e| panic!("[{}] plan {name}: {e}", world.kind()));
    }
}

/// After the webhooks: ingest, analyze and render (deleting the "gone" clip on Twitch between
/// its collect and its download), then the plans, then every post; then the verdict.
pub async fn pipeline_to_verdict(world: &World, mut pump: Pump<'_>) {
    let twitch = world.fakes.twitch.clone();
    let also = pump.after_collect.take();
    pump.after_collect = Some(Box::new(move || {
        // Only once Get Clips has listed A's window (a collect met by a fault lists nothing).
        let listed = twitch.requests().iter().any(|r| {
            r.path.ends_with("/helix/clips")
                && r.status == 200
                && r.query
                    .iter()
                    .any(|(k, v)| k == "broadcaster_id" && v == scenario::A)
        });
        if listed {
            twitch.edit_clip("E2E-A-Gone", |c| c.deleted = true);
        }
        if let Some(f) = &also {
            f();
        }
    }));
    let start = std::time::Instant::now();
    pump.until(PHASE, "every clip collected, analyzed and rendered", || {
        ready_to_plan(world)
    })
    .await;
    let rendered = start.elapsed();
    plan_all(world).await;
    pump.until(PHASE, "every post made", || {
        scenario::settled(&world.b.ports)
    })
    .await;
    pump.until_idle(PHASE).await;
    eprintln!(
        "[{}] ingest+render {:.1} s, plan+publish {:.1} s",
        world.kind(),
        rendered.as_secs_f64(),
        (start.elapsed() - rendered).as_secs_f64()
    );
    let media = list_media(&world.config).await;
    scenario::verdict(&world.b.ports, &world.fakes, &media, world.kind()).await;
}

/// Every key in the media store of `config`'s backend.
pub async fn list_media(config: &Config) -> MediaListing {
    match config.backend {
        BackendKind::Local => {
            let root = config.local.media_dir();
            let mut out = MediaListing::new();
            walk(&root, &root, &mut out);
            out
        }
        BackendKind::Aws => {
            let sdk = crate::aws::sdk_config().await;
            let s3 = crate::aws::s3_client(&sdk);
            let mut out = MediaListing::new();
            let mut token = None;
            loop {
                let page = s3
                    .list_objects_v2()
                    .bucket(&config.aws.bucket)
                    .set_continuation_token(token.clone())
                    .send()
                    .await
                    .expect("list the media bucket");
                for o in page.contents() {
                    if let Some(k) = o.key() {
                        out.insert(k.to_string());
                    }
                }
                token = page.next_continuation_token().map(str::to_string);
                if token.is_none() {
                    return out;
                }
            }
        }
    }
}

/// Every file under `root`, as media keys (for a media folder seen through `/proc/PID/root`).
pub fn list_dir(root: &std::path::Path) -> MediaListing {
    let mut out = MediaListing::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut MediaListing) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.insert(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}
