//! Twitch: EventSub webhook verification and message shapes (`eventsub`), and the Helix API
//! client with its OAuth tokens, rate limits and retries (`client`, `auth`, `tokens`,
//! `ratelimit`, `helix`, `vod_clip`), plus the guarded clip file download (`clip_file`). The pipeline
//! stages decide what to do with what Twitch says; nothing here knows about clip states.

pub mod auth;
pub mod client;
pub mod clip_file;
pub mod error;
pub mod eventsub;
pub mod helix;
pub mod ratelimit;
pub mod tokens;
pub mod vod_clip;

pub use client::{Auth, TwitchClient, TwitchSettings};
pub use error::TwitchError;
