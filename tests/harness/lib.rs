//! The test harness shared by every test in `tests/`: the two backends, the moto server, record
//! builders and the probes that look under the adapters. One place, not copied per file.

pub mod aws;
pub mod backends;
pub mod e2e;
pub mod eventsub;
pub mod fake_llm;
pub mod fake_platforms;
pub mod fake_transcribe;
pub mod fake_twitch;
pub mod fixtures;
pub mod local;
pub mod logs;
pub mod media;
pub mod moto;
mod openai_fake;
pub mod raw;
pub mod records;
pub mod schedules;

/// One `#[tokio::test]` per backend for each listed async test body taking a
/// [`backends::TestBackend`]: `embedded::<name>` and `aws::<name>`, so every result line says
/// which backend it is for (DESIGN.md §1: one suite, both adapters).
#[macro_export]
macro_rules! on_both_backends {
    ($($body:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $body() {
                    super::$body($crate::backends::TestBackend::embedded(3).await).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $body() {
                    super::$body($crate::backends::TestBackend::aws(3).await).await
                }
            )*
        }
    };
}
