//! At-least-once delivery, twice over: every queue message handed to its stage twice at once,
//! and every webhook delivered twice, out of order (offline before online).

use harness::backends::TestBackend;
use harness::e2e::pump::Pump;
use harness::e2e::run::{deliver, pipeline_to_verdict, seed};
use harness::e2e::scenario::{stream_start, webhooks, A, B};
use harness::e2e::world::World;

on_both_backends_with_room!(webhooks_delivered_twice_and_out_of_order_still_post_each_clip_once);

/// Two deliveries of one message racing: the publish delivery that loses the claim must not
/// delete its message while the winner may still ask to come back later (Instagram still
/// processing); it waits out the lease instead (tests/README.md, bug 2).
mod twice {
    use harness::backends::TestBackend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_every_queue_message_handled_twice_at_once_still_posts_each_clip_once() {
        super::every_queue_message_handled_twice_at_once_still_posts_each_clip_once(
            TestBackend::embedded(crate::MAX_RECEIVES).await,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aws_every_queue_message_handled_twice_at_once_still_posts_each_clip_once() {
        super::every_queue_message_handled_twice_at_once_still_posts_each_clip_once(
            TestBackend::aws(crate::MAX_RECEIVES).await,
        )
        .await
    }
}

async fn every_queue_message_handled_twice_at_once_still_posts_each_clip_once(b: TestBackend) {
    let world = World::new(b).await;
    seed(&world).await;
    for (label, d) in webhooks() {
        let status = deliver(&world, &d).await;
        assert!((200..300).contains(&status), "{label}: {status}");
    }
    pipeline_to_verdict(&world, Pump::duplicating(&world.pipeline)).await;
}

async fn webhooks_delivered_twice_and_out_of_order_still_post_each_clip_once(b: TestBackend) {
    let world = World::new(b).await;
    seed(&world).await;
    // With no `stream.online` seen, the window starts at the broadcaster's latest archive.
    for (i, b) in [A, B].iter().enumerate() {
        world
            .fakes
            .twitch
            .add_archive(b, &format!("210000000{i}"), stream_start());
    }
    let all = webhooks();
    let by = |label: &str| {
        all.iter()
            .find(|(l, _)| l == label)
            .map(|(_, d)| d)
            .expect("a scenario delivery")
    };
    // A: offline first, then its online (late), each twice; B: in order, each twice, the
    // duplicates after everything else.
    let order = [
        format!("offline-{A}"),
        format!("online-{B}"),
        format!("offline-{A}"),
        format!("online-{A}"),
        format!("offline-{B}"),
        format!("online-{A}"),
        format!("online-{B}"),
        format!("offline-{B}"),
    ];
    for label in &order {
        let status = deliver(&world, by(label)).await;
        assert!(
            (200..300).contains(&status),
            "[{}] {label}: {status}",
            world.kind()
        );
    }
    pipeline_to_verdict(&world, Pump::new(&world.pipeline)).await;
}
