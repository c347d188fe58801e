//! The test harness shared by every test in `tests/`: the two backends, the moto server, record
//! builders and the probes that look under the adapters. One place, not copied per file.

pub mod aws;
pub mod backends;
pub mod eventsub;
pub mod fake_platforms;
pub mod fake_transcribe;
pub mod fake_twitch;
pub mod fixtures;
pub mod local;
pub mod media;
pub mod moto;
pub mod raw;
pub mod records;
