//! YouTube Shorts through `videos.insert` with the resumable upload protocol
//! (<https://developers.google.com/youtube/v3/guides/using_resumable_upload_protocol>):
//!
//! 1. `POST {upload_base}/videos?uploadType=resumable&part=snippet,status` with the video
//!    resource and `X-Upload-Content-Length` / `X-Upload-Content-Type`; the session URI comes
//!    back in `Location` and is saved at once.
//! 2. `PUT` the bytes in chunks with `Content-Range`; every chunk but the last is a multiple of
//!    256 KiB (Google's upload servers refuse others). `308 Resume Incomplete` with `Range:
//!    bytes=0-N` says what arrived; `200`/`201` carries the video resource.
//! 3. After a dropped connection or a 5xx, `PUT` with `Content-Range: bytes */SIZE` asks where
//!    the upload stands and sending resumes there; `404`/`410` means the session is gone and
//!    the upload starts over with a new one.
//!
//! A Short is a vertical video up to 3 minutes; YouTube classifies it, there is no flag.
//! Quota: `videos.insert` has its own bucket of 100 calls a day per project by default,
//! resetting at midnight Pacific time
//! (<https://developers.google.com/youtube/v3/determine_quota_cost>); a `quotaExceeded` answer
//! waits for that reset, and the channel's `uploadLimitExceeded` (a 400) waits a day.

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE,
};
use reqwest::StatusCode;
use serde_json::json;

use super::{
    classify, error_message, file_range_body, AccessToken, PlatformError, PostJob, ProgressSink,
    Publisher, Step,
};
use crate::config::PlatformConfig;
use crate::domain::{Platform, PostResult, Privacy, ResumeHandles};

/// Every chunk but the last is a multiple of this (256 KiB).
pub const CHUNK_UNIT: u64 = 256 * 1024;
/// Default chunk: 8 MiB, a multiple of the unit, small enough for constant memory per chunk.
pub const DEFAULT_CHUNK_BYTES: u64 = 32 * CHUNK_UNIT;
/// Failed chunks in a row within one attempt before handing back to the queue's backoff.
const MAX_CHUNK_RETRIES: u32 = 3;
const P: Platform = Platform::Youtube;

/// The length of the chunk that starts at `offset` of a `size`-byte file: `chunk_bytes`
/// rounded down to a multiple of `unit` (at least one unit), or the rest of the file.
pub fn chunk_len(offset: u64, size: u64, chunk_bytes: u64, unit: u64) -> u64 {
    let unit = unit.max(1);
    let preferred = (chunk_bytes / unit).max(1) * unit;
    size.saturating_sub(offset).min(preferred)
}

/// The next byte the server wants, from a `Range: bytes=0-N` header (none: nothing arrived).
pub fn next_offset(range: Option<&str>) -> Option<u64> {
    match range {
        None => Some(0),
        Some(r) => r
            .trim()
            .strip_prefix("bytes=0-")
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| n + 1),
    }
}

/// When YouTube's daily quota resets: the next midnight in America/Los_Angeles.
pub fn next_quota_reset(now: DateTime<Utc>) -> DateTime<Utc> {
    let tz = chrono_tz::America::Los_Angeles;
    let local_tomorrow = now.with_timezone(&tz).date_naive() + Duration::days(1);
    tz.from_local_datetime(&local_tomorrow.and_time(NaiveTime::MIN))
        .earliest()
        .map_or(now + Duration::hours(24), |t| t.with_timezone(&Utc))
}

pub struct YouTube {
    http: reqwest::Client,
    config: PlatformConfig,
    chunk_bytes: u64,
    unit: u64,
}

/// Where an upload session stands.
enum Session {
    At(u64),
    Done(PostResult),
    Gone,
}

impl YouTube {
    /// `chunk_unit` is [`CHUNK_UNIT`] in production; tests pass a smaller unit that their fake
    /// enforces, so they need not move megabytes.
    pub fn new(
        http: reqwest::Client,
        config: PlatformConfig,
        chunk_bytes: u64,
        chunk_unit: u64,
    ) -> Self {
        Self {
            http,
            config,
            chunk_bytes,
            unit: chunk_unit.max(1),
        }
    }

    fn error(
        &self,
        status: StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &str,
    ) -> PlatformError {
        let now = Utc::now();
        limit_reached(status, body, now)
            .unwrap_or_else(|| classify(P, status, headers, error_message(body), now))
    }

    async fn start_session(
        &self,
        token: &AccessToken,
        job: &PostJob<'_>,
    ) -> Result<String, PlatformError> {
        let url = format!(
            "{}/videos?uploadType=resumable&part=snippet,status",
            self.config.upload_base.as_str().trim_end_matches('/')
        );
        let privacy = match job.privacy {
            Privacy::Public => "public",
            Privacy::Unlisted => "unlisted",
            Privacy::Private => "private",
        };
        let resource = json!({
            // categoryId 20 is Gaming; Twitch clips are mostly games.
            "snippet": { "title": job.text.title, "description": job.text.description, "tags": job.text.tags, "categoryId": "20" },
            "status": { "privacyStatus": privacy, "selfDeclaredMadeForKids": false },
        });
        let resp = self
            .http
            .post(url)
            .header(AUTHORIZATION, format!("Bearer {}", token.expose()))
            .header("X-Upload-Content-Length", job.size.to_string())
            .header("X-Upload-Content-Type", job.content_type)
            .json(&resource)
            .send()
            .await
            .map_err(|e| PlatformError::from_reqwest(P, e))?;
        let status = resp.status();
        if !status.is_success() {
            let headers = resp.headers().clone();
            let body = resp.text().await.unwrap_or_default();
            return Err(self.error(status, &headers, &body));
        }
        resp.headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| PlatformError::unknown(P, "the upload session answer has no Location"))
    }

    /// Read an answer to a chunk or a status query.
    async fn session_answer(&self, resp: reqwest::Response) -> Result<Session, PlatformError> {
        let status = resp.status();
        match status.as_u16() {
            200 | 201 => {
                let v: serde_json::Value = resp
                    .json()
                    .await
                    .map_err(|e| PlatformError::from_reqwest(P, e))?;
                let id = v.get("id").and_then(|i| i.as_str()).ok_or_else(|| {
                    PlatformError::unknown(P, "the finished upload has no video id")
                })?;
                Ok(Session::Done(PostResult {
                    video_id: id.to_string(),
                    url: format!("https://youtube.com/shorts/{id}"),
                }))
            }
            308 => {
                let range = resp.headers().get(RANGE).and_then(|v| v.to_str().ok());
                next_offset(range)
                    .map(Session::At)
                    .ok_or_else(|| PlatformError::unknown(P, "unreadable Range in a 308 answer"))
            }
            404 | 410 => Ok(Session::Gone),
            _ => {
                let headers = resp.headers().clone();
                let body = resp.text().await.unwrap_or_default();
                Err(self.error(status, &headers, &body))
            }
        }
    }

    async fn query(
        &self,
        token: &AccessToken,
        session: &str,
        size: u64,
    ) -> Result<Session, PlatformError> {
        let resp = self
            .http
            .put(session)
            .header(AUTHORIZATION, format!("Bearer {}", token.expose()))
            .header(CONTENT_RANGE, format!("bytes */{size}"))
            .header(CONTENT_LENGTH, "0")
            .send()
            .await
            .map_err(|e| PlatformError::from_reqwest(P, e))?;
        self.session_answer(resp).await
    }

    async fn send_chunk(
        &self,
        token: &AccessToken,
        session: &str,
        job: &PostJob<'_>,
        offset: u64,
    ) -> Result<Session, PlatformError> {
        let len = chunk_len(offset, job.size, self.chunk_bytes, self.unit);
        let body = file_range_body(P, job.file, offset, len).await?;
        let resp = self
            .http
            .put(session)
            .header(AUTHORIZATION, format!("Bearer {}", token.expose()))
            .header(CONTENT_LENGTH, len.to_string())
            .header(CONTENT_TYPE, job.content_type)
            .header(
                CONTENT_RANGE,
                format!("bytes {}-{}/{}", offset, offset + len - 1, job.size),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| PlatformError::from_reqwest(P, e))?;
        self.session_answer(resp).await
    }

    /// Send from where the session stands until it is done.
    async fn upload(
        &self,
        token: &AccessToken,
        session: &str,
        job: &PostJob<'_>,
        mut at: Session,
    ) -> Result<Session, PlatformError> {
        let mut failures = 0;
        // Chunks in a row YouTube answered without taking a byte (a 308 whose range did not
        // move): sending the same chunk for ever would hold the publication's lease to its end.
        let mut stalls = 0;
        loop {
            let offset = match at {
                Session::At(o) if o < job.size => o,
                // Every byte arrived but no resource came back: ask again.
                Session::At(_) => return self.query(token, session, job.size).await,
                done_or_gone => return Ok(done_or_gone),
            };
            at = match self.send_chunk(token, session, job, offset).await {
                Ok(Session::At(next)) if next <= offset => {
                    stalls += 1;
                    if stalls > MAX_CHUNK_RETRIES {
                        return Err(PlatformError::Transient {
                            platform: P,
                            message: format!(
                                "YouTube took none of the bytes from {offset} of {} in {stalls} chunks in a row; the session is asked again later",
                                job.size
                            ),
                        });
                    }
                    Session::At(next)
                }
                Ok(s) => {
                    failures = 0;
                    stalls = 0;
                    s
                }
                Err(e @ PlatformError::Transient { .. }) => {
                    failures += 1;
                    if failures > MAX_CHUNK_RETRIES {
                        return Err(e);
                    }
                    tracing::info!(offset, error = %e, "chunk failed; asking YouTube where the upload stands");
                    self.query(token, session, job.size).await?
                }
                Err(e) => return Err(e),
            };
        }
    }
}

#[async_trait]
impl Publisher for YouTube {
    fn platform(&self) -> Platform {
        P
    }

    async fn publish(
        &self,
        token: &AccessToken,
        job: &PostJob<'_>,
        handles: &mut ResumeHandles,
        sink: &mut dyn ProgressSink,
    ) -> Result<Step, PlatformError> {
        // A saved session resumes where YouTube says it stands; a gone one starts over once.
        for _ in 0..2 {
            let (session, at) = match handles.upload_session.clone() {
                Some(s) => {
                    let at = self.query(token, &s, job.size).await?;
                    (s, at)
                }
                None => {
                    let s = self.start_session(token, job).await?;
                    handles.upload_session = Some(s.clone());
                    sink.save(handles).await?;
                    (s, Session::At(0))
                }
            };
            match self.upload(token, &session, job, at).await? {
                Session::Done(result) => return Ok(Step::Posted(result)),
                // The session lives but has not returned the video (every byte arrived, or
                // YouTube says bytes are missing after a resend): it is kept and asked again
                // on the next try. A new session would upload the video a second time.
                Session::At(received) => {
                    return Err(PlatformError::Transient {
                        platform: P,
                        message: format!(
                            "YouTube has {received} of {} bytes and no video yet; the session is asked again later",
                            job.size
                        ),
                    })
                }
                Session::Gone => {
                    tracing::info!("the YouTube upload session is gone; starting a new one");
                    handles.upload_session = None;
                    sink.save(handles).await?;
                }
            }
        }
        Err(PlatformError::unknown(
            P,
            "the upload session expired twice in a row",
        ))
    }
}

/// YouTube's two upload limits, which only a wait ends: the project's daily quota (403
/// `quotaExceeded`, reset at Pacific midnight) and the channel's own upload limit, a 400
/// `uploadLimitExceeded` ("The user has exceeded the number of videos they may upload",
/// <https://developers.google.com/youtube/v3/docs/videos/insert#errors>) over a rolling
/// 24 hours, so tried again a day later. Neither is the video's fault: failing the
/// publication for it would spend one of its retries on a limit.
fn limit_reached(status: StatusCode, body: &str, now: DateTime<Utc>) -> Option<PlatformError> {
    if body.contains("uploadLimitExceeded") {
        return Some(PlatformError::RateLimited {
            platform: P,
            until: now + Duration::hours(24),
            message: "the channel reached YouTube's upload limit for 24 hours".into(),
        });
    }
    (status == StatusCode::FORBIDDEN && body.contains("quotaExceeded")).then(|| {
        PlatformError::RateLimited {
            platform: P,
            until: next_quota_reset(now),
            message: "YouTube's daily upload quota is spent".into(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges_name_the_next_byte() {
        assert_eq!(next_offset(None), Some(0));
        assert_eq!(next_offset(Some("bytes=0-262143")), Some(262144));
        assert_eq!(next_offset(Some("bytes=5-9")), None);
    }

    #[test]
    fn the_quota_resets_at_pacific_midnight() {
        let now = DateTime::parse_from_rfc3339("2026-07-01T06:59:00Z")
            .unwrap()
            .with_timezone(&Utc);
        // 23:59 PDT on June 30: the reset is one minute away.
        assert_eq!(next_quota_reset(now), now + Duration::minutes(1));
    }

    #[test]
    fn the_upload_limits_wait_and_other_refusals_do_not() {
        let now = Utc::now();
        let body = |reason: &str| {
            format!(
                r#"{{"error":{{"code":400,"errors":[{{"domain":"youtube.video","reason":"{reason}"}}]}}}}"#
            )
        };
        let until = |e: Option<PlatformError>| match e {
            Some(PlatformError::RateLimited { until, .. }) => Some(until),
            _ => None,
        };
        assert_eq!(
            until(limit_reached(
                StatusCode::BAD_REQUEST,
                &body("uploadLimitExceeded"),
                now
            )),
            Some(now + Duration::hours(24))
        );
        assert_eq!(
            until(limit_reached(
                StatusCode::FORBIDDEN,
                &body("quotaExceeded"),
                now
            )),
            Some(next_quota_reset(now))
        );
        assert!(limit_reached(StatusCode::BAD_REQUEST, &body("invalidTitle"), now).is_none());
        assert!(limit_reached(StatusCode::FORBIDDEN, &body("forbidden"), now).is_none());
    }

    proptest! {
        #[test]
        fn chunks_cover_the_file_and_all_but_the_last_are_unit_multiples(
            size in 1u64..50_000_000, chunk in 1u64..20_000_000, unit_pow in 0u32..19
        ) {
            let unit = 1u64 << unit_pow;
            let mut offset = 0;
            let mut n = 0u64;
            while offset < size {
                let len = chunk_len(offset, size, chunk, unit);
                prop_assert!(len > 0);
                if offset + len < size {
                    prop_assert_eq!(len % unit, 0);
                }
                offset += len;
                n += 1;
                prop_assert!(n <= size / unit + 1);
            }
            prop_assert_eq!(offset, size);
        }
    }
}
