//! Helpers shared by the contract modules: the fixed instant the records are dated from, and
//! publication keys.

use chrono::{DateTime, TimeZone, Utc};
use hilite::domain::{AccountName, ClipId, Platform, PublicationKey};

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 20, 0, 0).unwrap()
}

pub(crate) fn pub_key(clip: &str, account: &str, platform: Platform) -> PublicationKey {
    PublicationKey {
        clip_id: ClipId::parse(clip).unwrap(),
        account: AccountName::parse(account).unwrap(),
        platform,
    }
}
