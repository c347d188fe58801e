//! The end-to-end scenario (tests/README.md) through faults, each its own test on both
//! backends, each ending with the undisturbed run's verdict: nothing lost, nothing posted
//! twice. Duplicated queue deliveries and webhook deliveries (out of order), the external APIs
//! failing in turn (429 with a reset, 5xx, timeouts, expired tokens, connections dropped), a
//! render that fails, and a media store that refuses writes. The faults that need the real
//! `hilite serve` process (SIGKILL, a full disk) are in `cli/tests/e2e_serve.rs`.

/// One `#[tokio::test]` per backend for each listed body, like `harness::on_both_backends!`,
/// with queues that dead-letter after [`MAX_RECEIVES`] receives instead of the template's 3:
/// each injected failure (a 5xx, a timeout, a dropped connection) is one failed receive of the
/// message it hits, and a schedule may hit one message more than three times. These tests
/// check that faults lose nothing and post nothing twice; dead-lettering is tested on the
/// production value by `contract::queue` and `worker`, and `apis::waits_*` shows that waits
/// (a platform still processing, a rate limit, another worker's lease) use up no receive.
macro_rules! on_both_backends_with_room {
    ($($body:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $body() {
                    super::$body(
                        harness::backends::TestBackend::embedded(crate::MAX_RECEIVES).await,
                    )
                    .await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $body() {
                    super::$body(harness::backends::TestBackend::aws(crate::MAX_RECEIVES).await)
                        .await
                }
            )*
        }
    };
}

/// Receives before a message is dead-lettered in the fault tests (see the macro above).
pub const MAX_RECEIVES: u32 = 10;

#[path = "faults/apis.rs"]
mod apis;
#[path = "faults/duplicates.rs"]
mod duplicates;
#[path = "faults/render.rs"]
mod render;
#[path = "faults/storage.rs"]
mod storage;
