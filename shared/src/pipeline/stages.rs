//! The entry point every runtime calls with one delivery from one queue: the Lambda functions
//! (through `handle_sqs_event`) and `hilite serve`'s workers alike. It parses the queue's
//! message type strictly and runs that queue's stage. A build made without a stage's cargo
//! feature (only `analysis` can be left out) leaves that queue's messages where they are: they
//! are redelivered and finally dead-lettered, never dropped.

use std::sync::Arc;

use super::collect::{collect, CollectSettings};
use super::download::download;
use super::messages::{parse, ClipMessage, CollectMessage, PublishMessage};
use super::publish::{publish, Platforms};
use super::StageError;
use crate::backend::Ports;
use crate::config::Config;
use crate::queue::{Delivery, QueueName};
use crate::twitch::clip_file::{ClipFetcher, DownloadPolicy};
use crate::twitch::TwitchClient;

/// Everything a stage needs: the ports and the configuration, built once per process.
#[derive(Clone)]
pub struct Pipeline {
    pub ports: Ports,
    pub config: Arc<Config>,
    /// The Helix client (tokens, rate limits), shared by collect and download.
    pub twitch: Arc<TwitchClient>,
    /// Clip file downloads under `[twitch]`'s host allow-list and `[pipeline]`'s caps.
    pub clip_fetcher: Arc<ClipFetcher>,
    /// The YouTube, TikTok and Instagram clients and their token endpoints.
    pub platforms: Arc<Platforms>,
    /// The render settings, transcriber and concurrency limit of the edit stage.
    pub editor: Arc<super::edit::Editor>,
    /// Where `hilite serve`'s workers record each stage run (`hilite::metrics`).
    pub metrics: Arc<dyn crate::metrics::StageMetrics>,
    /// The chat batch being filled by this process's chat handlers (`pipeline::chat`).
    pub chat: Arc<super::chat::ChatSink>,
}

impl Pipeline {
    pub fn new(ports: Ports, config: Arc<Config>) -> Self {
        // Start-up: these fail only when the TLS backend cannot start, and nothing can run then.
        let twitch = TwitchClient::from_config(&config.twitch, ports.vault.clone())
            .unwrap_or_else(|e| panic!("cannot build the Twitch client: {e}"));
        let clip_fetcher = ClipFetcher::new(DownloadPolicy::from_config(&config))
            .unwrap_or_else(|e| panic!("cannot build the clip downloader: {e}"));
        let platforms = Platforms::from_config(&config)
            .unwrap_or_else(|e| panic!("cannot build the platform clients: {e}"));
        let editor = Arc::new(super::edit::Editor::from_config(&config));
        let metrics = crate::metrics::for_config(&config);
        Self {
            ports,
            config,
            twitch: Arc::new(twitch),
            clip_fetcher: Arc::new(clip_fetcher),
            platforms: Arc::new(platforms),
            editor,
            metrics,
            chat: Arc::default(),
        }
    }

    /// Run the stage of `queue` on one delivery.
    pub async fn handle(&self, queue: QueueName, delivery: &Delivery) -> Result<(), StageError> {
        match queue {
            QueueName::Collect => {
                let msg: CollectMessage = parse(&delivery.body)?;
                collect(
                    &self.ports,
                    &self.twitch,
                    CollectSettings::from_config(&self.config),
                    &msg,
                )
                .await
                .map(drop)
            }
            QueueName::Download => {
                let msg: ClipMessage = parse(&delivery.body)?;
                download(
                    &self.ports,
                    &self.twitch,
                    &self.clip_fetcher,
                    self.config.pipeline.max_attempts,
                    &msg,
                )
                .await
            }
            QueueName::Analyze => {
                let msg: ClipMessage = parse(&delivery.body)?;
                self.analyze(&msg).await
            }
            QueueName::Edit => {
                let msg: ClipMessage = parse(&delivery.body)?;
                super::edit::edit(&self.ports, &self.editor, &msg).await
            }
            QueueName::Publish => {
                let msg: PublishMessage = parse(&delivery.body)?;
                publish(&self.ports, &self.platforms, &msg).await
            }
            QueueName::Chat => {
                let note: super::chat::ChatNote = parse(&delivery.body)?;
                self.chat.append(&self.ports, &self.config.chat, note).await
            }
        }
    }
}

impl Pipeline {
    #[cfg(feature = "analysis")]
    async fn analyze(&self, msg: &ClipMessage) -> Result<(), StageError> {
        let settings = super::analyze::AnalyzeSettings::from_config(&self.config);
        super::analyze::analyze(&self.ports, &settings, msg).await
    }

    #[cfg(not(feature = "analysis"))]
    async fn analyze(&self, _msg: &ClipMessage) -> Result<(), StageError> {
        Err(not_built(QueueName::Analyze))
    }
}

// Only the analyze stage sits behind a feature (`analysis`: symphonia and ebur128).
#[cfg(not(feature = "analysis"))]
fn not_built(queue: QueueName) -> StageError {
    StageError::Poison(format!(
        "this build has no {queue} stage (cargo feature `analysis`); the message stays queued"
    ))
}
