//! Builders for domain records used across the tests, so each test states only what matters
//! to it.

use chrono::{DateTime, NaiveTime, Utc};
use hilite::domain::*;

pub fn clip(id: &str, title: &str, at: DateTime<Utc>) -> Clip {
    Clip {
        id: ClipId::parse(id).expect("test clip id"),
        broadcaster_id: BroadcasterId::parse("1001").expect("id"),
        broadcaster_name: "StreamerOne".into(),
        editor_id: EditorId::parse("501").expect("id"),
        editor_name: "TrustedEditor".into(),
        url: format!("https://clips.twitch.tv/{id}"),
        title: title.into(),
        duration_secs: 28.5,
        view_count: 120,
        created_at: at,
        video_id: Some(ExternalId::parse("2100000001").expect("id")),
        vod_offset_secs: Some(3600),
        found_by_hilite: false,
        status: ClipStatus::Pending,
        attempts: Attempts::default(),
        failed_stage: None,
        skip_reason: None,
        score: None,
        window: None,
        media: MediaKeys::default(),
        generated_title: None,
        generated_description: None,
        generated_hashtags: Vec::new(),
        moderation: None,
        edit_job: None,
        review_reason: None,
        errors: Vec::new(),
        fetched_at: at,
        updated_at: at,
    }
}

pub fn account(name: &str, tz: &str) -> Account {
    Account {
        name: AccountName::parse(name).expect("account name"),
        timezone: TimeZoneName::parse(tz).expect("tz"),
        post_at: NaiveTime::from_hms_opt(17, 0, 0).expect("time"),
        max_per_day: 3,
        platforms: Platform::ALL.to_vec(),
        broadcasters: vec![Login::parse("streamer_one").expect("login")],
        privacy: Privacy::Public,
        paused: false,
        templates: Default::default(),
        created_at: DateTime::parse_from_rfc3339("2026-11-01T12:00:00Z")
            .expect("date")
            .with_timezone(&Utc),
    }
}

pub fn broadcaster(id: &str, login: &str) -> Broadcaster {
    Broadcaster {
        id: BroadcasterId::parse(id).expect("id"),
        login: Login::parse(login).expect("login"),
        display_name: login.to_uppercase(),
        token_ref: Some(TokenRef::parse(format!("twitch/broadcaster/{id}")).expect("ref")),
        token_user_id: None,
        subscriptions: Vec::new(),
        require_approval: false,
        updated_at: DateTime::parse_from_rfc3339("2026-11-01T12:00:00Z")
            .expect("date")
            .with_timezone(&Utc),
    }
}

pub fn whitelist_entry(editor: &str, scope: WhitelistScope) -> WhitelistEntry {
    WhitelistEntry {
        editor_id: EditorId::parse(editor).expect("editor id"),
        editor_name: format!("editor{editor}"),
        scope,
        active: true,
        notes: Some("trusted".into()),
        added_at: DateTime::parse_from_rfc3339("2026-11-01T12:00:00Z")
            .expect("date")
            .with_timezone(&Utc),
    }
}
