//! The records HiLite keeps and the rules about them, free of any storage or transport. The
//! stores persist these types; the pipeline moves them through their states.

pub mod account;
pub mod clip;
pub mod edit_job;
pub mod ids;
pub mod moderation;
pub mod publication;
pub mod twitch;

pub use account::{Account, PostTemplates, Privacy, TimeZoneName};
pub use clip::{
    Attempts, Clip, ClipPatch, ClipStatus, ErrorEntry, IllegalTransition, MediaKeys, Score, Stage,
    Transition, Window,
};
pub use edit_job::EditJob;
pub use ids::{
    AccountName, BroadcasterId, ClipId, EditorId, ExternalId, InvalidId, Login, MediaKey, TokenRef,
    UserId,
};
pub use moderation::{risk_score, Category, Moderation, Virality};
pub use publication::{
    Claim, Platform, PostResult, PostStatus, Publication, PublicationKey, ResumeHandles,
};
pub use twitch::{
    editor_allowed, Broadcaster, Seen, Stream, Subscription, SubscriptionStatus, WhitelistEntry,
    WhitelistScope,
};
