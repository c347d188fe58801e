//! The end-to-end scenario (tests/README.md) on the one-machine runtime: the real `hilite
//! serve` takes the signed `stream.online`/`stream.offline` deliveries on its webhook route and
//! runs every stage in its worker pool, `hilite publish --account NAME --now` plays the daily
//! schedule, and the posts land on the platform fakes — once per (clip, account, platform).
//! The in-process (Lambda) run of the same scenario is `tests/e2e.rs`.

use std::time::Duration;

use harness::e2e::scenario::webhooks;
use harness::e2e::serve::ServeWorld;

const BIN: &str = env!("CARGO_BIN_EXE_hilite");
const PHASE: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hilite_serve_turns_signed_stream_events_into_one_post_per_account_and_platform() {
    let world = ServeWorld::new().await;
    let server = world.hilite(BIN).serve(&[]);
    for (label, d) in webhooks() {
        let status = world.post(&server, &d).await;
        assert!((200..300).contains(&status), "{label}: {status}");
    }
    world.wait_ready_to_plan(PHASE).await;
    world.publish_now(BIN);
    world.wait_settled(PHASE).await;
    world.verdict().await;
    assert_eq!(world.fakes.twitch.bucket_violations(), 0);
    let log = server.log();
    for secret in [
        harness::eventsub::SECRET,
        harness::fake_twitch::CLIENT_SECRET,
        harness::fake_transcribe::API_KEY,
    ] {
        assert!(!log.contains(secret), "a secret in the server's log");
    }
}

/// SIGKILL `hilite serve` at twenty random moments across the run — ten while clips are
/// ingested and rendered, ten while they are posted — restarting it each time on the same data:
/// the run ends as an undisturbed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_twenty_random_moments_ends_like_an_undisturbed_run() {
    sigkill_run(10, 10).await;
}

/// The same with twenty kills while clips are ingested and rendered, none while posting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_twenty_random_moments_before_posting_ends_like_an_undisturbed_run() {
    sigkill_run(20, 0).await;
}

async fn sigkill_run(before_plan: usize, while_posting: usize) {
    use rand::Rng;
    let mut world = ServeWorld::new().await;
    // A killed worker's message comes back after its visibility timeout: keep it short so
    // the test does not wait minutes, but longer than any one stage here. Twenty kills may
    // catch one message several times: allow the receives for it (the dead-letter policy is
    // tested elsewhere; here nothing may end in a dead-letter queue).
    world.site.config.queues.visibility_timeout_secs = 15;
    world.site.config.queues.max_receives = 30;
    let hilite = world.hilite(BIN);
    let mut server = hilite.serve(&[]);
    for (label, d) in webhooks() {
        let status = world.post(&server, &d).await;
        assert!((200..300).contains(&status), "{label}: {status}");
    }
    let mut rng = rand::thread_rng();
    let kill = |server: &mut harness::local::Server, n: usize| {
        server.signal(libc::SIGKILL);
        server
            .wait_for_exit(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("kill {n}: still running after SIGKILL"));
    };
    for n in 1..=before_plan {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(200..2500))).await;
        kill(&mut server, n);
        server = hilite.serve(&[]);
    }
    world.wait_ready_to_plan(PHASE).await;
    world.publish_now(BIN);
    for n in before_plan + 1..=before_plan + while_posting {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(100..1200))).await;
        kill(&mut server, n);
        server = hilite.serve(&[]);
    }
    world.wait_settled(PHASE).await;
    world.verdict().await;
    // What each killed server had in its scratch folder (a clip on its way to a platform, a
    // render's work files) was removed by the next one to start: one folder is left, the
    // running server's.
    let scratch: Vec<_> = std::fs::read_dir(world.site.tmp_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        scratch.len() == 1 && scratch[0].starts_with("hilite-work-"),
        "after {} kills, the temporary folder holds {scratch:?}",
        before_plan + while_posting
    );
    // And what they were writing into the media folder was removed by the next server.
    let partial = half_written(&world.site.config.local.media_dir());
    assert!(
        partial.is_empty(),
        "half-written media files left: {partial:?}"
    );
    drop(server);
}

/// The media folder fills up under `hilite serve` (a 64 MiB tmpfs, filled, mounted over it in
/// a user namespace): downloads fail with a clear, recorded "no space" error; once space is
/// freed the retries bring every clip through, and the run ends as an undisturbed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_media_disk_is_a_clear_error_and_the_retry_after_space_is_freed_loses_nothing() {
    if !std::process::Command::new("unshare")
        .args(["-rm", "true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        // Mounting a small filesystem needs a user namespace (or root); say so loudly.
        eprintln!("SKIPPED: `unshare -rm` is not permitted here, so no small disk can be mounted");
        return;
    }
    let world = ServeWorld::new().await;
    let media = world.site.config.local.media_dir();
    std::fs::create_dir_all(&media).unwrap();
    let wrapper = world.site.path().join("hilite-on-a-full-disk");
    std::fs::write(
        &wrapper,
        format!(
            r#"#!/bin/sh
exec unshare -rm sh -c '
  mount -t tmpfs -o size=64m tmpfs "$0" || exit 97
  dd if=/dev/zero of="$0/.filler" bs=1M 2>/dev/null
  exec "$@"' '{media}' '{bin}' "$@"
"#,
            media = media.display(),
            bin = BIN
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let hilite = harness::local::Hilite::new(&wrapper, &world.site);
    let server = hilite.serve(&[]);
    for (label, d) in webhooks() {
        let status = world.post(&server, &d).await;
        assert!((200..300).contains(&status), "{label}: {status}");
    }
    // The first download attempts meet the full disk and say so.
    let ports = world.ports.clone();
    let reason = harness::local::eventually(PHASE, "a download to fail on the full disk", || {
        let ports = ports.clone();
        async move {
            let clips = ports
                .store
                .list_clips(hilite::domain::ClipStatus::Pending, 100)
                .await
                .ok()?;
            clips
                .iter()
                .flat_map(|c| c.errors.iter())
                .map(|e| e.message.clone())
                .find(|m| m.to_lowercase().contains("no space"))
        }
    })
    .await;
    assert!(!reason.contains(harness::eventsub::SECRET));
    // The operator frees space (seen through the server's own mount namespace).
    let inside = std::path::PathBuf::from(format!("/proc/{}/root", server.child.id()))
        .join(media.strip_prefix("/").unwrap());
    std::fs::remove_file(inside.join(".filler")).expect("free the disk");
    world.wait_ready_to_plan(PHASE).await;
    world.publish_now(BIN);
    world.wait_settled(PHASE).await;
    let listing = harness::e2e::run::list_dir(&inside);
    harness::e2e::scenario::verdict(&world.ports, &world.fakes, &listing, "embedded/full-disk")
        .await;
    drop(server);
}

/// The `.NAME.UUID.partial` files under `dir`, at any depth.
fn half_written(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(half_written(&path));
        } else if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".partial"))
        {
            found.push(path);
        }
    }
    found
}
