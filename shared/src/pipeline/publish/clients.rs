//! The platform clients the publish stage and the plan use: one [`Publisher`] and its token
//! endpoint per platform, built once per process from the configuration (or from test fakes).
//! Not here: what a post does with them (`pipeline::publish`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use crate::config::Config;
use crate::domain::Platform;
use crate::pipeline::StageError;
use crate::platforms::instagram::Instagram;
use crate::platforms::oauth::OAuthClient;
use crate::platforms::tiktok::{ChunkRules, TikTok};
use crate::platforms::youtube::{self, YouTube};
use crate::platforms::Publisher;

/// The three platform clients and their token endpoints, built once per process.
#[derive(Clone)]
pub struct Platforms {
    clients: BTreeMap<Platform, (Arc<dyn Publisher>, OAuthClient)>,
    pub max_attempts: u32,
}

impl Platforms {
    /// The real clients, with the configured base URLs and the platforms' chunk rules.
    pub fn from_config(config: &Config) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(StdDuration::from_secs(15))
            .timeout(StdDuration::from_secs(600))
            .build()?;
        let yt = YouTube::new(
            http.clone(),
            config.youtube.clone(),
            youtube::DEFAULT_CHUNK_BYTES,
            youtube::CHUNK_UNIT,
        );
        let tt = TikTok::new(
            http.clone(),
            config.tiktok.clone(),
            10 * 1024 * 1024,
            ChunkRules::TIKTOK,
        );
        let ig = Instagram::new(http.clone(), config.instagram.clone());
        let oauth = |p: Platform, c: &crate::config::PlatformConfig| {
            OAuthClient::new(p, http.clone(), c.clone())
        };
        Ok(Self::new(
            vec![
                (
                    Arc::new(yt) as Arc<dyn Publisher>,
                    oauth(Platform::Youtube, &config.youtube),
                ),
                (Arc::new(tt), oauth(Platform::Tiktok, &config.tiktok)),
                (Arc::new(ig), oauth(Platform::Instagram, &config.instagram)),
            ],
            config.pipeline.max_attempts,
        ))
    }

    pub fn new(clients: Vec<(Arc<dyn Publisher>, OAuthClient)>, max_attempts: u32) -> Self {
        let clients = clients
            .into_iter()
            .map(|(p, o)| (p.platform(), (p, o)))
            .collect();
        Self {
            clients,
            max_attempts: max_attempts.max(1),
        }
    }

    pub fn client(&self, platform: Platform) -> Result<(&dyn Publisher, &OAuthClient), StageError> {
        self.clients
            .get(&platform)
            .map(|(p, o)| (p.as_ref(), o))
            .ok_or_else(|| StageError::Permanent(format!("this build has no {platform} client")))
    }
}
