//! The media store refusing writes (AWS: S3 answering `SlowDown` through a proxy in front of
//! moto, to a client that does not retry on its own): each refused write is a clear, recorded error, the
//! stage retries, and the run ends as an undisturbed one. The one-machine counterpart, a full
//! disk under `hilite serve`, is in `cli/tests/e2e_serve.rs`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use harness::backends::TestBackend;
use harness::e2e::faulty::S3Proxy;
use harness::e2e::pump::Pump;
use harness::e2e::run::{deliver, pipeline_to_verdict, seed};
use harness::e2e::scenario::webhooks;
use harness::e2e::world::World;
use hilite::media::s3::S3MediaStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_refusing_writes_is_a_recorded_error_then_a_retry_and_nothing_is_lost() {
    let mut b = TestBackend::aws(3).await;
    let proxy = S3Proxy::start().await;
    b.ports.media = Arc::new(S3MediaStore::new(
        proxy.client().await,
        b.config.aws.bucket.clone(),
    ));
    let world = World::new(b).await;
    seed(&world).await;
    // The proxy's client does not retry (see `S3Proxy::client`): each refusal is a stage's
    // error. Two, so that no clip can run out of its three attempts on them.
    proxy.fail_writes(2);
    for (label, d) in webhooks() {
        let status = deliver(&world, &d).await;
        assert!((200..300).contains(&status), "{label}: {status}");
    }
    let pump = Pump::new(&world.pipeline);
    pipeline_to_verdict(&world, pump).await;
    assert_eq!(proxy.refused.load(Ordering::SeqCst), 2);
    // Every clip is where the undisturbed run leaves it, and the refusals left their trace.
    let mut traced = 0;
    for status in hilite::domain::ClipStatus::ALL {
        for c in world.b.ports.store.list_clips(status, 100).await.unwrap() {
            // Any recorded error but the deleted clip's 404 comes from the refused writes.
            traced += c
                .errors
                .iter()
                .filter(|e| !e.message.contains("404"))
                .count();
        }
    }
    assert!(traced >= 1, "no clip recorded the S3 error");
}
