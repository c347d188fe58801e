//! The scenario on the one-machine runtime: the fakes, a data folder seeded with the cast
//! ([`ServeWorld`]), and the real `hilite` binary — `hilite serve` taking the signed deliveries
//! on `POST /webhooks/twitch` and running every stage in its worker pool, `hilite publish
//! --account NAME --now` standing in for the daily schedule. The test reads the state through
//! its own handle on the same SQLite database.

use std::time::Duration;

use hilite::backend::Ports;
use hilite::twitch::TwitchClient;

use super::run::expected_in_store;
use super::scenario::{self, MediaListing};
use super::world::Fakes;
use crate::eventsub::Delivery;
use crate::local::{eventually, Hilite, LocalSite, Server};

pub struct ServeWorld {
    pub fakes: Fakes,
    pub site: LocalSite,
    pub ports: Ports,
}

impl ServeWorld {
    /// The fakes, staged with the cast, and a data folder seeded with it. The "gone" clip is
    /// deleted on the CDN (404) rather than on Helix: `hilite serve` downloads a clip
    /// milliseconds after collecting it, so no test can step between the two.
    pub async fn new() -> Self {
        let fakes = Fakes::start().await;
        scenario::stage_fakes(&fakes);
        fakes.host.remove("E2E-A-Gone");
        let mut site = LocalSite::new();
        fakes.configure(&mut site.config);
        site.config.queues.poll_interval_ms = 50;
        // Instagram fetches the short from the URL `hilite serve` signs: its public URL must be
        // the address it listens on, so pick a free port now (kept across restarts).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        site.config.server.listen = ([127, 0, 0, 1], port).into();
        site.config.server.public_url = format!("http://127.0.0.1:{port}/").parse().expect("url");
        site.extra_env = fakes.env();
        site.extra_env.push((
            "HILITE_SERVER__PUBLIC_URL".into(),
            site.config.server.public_url.to_string(),
        ));
        let ports = site.ports().await;
        // Only the Twitch client, not a whole `Pipeline`: that would open the database a
        // second time in this process (its stage counters), and `Database::open` reading the
        // file through a plain descriptor drops this process's SQLite locks when it closes it.
        let twitch = TwitchClient::from_config(&site.config.twitch, ports.vault.clone())
            .expect("the Twitch client");
        scenario::seed_store(&ports, &fakes, &twitch).await;
        Self { fakes, site, ports }
    }

    pub fn hilite<'a>(&'a self, bin: &str) -> Hilite<'a> {
        Hilite::new(bin, &self.site)
    }

    /// POST one delivery to `server`'s webhook route; its status.
    pub async fn post(&self, server: &Server, d: &Delivery) -> u16 {
        post_to(&reqwest::Client::new(), &server.url("/webhooks/twitch"), d).await
    }

    /// Whether every expected clip is past download, analysis and render.
    pub async fn is_ready_to_plan(&self) -> bool {
        let Ok(counts) = self.ports.store.count_clips().await else {
            return false;
        };
        let total: u64 = counts.values().sum();
        let waiting: u64 = [
            hilite::domain::ClipStatus::Pending,
            hilite::domain::ClipStatus::Downloaded,
            hilite::domain::ClipStatus::Analyzed,
        ]
        .iter()
        .map(|s| counts.get(s).copied().unwrap_or(0))
        .sum();
        total == expected_in_store() && waiting == 0
    }

    /// Wait until every expected clip is past download, analysis and render.
    pub async fn wait_ready_to_plan(&self, limit: Duration) {
        eventually(
            limit,
            "every clip collected, analyzed and rendered",
            || async { self.is_ready_to_plan().await.then_some(()) },
        )
        .await;
    }

    /// `hilite publish --account NAME --now` for every account.
    pub fn publish_now(&self, bin: &str) {
        for (name, _) in scenario::accounts() {
            let out = self
                .hilite(bin)
                .run(&["publish", "--account", name, "--now"]);
            assert!(
                out.status.success(),
                "publish --now {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Wait until every clip and every publication is settled.
    pub async fn wait_settled(&self, limit: Duration) {
        let start = std::time::Instant::now();
        while !scenario::settled(&self.ports).await {
            if start.elapsed() > limit {
                panic!(
                    "timed out after {limit:?} waiting for every post\n{}",
                    super::pump::describe(&self.ports).await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn media(&self) -> MediaListing {
        super::run::list_media(&self.site.config).await
    }

    pub async fn verdict(&self) {
        let media = self.media().await;
        scenario::verdict(&self.ports, &self.fakes, &media, "embedded/serve").await;
    }
}

/// POST `d` to `url` as Twitch would; the status, or 0 when the connection failed.
pub async fn post_to(client: &reqwest::Client, url: &str, d: &Delivery) -> u16 {
    client
        .post(url)
        .headers(d.headers.clone())
        .header("content-type", "application/json")
        .body(d.body.clone())
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}
