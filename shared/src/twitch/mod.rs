//! Twitch: EventSub webhook verification and message shapes. (The Helix API client arrives with
//! the collect and download stages.)

pub mod eventsub;
