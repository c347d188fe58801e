//! Fetching a clip's video file from the URL Get Clips Download gave, safely: only HTTPS, only
//! hosts on Twitch's CDN (a configurable suffix allow-list, checked again on every redirect, so
//! a redirect cannot lead the download elsewhere), streamed to a local file chunk by chunk
//! (never held in memory), capped in size and time, and checked to be what was announced — an
//! MP4 (`ftyp` box at offset 4) of exactly `Content-Length` bytes.
//!
//! Plain HTTP is possible only from loopback addresses and only when
//! `twitch.allow_insecure_download_hosts` is set, which exists for the test suite's fake
//! Twitch; nothing here detects a test.
//!
//! Not the download stage: storing the file and moving the clip is `pipeline::download`.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use url::{Host, Url};

use crate::config::Config;

/// Redirects followed at most (each one checked against the allow-list).
const MAX_REDIRECTS: usize = 5;

/// Where clip files may come from and how big and slow they may be.
#[derive(Debug, Clone)]
pub struct DownloadPolicy {
    /// Host suffixes, each starting with '.', e.g. `.twitchcdn.net`.
    pub host_suffixes: Vec<String>,
    /// TEST ONLY: also accept `http` and `https` on loopback addresses.
    pub allow_insecure_loopback: bool,
    pub max_bytes: u64,
    pub timeout: Duration,
}

impl DownloadPolicy {
    pub fn from_config(config: &Config) -> Self {
        Self {
            host_suffixes: config
                .twitch
                .download_host_suffixes
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            allow_insecure_loopback: config.twitch.allow_insecure_download_hosts,
            max_bytes: config.pipeline.max_download_bytes,
            timeout: Duration::from_secs(config.pipeline.download_timeout_secs),
        }
    }

    /// Whether a URL may be fetched; the reason when not.
    pub fn check(&self, url: &Url) -> Result<(), String> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err("a download URL with credentials".into());
        }
        let loopback = match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => return Err("a download URL without a host".into()),
        };
        if self.allow_insecure_loopback && loopback && matches!(url.scheme(), "http" | "https") {
            return Ok(());
        }
        if url.scheme() != "https" {
            return Err(format!(
                "{}:// download URLs are refused; only https",
                url.scheme()
            ));
        }
        let host = match url.host() {
            Some(Host::Domain(d)) => d.to_ascii_lowercase(),
            _ => return Err("a download URL on a bare IP address".into()),
        };
        if self
            .host_suffixes
            .iter()
            .any(|suffix| host.ends_with(suffix.as_str()))
        {
            Ok(())
        } else {
            Err(format!(
                "download host {host} is not in twitch.download_host_suffixes"
            ))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL (or a redirect) is not on an allowed host or scheme.
    #[error("refused to download: {0}")]
    Refused(String),
    #[error("the clip file is larger than the {max}-byte limit (pipeline.max_download_bytes)")]
    TooLarge { max: u64 },
    #[error("the downloaded file is not an MP4 (no ftyp box)")]
    NotMp4,
    #[error("received {got} bytes but {announced} were announced")]
    SizeMismatch { got: u64, announced: u64 },
    /// 404 or 410 from the CDN for a URL Twitch has just handed out: the file is no longer
    /// there (the clip was deleted on Twitch), and asking again gets the same answer.
    #[error("the clip file is gone from Twitch's CDN (HTTP {0}); the clip was probably deleted on Twitch")]
    Gone(u16),
    #[error("the clip file server answered HTTP {0}")]
    Status(u16),
    #[error("the download took longer than {0:?} (pipeline.download_timeout_secs)")]
    TimedOut(Duration),
    #[error("the download failed: {0}")]
    Network(String),
    #[error("cannot write the downloaded file: {0}")]
    LocalFile(#[source] std::io::Error),
}

impl FetchError {
    /// Trying again cannot help: the same URL host or size would be refused again, and a file
    /// the CDN says is gone stays gone.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            FetchError::Refused(_) | FetchError::TooLarge { .. } | FetchError::Gone(_)
        )
    }
}

/// The redirect policy's refusal, found again in reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RefusedRedirect(String);

/// Downloads clip files under a [`DownloadPolicy`].
pub struct ClipFetcher {
    http: reqwest::Client,
    policy: Arc<DownloadPolicy>,
}

impl ClipFetcher {
    pub fn new(policy: DownloadPolicy) -> Result<Self, FetchError> {
        let policy = Arc::new(policy);
        let for_redirects = policy.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(RefusedRedirect(format!(
                    "more than {MAX_REDIRECTS} redirects"
                )));
            }
            match for_redirects.check(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(why) => attempt.error(RefusedRedirect(format!("redirect refused: {why}"))),
            }
        });
        let http = reqwest::Client::builder()
            .user_agent(concat!("hilite/", env!("CARGO_PKG_VERSION")))
            .redirect(redirects)
            // Belt and braces: the client itself refuses plain HTTP unless the test flag is on.
            .https_only(!policy.allow_insecure_loopback)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| FetchError::Network(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { http, policy })
    }

    pub fn policy(&self) -> &DownloadPolicy {
        &self.policy
    }

    /// Fetch `url` into `dest` (created or truncated) and return its size.
    pub async fn fetch_to(&self, url: &str, dest: &Path) -> Result<u64, FetchError> {
        let url = Url::parse(url).map_err(|e| FetchError::Refused(format!("not a URL: {e}")))?;
        self.policy.check(&url).map_err(FetchError::Refused)?;
        let timeout = self.policy.timeout;
        match tokio::time::timeout(timeout, self.stream_to(url, dest)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::TimedOut(timeout)),
        }
    }

    async fn stream_to(&self, url: Url, dest: &Path) -> Result<u64, FetchError> {
        let response = self.http.get(url).send().await.map_err(transport)?;
        let status = response.status();
        if matches!(
            status,
            reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::GONE
        ) {
            return Err(FetchError::Gone(status.as_u16()));
        }
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let max = self.policy.max_bytes;
        let announced = response.content_length();
        if announced.is_some_and(|n| n > max) {
            return Err(FetchError::TooLarge { max });
        }
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(FetchError::LocalFile)?;
        let mut stream = response.bytes_stream();
        let mut got: u64 = 0;
        let mut head: Vec<u8> = Vec::with_capacity(8);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(transport)?;
            got += chunk.len() as u64;
            if got > max {
                return Err(FetchError::TooLarge { max });
            }
            if head.len() < 8 {
                head.extend(chunk.iter().take(8 - head.len()));
                // Stop early on something that is not an MP4 (an error page, say).
                if head.len() == 8 && &head[4..8] != b"ftyp" {
                    return Err(FetchError::NotMp4);
                }
            }
            file.write_all(&chunk)
                .await
                .map_err(FetchError::LocalFile)?;
        }
        file.flush().await.map_err(FetchError::LocalFile)?;
        if head.len() < 8 {
            return Err(FetchError::NotMp4);
        }
        if let Some(announced) = announced.filter(|n| *n != got) {
            return Err(FetchError::SizeMismatch { got, announced });
        }
        Ok(got)
    }
}

/// A transport error: a refused redirect is named as such; URLs are left out of the message
/// (signed CDN URLs carry their signature in the query).
fn transport(e: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<RefusedRedirect>() {
            return FetchError::Refused(refused.0.clone());
        }
        source = s.source();
    }
    FetchError::Network(e.without_url().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(insecure: bool) -> DownloadPolicy {
        DownloadPolicy {
            host_suffixes: vec![".twitchcdn.net".into(), ".twitch.tv".into()],
            allow_insecure_loopback: insecure,
            max_bytes: 1000,
            timeout: Duration::from_secs(5),
        }
    }

    fn check(p: &DownloadPolicy, url: &str) -> Result<(), String> {
        p.check(&Url::parse(url).unwrap())
    }

    #[test]
    fn only_https_on_allowed_suffixes_passes() {
        let p = policy(false);
        assert!(check(
            &p,
            "https://production.assets.clips.twitchcdn.net/a/b.mp4?sig=x"
        )
        .is_ok());
        assert!(check(&p, "https://clips-media-assets2.twitch.tv/x.mp4").is_ok());
        for bad in [
            "http://production.assets.clips.twitchcdn.net/a.mp4",
            "https://twitchcdn.net.evil.example/a.mp4",
            "https://eviltwitch.tv/a.mp4",
            "https://evil.example/a.mp4",
            "https://1.2.3.4/a.mp4",
            "https://user:pw@x.twitchcdn.net/a.mp4",
            "ftp://x.twitchcdn.net/a.mp4",
            "http://127.0.0.1:8080/a.mp4",
        ] {
            assert!(check(&p, bad).is_err(), "{bad} was allowed");
        }
    }

    #[test]
    fn the_test_flag_opens_loopback_only() {
        let p = policy(true);
        assert!(check(&p, "http://127.0.0.1:8080/a.mp4").is_ok());
        assert!(check(&p, "http://[::1]:8080/a.mp4").is_ok());
        assert!(check(&p, "http://evil.example/a.mp4").is_err());
        assert!(check(&p, "http://10.0.0.1/a.mp4").is_err());
        assert!(check(&p, "https://evil.example/a.mp4").is_err());
    }

    #[test]
    fn only_host_and_size_refusals_and_a_gone_file_are_permanent() {
        assert!(FetchError::Refused("x".into()).is_permanent());
        assert!(FetchError::TooLarge { max: 1 }.is_permanent());
        assert!(FetchError::Gone(404).is_permanent());
        assert!(FetchError::Gone(410).is_permanent());
        assert!(!FetchError::Status(403).is_permanent());
        assert!(!FetchError::NotMp4.is_permanent());
        assert!(!FetchError::SizeMismatch {
            got: 1,
            announced: 2
        }
        .is_permanent());
        assert!(!FetchError::Status(500).is_permanent());
    }
}
