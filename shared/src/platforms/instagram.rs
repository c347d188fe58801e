//! Instagram Reels through the Instagram API with Instagram Login
//! (<https://developers.facebook.com/docs/instagram-platform/content-publishing/>):
//!
//! 1. `POST /{ig-user-id}/media` with `media_type=REELS` and `video_url` — a short-lived
//!    presigned URL Meta fetches the video from (it must be reachable from the internet: on one
//!    machine that is `server.public_url`). The container id is saved at once.
//! 2. `GET /{container-id}?fields=status_code` until `FINISHED` (or `ERROR` / `EXPIRED`, after
//!    24 h unpublished) (<https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container>).
//!    Waiting is the queue's job: this client answers `Processing` and the message comes back
//!    later; nothing sleeps.
//! 3. `POST /{ig-user-id}/media_publish` with `creation_id`, then the permalink.
//!
//! `GET /{ig-user-id}/content_publishing_limit` says how many posts the account may still
//! make in its rolling 24 h; the documented number has changed over time, so it is read.

use async_trait::async_trait;
use chrono::{Duration, Utc};
use serde_json::Value;

use super::{
    classify, error_message, AccessToken, Check, PlatformError, PostJob, ProgressSink, Publisher,
    Step,
};
use crate::config::PlatformConfig;
use crate::domain::{Platform, PostResult, ResumeHandles};

const P: Platform = Platform::Instagram;
/// How long to wait before looking at a container Meta is still processing.
const PROCESSING_WAIT: Duration = Duration::seconds(30);

pub struct Instagram {
    http: reqwest::Client,
    config: PlatformConfig,
}

impl Instagram {
    pub fn new(http: reqwest::Client, config: PlatformConfig) -> Self {
        Self { http, config }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.config.api_base.as_str().trim_end_matches('/'),
            path
        )
    }

    async fn read(
        &self,
        resp: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<Value, PlatformError> {
        let resp = resp.map_err(|e| PlatformError::from_reqwest(P, e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp
            .text()
            .await
            .map_err(|e| PlatformError::from_reqwest(P, e))?;
        if status.is_success() {
            return serde_json::from_str(&text)
                .map_err(|_| PlatformError::unknown(P, "the answer is not JSON"));
        }
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        // Graph API: code 190 is an invalid or expired token; 4, 17, 32 and 613 are rate
        // limits; 9 / subcode 2207042 is the publishing limit
        // (https://developers.facebook.com/docs/graph-api/guides/error-handling/).
        let code = v
            .pointer("/error/code")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let message = error_message(&text);
        Err(match code {
            190 => PlatformError::Unauthorized {
                platform: P,
                message,
            },
            4 | 17 | 32 | 613 => PlatformError::RateLimited {
                platform: P,
                until: Utc::now() + Duration::minutes(15),
                message,
            },
            9 => PlatformError::RateLimited {
                platform: P,
                until: Utc::now() + Duration::hours(24),
                message,
            },
            _ => classify(P, status, &headers, message, Utc::now()),
        })
    }

    fn user(token_user: Option<&str>) -> String {
        token_user.map_or_else(|| "me".to_string(), str::to_string)
    }

    async fn container_status(
        &self,
        token: &AccessToken,
        container: &str,
    ) -> Result<(String, String), PlatformError> {
        let req = self.http.get(self.url(container)).query(&[
            ("fields", "status_code,status"),
            ("access_token", token.expose()),
        ]);
        let v = self.read(req.send().await).await?;
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Ok((s("status_code"), s("status")))
    }

    async fn publish_container(
        &self,
        token: &AccessToken,
        container: &str,
    ) -> Result<PostResult, PlatformError> {
        let req = self
            .http
            .post(self.url(&format!("{}/media_publish", Self::user(None))))
            .form(&[("creation_id", container), ("access_token", token.expose())]);
        let v = self.read(req.send().await).await?;
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| PlatformError::unknown(P, "media_publish answered without an id"))?
            .to_string();
        // The permalink is a nicety: the post exists whatever this call does.
        let req = self
            .http
            .get(self.url(&id))
            .query(&[("fields", "permalink"), ("access_token", token.expose())]);
        let url = match self.read(req.send().await).await {
            Ok(v) => v
                .get("permalink")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            Err(e) => {
                tracing::warn!(error = %e, "the Instagram post exists but its permalink could not be read");
                String::new()
            }
        };
        Ok(PostResult { video_id: id, url })
    }
}

#[async_trait]
impl Publisher for Instagram {
    fn platform(&self) -> Platform {
        P
    }

    async fn check(
        &self,
        token: &AccessToken,
        handles: &ResumeHandles,
        _size: Option<u64>,
    ) -> Result<Check, PlatformError> {
        let Some(container) = &handles.container_id else {
            return Ok(Check::Continue);
        };
        let (code, status) = self.container_status(token, container).await?;
        Ok(match code.as_str() {
            "IN_PROGRESS" => Check::Processing {
                check_at: Utc::now() + PROCESSING_WAIT,
            },
            "ERROR" => Check::Failed(format!("Instagram could not process the video: {status}")),
            // FINISHED: publish under a claim. EXPIRED: a new container under a claim.
            // PUBLISHED: a claim records it (the publish call's answer was lost).
            _ => Check::Continue,
        })
    }

    async fn publish(
        &self,
        token: &AccessToken,
        job: &PostJob<'_>,
        handles: &mut ResumeHandles,
        sink: &mut dyn ProgressSink,
    ) -> Result<Step, PlatformError> {
        if let Some(container) = handles.container_id.clone() {
            let (code, status) = self.container_status(token, &container).await?;
            match code.as_str() {
                "FINISHED" => {
                    return self
                        .publish_container(token, &container)
                        .await
                        .map(Step::Posted)
                }
                // Published, but our record of it was lost: never publish twice.
                "PUBLISHED" => {
                    return Ok(Step::Posted(PostResult {
                        video_id: container,
                        url: String::new(),
                    }))
                }
                "IN_PROGRESS" => {
                    return Ok(Step::Processing {
                        check_at: Utc::now() + PROCESSING_WAIT,
                    })
                }
                "ERROR" => {
                    return Err(PlatformError::Rejected {
                        platform: P,
                        message: format!("Instagram could not process the video: {status}"),
                    })
                }
                _ => {
                    tracing::info!(code = %code, "the Instagram container expired; creating a new one");
                    handles.container_id = None;
                    sink.save(handles).await?;
                }
            }
        }
        let video_url = job.media_url.ok_or_else(|| {
            PlatformError::unknown(P, "no media URL for Instagram to fetch the video from")
        })?;
        let caption = format!("{}\n\n{}", job.text.title, job.text.description);
        let req = self
            .http
            .post(self.url(&format!("{}/media", Self::user(None))))
            .form(&[
                ("media_type", "REELS"),
                ("video_url", video_url.as_str()),
                ("caption", caption.trim()),
                ("access_token", token.expose()),
            ]);
        let v = self.read(req.send().await).await?;
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| PlatformError::unknown(P, "the container answer has no id"))?;
        handles.container_id = Some(id.to_string());
        sink.save(handles).await?;
        Ok(Step::Processing {
            check_at: Utc::now() + PROCESSING_WAIT,
        })
    }

    async fn remaining_posts(&self, token: &AccessToken) -> Result<Option<u32>, PlatformError> {
        let req = self
            .http
            .get(self.url(&format!("{}/content_publishing_limit", Self::user(None))))
            .query(&[
                ("fields", "quota_usage,config"),
                ("access_token", token.expose()),
            ]);
        let v = self.read(req.send().await).await?;
        let usage = v.pointer("/data/0/quota_usage").and_then(Value::as_u64);
        let total = v
            .pointer("/data/0/config/quota_total")
            .and_then(Value::as_u64);
        Ok(match (usage, total) {
            (Some(u), Some(t)) => Some(u32::try_from(t.saturating_sub(u)).unwrap_or(u32::MAX)),
            _ => None,
        })
    }
}
