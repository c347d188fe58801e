//! TikTok through the Content Posting API's Direct Post with `FILE_UPLOAD`
//! (<https://developers.tiktok.com/doc/content-posting-api-reference-direct-post>):
//!
//! 1. `creator_info/query` — the creator's `privacy_level_options` and
//!    `max_video_post_duration_sec`, checked before anything is sent. An unaudited app can
//!    only post `SELF_ONLY` (<https://developers.tiktok.com/doc/content-sharing-guidelines/>):
//!    that is detected and said instead of failing on TikTok's side.
//! 2. `video/init` with the chunk plan; `publish_id` and `upload_url` are saved at once.
//!    Each user token may call init 6 times a minute.
//! 3. `PUT upload_url` per chunk with `Content-Range`, in order (206 until the last, then 201).
//! 4. `status/fetch` until `PUBLISH_COMPLETE` or `FAILED` with its `fail_reason`.
//!
//! Chunks (<https://developers.tiktok.com/doc/content-posting-api-media-transfer-guide>): each
//! 5–64 MB, `total_chunk_count = floor(video_size / chunk_size)`, the last chunk taking the
//! trailing bytes (up to 128 MB), a video under 5 MB sent whole, 1 to 1000 chunks: the
//! arithmetic is in `chunks`.

use async_trait::async_trait;
use chrono::{Duration, Utc};
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE};
use serde_json::{json, Value};

use super::{
    classify, file_range_body, truncate, AccessToken, Check, PlatformError, PostJob, ProgressSink,
    Publisher, Step,
};
mod chunks;

pub use chunks::{ChunkPlan, ChunkRules};

use crate::config::PlatformConfig;
use crate::domain::{Platform, PostResult, Privacy, ResumeHandles};

const P: Platform = Platform::Tiktok;
/// How long to wait before looking at a post TikTok is still processing.
const PROCESSING_WAIT: Duration = Duration::seconds(20);

pub struct TikTok {
    http: reqwest::Client,
    config: PlatformConfig,
    chunk_bytes: u64,
    rules: ChunkRules,
}

impl TikTok {
    pub fn new(
        http: reqwest::Client,
        config: PlatformConfig,
        chunk_bytes: u64,
        rules: ChunkRules,
    ) -> Self {
        Self {
            http,
            config,
            chunk_bytes,
            rules,
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.config.api_base.as_str().trim_end_matches('/'),
            path
        )
    }

    /// Call a JSON endpoint; returns its `data`. TikTok's `error.code` is `ok` on success.
    async fn call(
        &self,
        token: &AccessToken,
        path: &str,
        body: Value,
    ) -> Result<Value, PlatformError> {
        let resp = self
            .http
            .post(self.url(path))
            .header(AUTHORIZATION, format!("Bearer {}", token.expose()))
            .json(&body)
            .send()
            .await
            .map_err(|e| PlatformError::from_reqwest(P, e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp
            .text()
            .await
            .map_err(|e| PlatformError::from_reqwest(P, e))?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let code = v
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or(if status.is_success() { "ok" } else { "" });
        let message = truncate(
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or(&text),
        );
        let now = Utc::now();
        // https://developers.tiktok.com/doc/tiktok-api-v2-error-handling
        match code {
            "ok" if status.is_success() => Ok(v.get("data").cloned().unwrap_or(Value::Null)),
            "access_token_invalid" | "scope_not_authorized" => Err(PlatformError::Unauthorized { platform: P, message: format!("{code}: {message}") }),
            "rate_limit_exceeded" => Err(classify(P, reqwest::StatusCode::TOO_MANY_REQUESTS, &headers, format!("{code}: {message}"), now)),
            // The creator's daily post cap: nothing to do before tomorrow.
            "spam_risk_too_many_posts" | "spam_risk_user_banned_from_posting" => {
                Err(PlatformError::RateLimited { platform: P, until: now + Duration::hours(24), message: format!("{code}: {message}") })
            }
            "unaudited_client_can_only_post_to_private_accounts" => Err(PlatformError::Rejected {
                platform: P,
                message: "this TikTok app is not audited: TikTok only lets it post to private accounts with SELF_ONLY visibility".into(),
            }),
            _ => Err(classify(P, status, &headers, format!("{code}: {message}"), now)),
        }
    }

    /// The post's status. `size`: the video's size in bytes, when the caller has the video:
    /// a post still `PROCESSING_UPLOAD` whose `uploaded_bytes` reached it has all its bytes
    /// and is being processed (TikTok gives that no time limit,
    /// <https://developers.tiktok.com/doc/content-posting-api-reference-get-video-status>), so
    /// it is waited for; only a post with bytes missing is sent (again).
    async fn status(
        &self,
        token: &AccessToken,
        publish_id: &str,
        size: Option<u64>,
    ) -> Result<Check, PlatformError> {
        let data = self
            .call(
                token,
                "post/publish/status/fetch/",
                json!({ "publish_id": publish_id }),
            )
            .await?;
        let status = data
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Ok(match status {
            "PUBLISH_COMPLETE" => {
                let post = data.pointer("/publicaly_available_post_id/0").map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                });
                Check::Posted(match post {
                    Some(id) => PostResult {
                        url: format!("https://www.tiktok.com/player/v1/{id}"),
                        video_id: id,
                    },
                    // SELF_ONLY posts have no public id; the publish id names the post.
                    None => PostResult {
                        video_id: publish_id.to_string(),
                        url: String::new(),
                    },
                })
            }
            "FAILED" => Check::Failed(format!(
                "TikTok failed the post: {}",
                data.get("fail_reason")
                    .and_then(Value::as_str)
                    .unwrap_or("no reason given")
            )),
            "PROCESSING_UPLOAD" => {
                let uploaded = data.get("uploaded_bytes").and_then(Value::as_u64);
                match (uploaded, size) {
                    // Every byte arrived: sending them again would meet a finished upload,
                    // whose refusal reads as an expired URL and would start a second post.
                    (Some(uploaded), Some(size)) if uploaded >= size => Check::Processing {
                        check_at: Utc::now() + PROCESSING_WAIT,
                    },
                    // The upload never completed: send it (again) under a claim.
                    _ => Check::Continue,
                }
            }
            _ => Check::Processing {
                check_at: Utc::now() + PROCESSING_WAIT,
            },
        })
    }

    /// The privacy level to post with, or why this creator cannot post as the account wants.
    fn privacy_level(wanted: Privacy, options: &[String]) -> Result<String, PlatformError> {
        let choice = match wanted {
            Privacy::Public => "PUBLIC_TO_EVERYONE",
            Privacy::Unlisted => "MUTUAL_FOLLOW_FRIENDS",
            Privacy::Private => "SELF_ONLY",
        };
        if options.iter().any(|o| o == choice) {
            return Ok(choice.to_string());
        }
        let message = if options == ["SELF_ONLY"] {
            format!("TikTok offers only SELF_ONLY: the app is unaudited (or the account is private), so it cannot post {choice}; set the account's privacy to private or get the app audited")
        } else {
            format!(
                "TikTok does not offer {choice} for this creator (offered: {})",
                options.join(", ")
            )
        };
        Err(PlatformError::Rejected {
            platform: P,
            message,
        })
    }

    async fn init(
        &self,
        token: &AccessToken,
        job: &PostJob<'_>,
        plan: &ChunkPlan,
    ) -> Result<(String, String), PlatformError> {
        let info = self
            .call(token, "post/publish/creator_info/query/", json!({}))
            .await?;
        let max_secs = info
            .get("max_video_post_duration_sec")
            .and_then(Value::as_f64)
            .unwrap_or(f64::MAX);
        if job.duration_secs > max_secs {
            return Err(PlatformError::Rejected {
                platform: P,
                message: format!(
                    "the video lasts {:.1} s; this creator may post at most {max_secs} s",
                    job.duration_secs
                ),
            });
        }
        let options: Vec<String> = info
            .get("privacy_level_options")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|o| o.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let privacy = Self::privacy_level(job.privacy, &options)?;
        let title: String = format!("{} {}", job.text.title, job.text.description)
            .chars()
            .take(2200)
            .collect();
        let body = json!({
            "post_info": { "title": title.trim(), "privacy_level": privacy },
            "source_info": {
                "source": "FILE_UPLOAD",
                "video_size": plan.video_size,
                "chunk_size": plan.chunk_size,
                "total_chunk_count": plan.total_chunk_count,
            },
        });
        let data = self.call(token, "post/publish/video/init/", body).await?;
        let field = |k: &str| {
            data.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| PlatformError::unknown(P, format!("init answered without {k}")))
        };
        Ok((field("publish_id")?, field("upload_url")?))
    }

    /// Send every chunk, in order. `Err(Rejected)` on a 4xx (an expired upload URL included).
    async fn upload(
        &self,
        upload_url: &str,
        job: &PostJob<'_>,
        plan: &ChunkPlan,
    ) -> Result<(), PlatformError> {
        for i in 0..plan.total_chunk_count {
            let (start, end) = plan.range(i);
            let body = file_range_body(P, job.file, start, end - start).await?;
            let resp = self
                .http
                .put(upload_url)
                .header(CONTENT_TYPE, job.content_type)
                .header(CONTENT_LENGTH, (end - start).to_string())
                .header(
                    CONTENT_RANGE,
                    format!("bytes {}-{}/{}", start, end - 1, plan.video_size),
                )
                .body(body)
                .send()
                .await
                .map_err(|e| PlatformError::from_reqwest(P, e))?;
            let status = resp.status();
            if !(status.as_u16() == 201 || status.as_u16() == 206 || status.is_success()) {
                let headers = resp.headers().clone();
                let text = resp.text().await.unwrap_or_default();
                return Err(classify(
                    P,
                    status,
                    &headers,
                    format!("chunk {}: {}", i + 1, truncate(&text)),
                    Utc::now(),
                ));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Publisher for TikTok {
    fn platform(&self) -> Platform {
        P
    }

    async fn check(
        &self,
        token: &AccessToken,
        handles: &ResumeHandles,
        size: Option<u64>,
    ) -> Result<Check, PlatformError> {
        match &handles.publish_id {
            None => Ok(Check::Continue),
            Some(id) => self.status(token, id, size).await,
        }
    }

    async fn publish(
        &self,
        token: &AccessToken,
        job: &PostJob<'_>,
        handles: &mut ResumeHandles,
        sink: &mut dyn ProgressSink,
    ) -> Result<Step, PlatformError> {
        let plan = ChunkPlan::new(job.size, self.chunk_bytes, self.rules).map_err(|message| {
            PlatformError::Rejected {
                platform: P,
                message,
            }
        })?;
        if let (Some(id), Some(url)) = (handles.publish_id.clone(), handles.upload_session.clone())
        {
            match self.status(token, &id, Some(job.size)).await? {
                Check::Posted(r) => return Ok(Step::Posted(r)),
                Check::Failed(reason) => {
                    return Err(PlatformError::Rejected {
                        platform: P,
                        message: reason,
                    })
                }
                Check::Processing { check_at } => return Ok(Step::Processing { check_at }),
                Check::Continue => match self.upload(&url, job, &plan).await {
                    Ok(()) => return self.after_upload(token, &id).await,
                    // The upload URL expired (it lives an hour): the unfinished post never
                    // appears, so a fresh init cannot make a second one.
                    Err(PlatformError::Rejected { message, .. }) => {
                        tracing::info!(error = %message, "the TikTok upload URL is no longer accepted; starting a new post");
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        let (id, url) = self.init(token, job, &plan).await?;
        handles.publish_id = Some(id.clone());
        handles.upload_session = Some(url.clone());
        sink.save(handles).await?;
        self.upload(&url, job, &plan).await?;
        self.after_upload(token, &id).await
    }
}

impl TikTok {
    async fn after_upload(&self, token: &AccessToken, id: &str) -> Result<Step, PlatformError> {
        match self.status(token, id, None).await? {
            Check::Posted(r) => Ok(Step::Posted(r)),
            Check::Failed(reason) => Err(PlatformError::Rejected {
                platform: P,
                message: reason,
            }),
            Check::Processing { check_at } => Ok(Step::Processing { check_at }),
            Check::Continue => Ok(Step::Processing {
                check_at: Utc::now() + PROCESSING_WAIT,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unaudited_apps_are_told_why_they_cannot_post_publicly() {
        let err = TikTok::privacy_level(Privacy::Public, &["SELF_ONLY".into()]).unwrap_err();
        assert!(err.to_string().contains("unaudited"), "{err}");
        assert_eq!(
            TikTok::privacy_level(Privacy::Private, &["SELF_ONLY".into()]).unwrap(),
            "SELF_ONLY"
        );
    }
}
