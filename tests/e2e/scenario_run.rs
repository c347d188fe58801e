//! The scenario, undisturbed, on each backend.

use harness::backends::TestBackend;
use harness::e2e::pump::Pump;
use harness::e2e::run::{deliver, pipeline_to_verdict, seed};
use harness::e2e::scenario::webhooks;
use harness::e2e::world::World;

harness::on_both_backends!(
    signed_online_and_offline_turn_whitelisted_clips_into_one_post_per_account_and_platform
);

async fn signed_online_and_offline_turn_whitelisted_clips_into_one_post_per_account_and_platform(
    b: TestBackend,
) {
    let world = World::new(b).await;
    seed(&world).await;
    for (label, d) in webhooks() {
        let status = deliver(&world, &d).await;
        assert!(
            (200..300).contains(&status),
            "[{}] {label}: {status}",
            world.kind()
        );
    }
    pipeline_to_verdict(&world, Pump::new(&world.pipeline)).await;
    assert_eq!(
        world.fakes.twitch.bucket_violations(),
        0,
        "[{}] calls made while Twitch's bucket was empty",
        world.kind()
    );
    // The two whitelisted clips of A and B's clip were fetched from the CDN once each.
    for id in ["E2E-A-Wide", "E2E-A-Tall", "E2E-B-Fan"] {
        assert_eq!(world.fakes.host.fetches(id), 1, "[{}] {id}", world.kind());
    }
}
