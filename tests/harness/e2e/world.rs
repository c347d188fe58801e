//! Every outside party of the pipeline started on loopback at once — the strict fake Twitch,
//! the three platform fakes, the fake transcription server and the scenario's clip CDN — and
//! the configuration that points HiLite at them: as a [`Config`] for an in-process pipeline
//! ([`World`]) or as `HILITE_*` variables for a `hilite serve` child ([`Fakes::env`]).

use std::sync::Arc;
use std::time::Duration;

use hilite::config::Config;
use hilite::pipeline::webhook::WebhookSettings;
use hilite::pipeline::Pipeline;
use hilite::render::captions::Word;
use hilite::render::settings::{EncoderChoice, TranscribeBackend};
use secrecy::{ExposeSecret, SecretString};

use super::media::MediaHost;
use crate::backends::TestBackend;
use crate::eventsub::SECRET;
use crate::fake_platforms::{self, FakePlatforms};
use crate::fake_transcribe::{FakeTranscribe, API_KEY};
use crate::fake_twitch::FakeTwitch;

/// The words the fake transcription server answers for every clip.
pub fn words() -> Vec<Word> {
    [("What", 0.3, 0.5), ("a", 0.5, 0.6), ("play!", 0.6, 1.1)]
        .iter()
        .map(|&(t, s, e)| Word {
            text: t.into(),
            start: s,
            end: e,
        })
        .collect()
}

pub struct Fakes {
    pub twitch: FakeTwitch,
    pub platforms: FakePlatforms,
    pub transcribe: FakeTranscribe,
    pub host: MediaHost,
    /// Prefix of the marker in each scenario file's metadata; a test that plans render
    /// failures sets a unique one, so no other test's renders match its plan.
    pub tag: String,
}

impl Fakes {
    pub async fn start() -> Self {
        // The platforms' real chunk rules (YouTube: 256 KiB units; TikTok: 5–64 MB chunks):
        // the scenario's shorts are under 5 MB, one TikTok chunk, a few YouTube units.
        let platforms = FakePlatforms::start(fake_platforms::Config {
            yt_unit: 256 * 1024,
            tt_min: 5 * 1024 * 1024,
            tt_max: 64 * 1024 * 1024,
            tt_last_max: 128 * 1024 * 1024,
        })
        .await;
        Self {
            twitch: FakeTwitch::start().await,
            platforms,
            transcribe: FakeTranscribe::start(words()).await,
            host: MediaHost::start().await,
            tag: String::new(),
        }
    }

    /// Point `config` at the fakes, with the test's short delays and a fast render.
    pub fn configure(&self, config: &mut Config) {
        self.twitch.configure(config);
        config.twitch.eventsub_secret = Some(SecretString::from(SECRET.to_string()));
        config.youtube = self.platforms.config("youtube");
        config.tiktok = self.platforms.config("tiktok");
        config.instagram = self.platforms.config("instagram");
        config.transcribe.backend = TranscribeBackend::Api;
        config.transcribe.api_base = self.transcribe.api_base();
        config.transcribe.api_key = Some(SecretString::from(API_KEY.to_string()));
        config.transcribe.request_timeout_secs = 20;
        // CI has two cores: software x264 at its fastest preset, one render at a time.
        config.render.encoder = EncoderChoice::X264;
        config.render.x264_preset = "ultrafast".into();
        config.render.concurrency = 1;
        // Every clip with sound goes on to the render; scores still order the plan.
        config.analysis.min_score = 0.0;
        // The scenario's clips last 4 s (the fake CDN's own files 1 s: too short, skipped).
        config.analysis.window.min_secs = 3.0;
        config.pipeline.collect_delay_secs = 1;
    }

    /// The same configuration as `HILITE_*` variables, for a `hilite serve` child.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut c = Config::default();
        self.configure(&mut c);
        let mut env: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: String| env.push((format!("HILITE_{k}"), v));
        let t = &c.twitch;
        set("TWITCH__CLIENT_ID", t.client_id.clone());
        if let Some(s) = &t.client_secret {
            set("TWITCH__CLIENT_SECRET", s.expose_secret().to_string());
        }
        set("TWITCH__EVENTSUB_SECRET", SECRET.into());
        set("TWITCH__API_BASE", t.api_base.to_string());
        set("TWITCH__AUTH_BASE", t.auth_base.to_string());
        set(
            "TWITCH__REQUEST_TIMEOUT_SECS",
            t.request_timeout_secs.to_string(),
        );
        set("TWITCH__ALLOW_INSECURE_DOWNLOAD_HOSTS", "true".into());
        for (name, p) in [
            ("YOUTUBE", &c.youtube),
            ("TIKTOK", &c.tiktok),
            ("INSTAGRAM", &c.instagram),
        ] {
            set(&format!("{name}__CLIENT_ID"), p.client_id.clone());
            if let Some(s) = &p.client_secret {
                set(
                    &format!("{name}__CLIENT_SECRET"),
                    s.expose_secret().to_string(),
                );
            }
            set(&format!("{name}__API_BASE"), p.api_base.to_string());
            set(&format!("{name}__UPLOAD_BASE"), p.upload_base.to_string());
            set(&format!("{name}__OAUTH_BASE"), p.oauth_base.to_string());
        }
        set("TRANSCRIBE__BACKEND", "api".into());
        set("TRANSCRIBE__API_BASE", c.transcribe.api_base.to_string());
        set("TRANSCRIBE__API_KEY", API_KEY.into());
        set(
            "TRANSCRIBE__REQUEST_TIMEOUT_SECS",
            c.transcribe.request_timeout_secs.to_string(),
        );
        set("RENDER__ENCODER", "x264".into());
        set("RENDER__X264_PRESET", c.render.x264_preset.clone());
        set("RENDER__CONCURRENCY", "1".into());
        set("ANALYSIS__MIN_SCORE", "0".into());
        set("ANALYSIS__WINDOW__MIN_SECS", "3".into());
        set("PIPELINE__COLLECT_DELAY_SECS", "1".into());
        env
    }
}

/// A backend, the fakes, and the pipeline wired to both, in this process.
pub struct World {
    pub b: TestBackend,
    pub fakes: Fakes,
    pub config: Arc<Config>,
    pub pipeline: Pipeline,
    pub webhook: WebhookSettings,
}

impl World {
    pub async fn new(b: TestBackend) -> Self {
        Self::with(b, |_| {}).await
    }

    /// A world whose configuration `adjust` may change after the fakes are wired in.
    pub async fn with(b: TestBackend, adjust: impl FnOnce(&mut Config)) -> Self {
        let fakes = Fakes::start().await;
        let mut config = b.config.clone();
        fakes.configure(&mut config);
        adjust(&mut config);
        let config = Arc::new(config);
        let pipeline = Pipeline::new(b.ports.clone(), config.clone());
        let webhook = WebhookSettings {
            secret: SecretString::from(SECRET.to_string()),
            collect_delay: Duration::from_secs(config.pipeline.collect_delay_secs),
        };
        Self {
            b,
            fakes,
            config,
            pipeline,
            webhook,
        }
    }

    pub fn kind(&self) -> &'static str {
        self.b.kind
    }
}
