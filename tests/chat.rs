//! Chat capture and the moments nobody clipped (issue 4), on both backends against the strict
//! fake Twitch: a burst of chat through the real webhook into the chat log, every message
//! stored once; after the stream, its uncovered chat moments clipped through Create Clip From
//! VOD exactly once and downloaded like any clip; and the Twitch calls refused as Twitch
//! refuses them (chat subscriptions without the users' grants, clips from a VOD out of range).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use harness::backends::TestBackend;
use harness::eventsub::{chat_message, signed, SECRET};
use harness::fake_twitch::FakeTwitch;
use hilite::backend::Ports;
use hilite::clock::ManualClock;
use hilite::domain::{Broadcaster, BroadcasterId, Login, TokenRef};
use hilite::pipeline::chat_window::{read_window, ChatRead};
use hilite::pipeline::webhook::{handle_webhook, WebhookSettings};
use hilite::pipeline::worker::{spawn_workers, WorkerSettings};
use hilite::pipeline::Pipeline;
use hilite::queue::QueueName;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

#[path = "chat/burst.rs"]
mod burst;
#[path = "chat/moments.rs"]
mod moments;
#[path = "chat/twitch.rs"]
mod twitch;

pub const BROADCASTER: &str = "1001";
pub const EDITOR: &str = "501";
pub const READER: &str = "502";

/// A backend, a fake Twitch, and the pipeline wired to both.
pub struct Site {
    pub b: TestBackend,
    pub fake: FakeTwitch,
    pub pipeline: Pipeline,
}

impl Site {
    pub async fn with(b: TestBackend, adjust: impl FnOnce(&mut hilite::config::Config)) -> Self {
        let fake = FakeTwitch::start().await;
        fake.add_user(BROADCASTER, "streamer_one");
        fake.add_user(EDITOR, "trusted_editor");
        fake.add_user(READER, "chat_reader");
        fake.add_editor(BROADCASTER, EDITOR);
        let mut config = b.config.clone();
        fake.configure(&mut config);
        // Short batches so a test does not wait on the production linger.
        config.chat.batch_linger_ms = 200;
        adjust(&mut config);
        let pipeline = Pipeline::new(b.ports.clone(), Arc::new(config));
        Self { b, fake, pipeline }
    }

    /// `user` authorizes HiLite with `scopes`; the broadcaster record names the token.
    pub async fn authorize(&self, user: &str, scopes: &[&str]) -> TokenRef {
        let token = self
            .fake
            .authorize(&self.pipeline.twitch, user, scopes)
            .await;
        let record = Broadcaster {
            id: BroadcasterId::parse(BROADCASTER).unwrap(),
            login: Login::parse("streamer_one").unwrap(),
            display_name: "Streamer_One".into(),
            token_ref: Some(token.clone()),
            token_user_id: (user != BROADCASTER).then(|| user.parse().unwrap()),
            subscriptions: Vec::new(),
            require_approval: false,
            updated_at: Utc::now(),
        };
        self.b.ports.store.put_broadcaster(&record).await.unwrap();
        token
    }

    /// Deliver chat messages `(time, delivery id, chat message id, text)` through the webhook
    /// as Twitch signs them, 16 at a time, the webhook's clock following the messages five
    /// minutes at a time (so a stream's worth of chat can be replayed within Twitch's
    /// 10-minute freshness). Returns each delivery's status, in order.
    pub async fn chat(&self, messages: &[(DateTime<Utc>, String, String, String)]) -> Vec<u16> {
        let settings = WebhookSettings {
            secret: SecretString::from(SECRET.to_string()),
            collect_delay: Duration::from_secs(1),
        };
        let Some(first) = messages.iter().map(|m| m.0).min() else {
            return Vec::new();
        };
        let chunk = |t: DateTime<Utc>| (t - first).num_seconds() / 300;
        let mut statuses = vec![0; messages.len()];
        let mut order: Vec<usize> = (0..messages.len()).collect();
        order.sort_by_key(|&i| messages[i].0);
        for group in order.chunk_by(|&a, &b| chunk(messages[a].0) == chunk(messages[b].0)) {
            let base = first + chrono::Duration::seconds(chunk(messages[group[0]].0) * 300);
            let ports = Ports {
                clock: Arc::new(ManualClock::new(base + chrono::Duration::seconds(300))),
                ..self.b.ports.clone()
            };
            let (ports, settings) = (&ports, &settings);
            let sent: Vec<(usize, u16)> = futures::stream::iter(group.iter().copied())
                .map(|i| async move {
                    let (at, delivery, chat, text) = &messages[i];
                    let body = chat_message(BROADCASTER, chat, text);
                    let d = signed("notification", delivery, *at, &body);
                    let r = handle_webhook(ports, settings, &d.headers, &d.body).await;
                    (i, r.status)
                })
                .buffer_unordered(16)
                .collect()
                .await;
            for (i, status) in sent {
                statuses[i] = status;
            }
        }
        statuses
    }

    /// Deliver one signed notification body as Twitch would at `at`; returns the status.
    pub async fn chat_body(&self, at: DateTime<Utc>, delivery: &str, body: &str) -> u16 {
        let settings = WebhookSettings {
            secret: SecretString::from(SECRET.to_string()),
            collect_delay: Duration::from_secs(1),
        };
        let d = signed("notification", delivery, at, body);
        handle_webhook(&self.b.ports, &settings, &d.headers, &d.body)
            .await
            .status
    }

    /// Run the chat consumers as `hilite serve` does until the chat queue is empty.
    pub async fn drain_chat(&self) {
        let shutdown = CancellationToken::new();
        let settings = WorkerSettings {
            workers: self.pipeline.config.chat.consumers,
            poll_interval: Duration::from_millis(50),
            ..WorkerSettings::from_config(&self.pipeline.config)
        };
        // Four pollers: moto answers each receive slowly, and they are what this waits on.
        let pool = spawn_workers(
            self.b.ports.queue.clone(),
            Arc::new(self.pipeline.clone()),
            &[QueueName::Chat; 4],
            settings,
            shutdown.clone(),
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        let mut empty_polls = 0;
        while empty_polls < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the chat queue did not drain"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
            let d = self.b.ports.queue.depth(QueueName::Chat).await.unwrap();
            assert_eq!(d.dead, 0, "chat messages were dead-lettered");
            empty_polls = if d.visible + d.in_flight == 0 {
                empty_polls + 1
            } else {
                0
            };
        }
        shutdown.cancel();
        assert_eq!(pool.join().await, 0, "no delivery was abandoned");
    }

    /// Every distinct chat message stored for the broadcaster in the window, by id.
    pub async fn stored_chat(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> (Vec<String>, ChatRead) {
        let mut ids = Vec::new();
        let read = read_window(
            &self.b.ports,
            &BroadcasterId::parse(BROADCASTER).unwrap(),
            from,
            to,
            self.pipeline.config.chat.bucket_secs,
            |line| ids.push(line.id.clone()),
        )
        .await
        .unwrap();
        ids.sort();
        (ids, read)
    }
}

harness::on_both_backends!(
    a_chat_burst_through_the_webhook_is_stored_once_each_without_the_state_store,
    the_uncovered_moments_become_clips_once_and_download_like_any_clip,
    a_moment_clip_whose_answer_was_lost_is_recorded_by_the_next_run,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_chat_notification_is_refused_and_queues_nothing() {
    burst::a_malformed_chat_notification_is_refused_and_queues_nothing(
        TestBackend::embedded(3).await,
    )
    .await
}

// The cap is the pipeline's, the same on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_collect_makes_no_more_clips_than_the_cap() {
    moments::a_redelivered_collect_makes_no_more_clips_than_the_cap(TestBackend::embedded(3).await)
        .await
}

// Whether moments run is configuration, the same on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moments_are_off_unless_the_broadcaster_is_listed() {
    moments::moments_are_off_unless_the_broadcaster_is_listed(TestBackend::embedded(3).await).await
}

pub use burst::a_chat_burst_through_the_webhook_is_stored_once_each_without_the_state_store;
pub use moments::{
    a_moment_clip_whose_answer_was_lost_is_recorded_by_the_next_run,
    the_uncovered_moments_become_clips_once_and_download_like_any_clip,
};

// What collect does after a failed send is the pipeline's, the same on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moment_clip_whose_download_message_failed_is_sent_by_the_next_run() {
    moments::a_moment_clip_whose_download_message_failed_is_sent_by_the_next_run(
        TestBackend::embedded(3).await,
    )
    .await
}

// Which clips cover a moment is the pipeline's, the same on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moment_moved_by_late_chat_is_not_clipped_twice() {
    moments::a_moment_moved_by_late_chat_is_not_clipped_twice(TestBackend::embedded(3).await).await
}
