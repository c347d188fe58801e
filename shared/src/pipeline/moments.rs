//! The moments nobody clipped: after a stream ends, its whole captured chat is analysed with
//! seed 001's hype algorithm (`analysis::chat`), and the best moments that no existing clip
//! covers become clips through Twitch's Create Clip From VOD, recorded `pending` with
//! `found_by_hilite` and sent to *download* like any other clip (issue 4). Collect calls this
//! once it has recorded the window's clips; only broadcasters listed in
//! `chat.moments.broadcasters` get it.
//!
//! Never twice: before each Create call the moment is claimed in the state store under a key
//! made of the VOD and the clip's end (`remember_message`, of which exactly one concurrent
//! caller wins), so a redelivered collect finds its moments claimed and makes nothing again;
//! `chat.moments.top` caps the moments claimed, so it finds its cap reached too. A claimed
//! moment is never sent to Create again — Twitch may have made the clip even when the answer
//! was lost, and a duplicate clip on the channel is worse than a missed moment.
//!
//! Never lost: each run first lists the clips Twitch made of the VOD since the stream ended
//! by the token's user under the moments' title — HiLite's own, from earlier deliveries — and
//! records any that is not recorded yet. So a clip Twitch made whose answer was lost (a
//! timeout, a 5xx, a garbled body), or whose record the store refused, is recorded by the
//! next run, which comes [`TWITCH_MAKES_CLIP`] later: long enough for Twitch to list it. The
//! same list counts as covering its moments, so a moment that moved a little (more chat read
//! on a redelivery) is not clipped twice.
//!
//! Not the capture (`chat.rs`) nor the reading (`chat_window.rs`).

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use super::chat::ChatConfig;
use super::messages::{encode, ClipMessage, CollectMessage};
use super::StageError;
use crate::analysis::chat::{ChatHype, Moment};
use crate::backend::Ports;
use crate::domain::{Broadcaster, ClipId, ClipStatus, ExternalId, Seen};
use crate::queue::QueueName;
use crate::twitch::helix::{HelixClip, HelixVideo, VodClip, VOD_CLIP_SECS};
use crate::twitch::{TwitchClient, TwitchError};

/// How long a moment's claim is kept: far past any redelivery of its collect message.
const CLAIM_KEPT: Duration = Duration::days(30);

/// How long collect waits before running again to record a clip Twitch may have made: Twitch
/// makes a clip in the background and says to assume it failed when Get Clips has not listed it
/// after 15 seconds (<https://dev.twitch.tv/docs/api/clips/>); twice that, for margin.
pub const TWITCH_MAKES_CLIP: Duration = Duration::seconds(30);

/// What one stream's moments gave, for the log and the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MomentsMade {
    /// Distinct chat messages read.
    pub messages: usize,
    /// Moments the hype analysis found.
    pub found: usize,
    /// Of those, moments an existing clip already covers.
    pub covered: usize,
    /// Clips created and recorded.
    pub created: usize,
    /// Clips an earlier run made and could not record, recorded by this one.
    pub recovered: usize,
}

/// Whether `broadcaster` gets moment clips: listed by login or id.
pub fn enabled(config: &ChatConfig, broadcaster: &Broadcaster) -> bool {
    config
        .moments
        .broadcasters
        .iter()
        .any(|b| b.eq_ignore_ascii_case(broadcaster.login.as_str()) || b == broadcaster.id.as_str())
}

/// Clip the uncovered moments of the stream `msg` closed, from its chat `hype` on the timeline
/// of its VOD `video` (`stream_hype.rs`). `existing` is every clip Twitch listed for the window.
pub async fn clip_moments(
    ports: &Ports,
    twitch: &TwitchClient,
    config: &ChatConfig,
    msg: &CollectMessage,
    video: &HelixVideo,
    hype: &ChatHype,
    existing: &[HelixClip],
) -> Result<MomentsMade, StageError> {
    let mut made = MomentsMade::default();
    let Some(broadcaster) = ports
        .store
        .get_broadcaster(&msg.broadcaster_id)
        .await
        .map_err(retry)?
    else {
        return Ok(made);
    };
    if !enabled(config, &broadcaster) {
        return Ok(made);
    }
    let Some(token) = broadcaster.token_ref.clone() else {
        tracing::warn!(broadcaster = %broadcaster.login, "moment clips need the broadcaster's token (`hilite auth twitch`); none made");
        return Ok(made);
    };
    made.messages = hype.messages;
    made.found = hype.moments.len();
    let mut covered: Vec<(f64, f64)> = existing
        .iter()
        .filter_map(|c| clip_span(c, video))
        .collect();
    let editor = broadcaster
        .token_user_id
        .clone()
        .unwrap_or_else(|| broadcaster.id.clone());
    // Moments claimed, by this delivery or an earlier one: the cap counts them, not the clips
    // this delivery made, or each redelivery of the message would make `top` more. Each clip
    // an earlier run made took a claim, and covers its moment, which is then not counted again.
    let earlier = made_earlier(ports, twitch, config, msg, video, &editor).await?;
    let mut claimed = earlier.len();
    for clip in earlier {
        covered.extend(clip_span(&clip, video));
        if record(ports, clip).await? {
            made.recovered += 1;
        }
    }
    // A Create whose answer was lost: Twitch may have made the clip.
    let mut unsure = false;
    for moment in &hype.moments {
        if claimed >= config.moments.top {
            break;
        }
        if covered
            .iter()
            .any(|&(a, b)| a < moment.end_secs && moment.start_secs < b)
        {
            made.covered += 1;
            continue;
        }
        let Some(request) = vod_clip(config, &broadcaster, &editor, video, moment) else {
            continue;
        };
        covered.push((
            f64::from(request.vod_offset) - request.duration_secs,
            f64::from(request.vod_offset),
        ));
        claimed += 1;
        if claim(ports, &request).await? == Seen::AlreadySeen {
            tracing::debug!(vod = %request.vod_id, offset = request.vod_offset, "moment clipped by an earlier delivery");
            continue;
        }
        let created = match twitch.create_clip_from_vod(&token, &request).await {
            Ok(c) => c,
            Err(e) if may_have_made(&e) => {
                tracing::warn!(broadcaster = %broadcaster.login, vod = %request.vod_id, offset = request.vod_offset, error = %e, "Create Clip From VOD's answer was lost; collect runs again to record the clip if Twitch made it");
                unsure = true;
                continue;
            }
            Err(e) => {
                tracing::warn!(broadcaster = %broadcaster.login, vod = %request.vod_id, offset = request.vod_offset, error = %e, "could not create a moment clip; it is not tried again");
                continue;
            }
        };
        let clip = new_clip(&broadcaster, &request, &created.id, ports.clock.now())?;
        if let Err(e) = record(ports, clip).await {
            tracing::error!(clip = %created.id, error = %e, "a moment clip was made on Twitch but not recorded; collect runs again to record it");
            return Err(again(
                ports,
                format!("clip {} is not recorded yet: {e}", created.id),
            ));
        }
        made.created += 1;
    }
    tracing::info!(
        broadcaster = %broadcaster.login,
        vod = %video.id,
        messages = made.messages,
        found = made.found,
        covered = made.covered,
        created = made.created,
        recovered = made.recovered,
        "clipped the stream's uncovered chat moments"
    );
    if unsure {
        return Err(again(
            ports,
            "a moment clip Twitch may have made is not recorded yet".into(),
        ));
    }
    Ok(made)
}

/// HiLite's clips of `video` from earlier runs: made since the stream ended, of this VOD, by the
/// token's user, under the moments' title.
async fn made_earlier(
    ports: &Ports,
    twitch: &TwitchClient,
    config: &ChatConfig,
    msg: &CollectMessage,
    video: &HelixVideo,
    editor: &crate::domain::UserId,
) -> Result<Vec<HelixClip>, StageError> {
    let now = ports.clock.now();
    if now <= msg.ended_at {
        return Ok(Vec::new());
    }
    let title = config.moments.title.trim();
    // Get Clips takes whole seconds: the second after `now` takes in a clip made during it.
    let clips = twitch
        .clips_between(
            &msg.broadcaster_id,
            msg.ended_at,
            now + Duration::seconds(1),
        )
        .await?;
    Ok(clips
        .into_iter()
        .filter(|c| {
            c.video_id == video.id && c.creator_id == editor.as_str() && c.title.starts_with(title)
        })
        .collect())
}

/// Whether Twitch may have made the clip although the call failed: the answer was lost or
/// unreadable, not a refusal.
fn may_have_made(e: &TwitchError) -> bool {
    matches!(
        e,
        TwitchError::Network(_) | TwitchError::Server { .. } | TwitchError::Malformed(_)
    )
}

/// Run collect again once Twitch has had the time to list what it made.
fn again(ports: &Ports, reason: String) -> StageError {
    StageError::RateLimited {
        until: ports.clock.now() + TWITCH_MAKES_CLIP,
        reason,
    }
}

/// Where an existing clip sits in the VOD, in seconds: from Get Clips' `vod_offset` (its
/// start), else from when it was made (clips made live end about then).
fn clip_span(c: &HelixClip, video: &HelixVideo) -> Option<(f64, f64)> {
    if c.video_id != video.id && !c.video_id.is_empty() {
        return None;
    }
    let start = match c.vod_offset {
        Some(o) => f64::from(o),
        None => (c.created_at - video.created_at).num_seconds() as f64 - c.duration,
    };
    Some((start, start + c.duration))
}

/// The clip for a moment: it ends where chat's reaction ends, and lasts the reaction clamped
/// to `chat.moments`' bounds (a reaction follows what caused it, so a short one is lengthened
/// backwards). `None` when the VOD is too short before the moment.
fn vod_clip(
    config: &ChatConfig,
    broadcaster: &Broadcaster,
    editor: &crate::domain::UserId,
    video: &HelixVideo,
    m: &Moment,
) -> Option<VodClip> {
    let end = m.end_secs.ceil().max(0.0);
    let wanted =
        (m.end_secs - m.start_secs).clamp(config.moments.min_secs, config.moments.max_secs);
    let duration = ((wanted.min(end) * 10.0).round() / 10.0).min(*VOD_CLIP_SECS.end());
    if !VOD_CLIP_SECS.contains(&duration) || end > f64::from(u32::MAX) {
        return None;
    }
    Some(VodClip {
        broadcaster: broadcaster.id.clone(),
        editor: editor.clone(),
        vod_id: video.id.clone(),
        vod_offset: end as u32,
        duration_secs: duration,
        title: format!("{} {}", config.moments.title.trim(), clock(m.peak_secs)),
    })
}

/// h:mm:ss
fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Claim the moment; `AlreadySeen` when an earlier delivery did.
async fn claim(ports: &Ports, request: &VodClip) -> Result<Seen, StageError> {
    let id = ExternalId::parse(format!("moment-{}-{}", request.vod_id, request.vod_offset))
        .map_err(|e| StageError::Permanent(format!("the VOD id is unusable: {e}")))?;
    let now = ports.clock.now();
    ports
        .store
        .remember_message(&id, now + CLAIM_KEPT, now)
        .await
        .map_err(retry)
}

/// The clip Create Clip From VOD answered for `request`, as Get Clips will list it once Twitch
/// has made it.
fn new_clip(
    broadcaster: &Broadcaster,
    request: &VodClip,
    clip_id: &str,
    now: DateTime<Utc>,
) -> Result<HelixClip, StageError> {
    let id = ClipId::parse(clip_id.to_string()).map_err(|e| {
        StageError::Permanent(format!("Create Clip From VOD returned an unusable id: {e}"))
    })?;
    let start = f64::from(request.vod_offset) - request.duration_secs;
    Ok(HelixClip {
        id: id.to_string(),
        url: format!("https://clips.twitch.tv/{id}"),
        broadcaster_id: broadcaster.id.to_string(),
        broadcaster_name: broadcaster.display_name.clone(),
        creator_id: request.editor.to_string(),
        creator_name: "HiLite".into(),
        video_id: request.vod_id.clone(),
        title: request.title.clone(),
        view_count: 0,
        created_at: now,
        duration: request.duration_secs,
        vod_offset: Some(start.max(0.0).floor() as u32),
    })
}

/// Record a clip HiLite made `pending`, found by HiLite, and send it to download; `true` when
/// this call recorded it. One already recorded and still `pending` is sent again, as collect
/// does: the run that recorded it may have stopped before sending it.
async fn record(ports: &Ports, helix: HelixClip) -> Result<bool, StageError> {
    let now = ports.clock.now();
    let mut clip = super::collect::to_clip(helix, now)
        .map_err(|e| StageError::Permanent(format!("the new clip is unusable: {e}")))?;
    clip.found_by_hilite = true;
    let inserted = ports
        .store
        .insert_clip_if_absent(&clip)
        .await
        .map_err(retry)?;
    let pending = inserted
        || matches!(
            ports.store.get_clip(&clip.id).await.map_err(retry)?,
            Some(c) if c.status == ClipStatus::Pending
        );
    if pending {
        let body = encode(&ClipMessage { clip_id: clip.id });
        ports
            .queue
            .send(QueueName::Download, &body, StdDuration::ZERO)
            .await
            .map_err(retry)?;
    }
    Ok(inserted)
}

fn retry(e: impl std::fmt::Display) -> StageError {
    StageError::Retryable(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn broadcaster() -> Broadcaster {
        Broadcaster {
            id: "1001".parse().unwrap(),
            login: crate::domain::Login::parse("streamer_one").unwrap(),
            display_name: "Streamer_One".into(),
            token_ref: None,
            token_user_id: None,
            subscriptions: Vec::new(),
            require_approval: false,
            updated_at: Utc::now(),
        }
    }

    fn video() -> HelixVideo {
        HelixVideo {
            id: "9001".into(),
            stream_id: Some("1".into()),
            user_id: "1001".into(),
            created_at: Utc::now(),
            duration: "1h0m0s".into(),
            kind: "archive".into(),
        }
    }

    fn moment(start: f64, end: f64) -> Moment {
        Moment {
            start_secs: start,
            peak_secs: (start + end) / 2.0,
            end_secs: end,
            hype: 100.0,
            intensity: 5.0,
        }
    }

    #[test]
    fn a_clip_ends_where_the_reaction_ends_and_lasts_it_within_bounds() {
        let c = ChatConfig::default();
        let b = broadcaster();
        let clip = |m| vod_clip(&c, &b, &b.id, &video(), &m);
        let short = clip(moment(100.0, 107.2)).unwrap();
        assert_eq!((short.vod_offset, short.duration_secs), (108, 15.0));
        assert_eq!(short.title, "HiLite moment 0:01:44");
        let mid = clip(moment(600.0, 630.0)).unwrap();
        assert_eq!((mid.vod_offset, mid.duration_secs), (630, 30.0));
        let long = clip(moment(1000.0, 1200.0)).unwrap();
        assert_eq!((long.vod_offset, long.duration_secs), (1200, 45.0));
        // Early in the VOD the clip is shortened to what exists, and refused under 5 s.
        assert_eq!(clip(moment(2.0, 9.0)).unwrap().duration_secs, 9.0);
        assert!(clip(moment(0.0, 3.0)).is_none());
    }

    #[test]
    fn an_existing_clip_is_placed_by_its_vod_offset_else_by_when_it_was_made() {
        let v = video();
        let mut c = HelixClip {
            id: "C".into(),
            url: String::new(),
            broadcaster_id: "1001".into(),
            broadcaster_name: String::new(),
            creator_id: "501".into(),
            creator_name: String::new(),
            video_id: "9001".into(),
            title: String::new(),
            view_count: 1,
            created_at: v.created_at + Duration::seconds(700),
            duration: 30.0,
            vod_offset: Some(640),
        };
        assert_eq!(clip_span(&c, &v), Some((640.0, 670.0)));
        c.vod_offset = None;
        assert_eq!(clip_span(&c, &v), Some((670.0, 700.0)));
        c.video_id = "other".into();
        assert_eq!(clip_span(&c, &v), None);
    }

    #[test]
    fn moments_are_on_only_for_listed_broadcasters() {
        let mut c = ChatConfig::default();
        let b = broadcaster();
        assert!(!enabled(&c, &b), "off by default");
        c.moments.broadcasters = vec!["Streamer_One".into()];
        assert!(enabled(&c, &b));
        c.moments.broadcasters = vec!["1001".into()];
        assert!(enabled(&c, &b));
        c.moments.broadcasters = vec!["someone_else".into()];
        assert!(!enabled(&c, &b));
    }
}
