//! Ingest, on both backends against the strict fake Twitch: the collect stage (whitelist before
//! any write, redelivery, windows over Twitch's 1000-result cap), the download stage (portrait
//! first, refused hosts, damaged files, 403/404, 429/503, token refresh, retries running out),
//! the Twitch client's OAuth and EventSub calls, and end to end from a signed `stream.offline`
//! to the whitelisted clips in the media store, each exactly once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use harness::backends::TestBackend;
use harness::fake_twitch::{FakeTwitch, BROADCASTER_SCOPE};
use hilite::domain::{Broadcaster, BroadcasterId, ClipId, Login, TokenRef};
use hilite::pipeline::{ClipMessage, Pipeline, StageError};
use hilite::queue::{Delivery, QueueName};

#[path = "ingest/client.rs"]
mod client;
#[path = "ingest/collect.rs"]
mod collect;
#[path = "ingest/download.rs"]
mod download;
#[path = "ingest/download_faults.rs"]
mod download_faults;
#[path = "ingest/end_to_end.rs"]
mod end_to_end;

pub const BROADCASTER: &str = "1001";
pub const TRUSTED: &str = "501";
pub const STRANGER: &str = "777";

/// A backend, a fake Twitch, and the pipeline wired to both.
pub struct Site {
    pub b: TestBackend,
    pub fake: FakeTwitch,
    pub pipeline: Pipeline,
}

impl Site {
    pub async fn new(b: TestBackend) -> Self {
        Self::with(b, |_| {}).await
    }

    /// A site whose pipeline configuration `adjust` may change.
    pub async fn with(b: TestBackend, adjust: impl FnOnce(&mut hilite::config::Config)) -> Self {
        let fake = FakeTwitch::start().await;
        fake.add_user(BROADCASTER, "streamer_one");
        fake.add_user(TRUSTED, "trusted_editor");
        fake.add_user(STRANGER, "stranger");
        let mut config = b.config.clone();
        fake.configure(&mut config);
        adjust(&mut config);
        let pipeline = Pipeline::new(b.ports.clone(), Arc::new(config));
        Self { b, fake, pipeline }
    }

    /// The broadcaster authorizes HiLite (device code flow) and is recorded with that token.
    pub async fn authorize_broadcaster(&self) -> TokenRef {
        let token = self
            .fake
            .authorize(&self.pipeline.twitch, BROADCASTER, &[BROADCASTER_SCOPE])
            .await;
        self.put_broadcaster(Some(token.clone()), None).await;
        token
    }

    pub async fn put_broadcaster(&self, token_ref: Option<TokenRef>, token_user: Option<&str>) {
        let b = Broadcaster {
            id: BroadcasterId::parse(BROADCASTER).unwrap(),
            login: Login::parse("streamer_one").unwrap(),
            display_name: "Streamer_One".into(),
            token_ref,
            token_user_id: token_user.map(|u| u.parse().unwrap()),
            subscriptions: Vec::new(),
            require_approval: false,
            updated_at: Utc::now(),
        };
        self.b.ports.store.put_broadcaster(&b).await.unwrap();
    }

    /// Hand one message to the queue's stage, as a first delivery.
    pub async fn run(&self, queue: QueueName, body: &str) -> Result<(), StageError> {
        let d = Delivery {
            message_id: uuid::Uuid::new_v4().to_string(),
            receipt: "test-receipt".into(),
            body: body.into(),
            receive_count: 1,
        };
        self.pipeline.handle(queue, &d).await
    }

    pub async fn download(&self, clip: &str) -> Result<(), StageError> {
        self.run(
            QueueName::Download,
            &serde_json::to_string(&ClipMessage {
                clip_id: ClipId::parse(clip).unwrap(),
            })
            .unwrap(),
        )
        .await
    }

    /// Receive everything visible on `queue` (hidden for a minute, not deleted).
    pub async fn take_all(&self, queue: QueueName) -> Vec<Delivery> {
        let mut all = Vec::new();
        loop {
            let got = self
                .b
                .ports
                .queue
                .receive(queue, 10, Duration::from_secs(60))
                .await
                .unwrap();
            if got.is_empty() {
                return all;
            }
            all.extend(got);
        }
    }

    /// The clip ids of the messages visible on `queue`, sorted.
    pub async fn clip_ids_on(&self, queue: QueueName) -> Vec<String> {
        let mut ids: Vec<String> = self
            .take_all(queue)
            .await
            .iter()
            .map(|d| {
                serde_json::from_str::<ClipMessage>(&d.body)
                    .unwrap()
                    .clip_id
                    .to_string()
            })
            .collect();
        ids.sort();
        ids
    }

    pub async fn clip(&self, id: &str) -> Option<hilite::domain::Clip> {
        self.b
            .ports
            .store
            .get_clip(&ClipId::parse(id).unwrap())
            .await
            .unwrap()
    }
}

pub fn minutes_ago(n: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::minutes(n)
}
