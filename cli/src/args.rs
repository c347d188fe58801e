//! The command line, as clap parses it. Values from the operator are parsed here into the
//! domain's types (time zones, account names, Twitch ids, platforms), so a typo is refused
//! before anything is opened; what each command does lives in its own module.

use std::path::PathBuf;

use chrono::NaiveTime;
use clap::{Args, Parser, Subcommand, ValueEnum};
use hilite::domain::{
    AccountName, BroadcasterId, ClipId, ClipStatus, EditorId, Login, Platform, Privacy, Stage,
    TimeZoneName,
};
use hilite::queue::QueueName;

const AFTER_HELP: &str = "\
Configuration: every key, with its default and what it does, is in the sample file that
`hilite init` writes (config/hilite.sample.toml in the source tree). Any key can be overridden
by an environment variable named HILITE_<SECTION>__<KEY>, e.g. HILITE_LOCAL__DATA_DIR=/srv/hilite
or HILITE_SERVER__LISTEN=0.0.0.0:8080; the environment wins over the file.

Work files (clips on their way, renders) go in $TMPDIR/hilite-work-* (/tmp when TMPDIR is
unset), one folder per process; give it room for a few clips. What a killed process left there
is removed when `hilite serve` starts, or by the next process that makes work files.

Exit status: 0 on success, 1 when a command fails (one line on stderr says why), 2 for a
command line clap cannot parse.";

/// HiLite turns Twitch clips into vertical shorts. This binary runs the whole pipeline on one
/// machine (`serve`) and administers either backend.
#[derive(Debug, Parser)]
#[command(name = "hilite", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Configuration file. A missing ./hilite.toml is fine (defaults and environment apply);
    /// a missing file named here is an error.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Which backend to use, overriding the file (same as HILITE_BACKEND).
    #[arg(long, global = true, value_enum)]
    pub backend: Option<BackendArg>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    pub const DEFAULT_CONFIG: &'static str = "hilite.toml";

    /// The configuration file and whether it must exist.
    pub fn config_file(&self) -> (PathBuf, bool) {
        match &self.config {
            Some(path) => (path.clone(), true),
            None => (PathBuf::from(Self::DEFAULT_CONFIG), false),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// SQLite and a local folder (local.data_dir).
    Local,
    /// DynamoDB, SQS, S3 and KMS, named in [aws].
    Aws,
}

impl BackendArg {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendArg::Local => "local",
            BackendArg::Aws => "aws",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented sample configuration to the --config path (default ./hilite.toml),
    /// readable only by you since it may hold secrets.
    Init {
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Run HiLite on this machine: the HTTP server (POST /webhooks/twitch for Twitch EventSub,
    /// GET /health, presigned media under /media/) and a worker pool per queue. Prints `listening on ADDR` on stderr once bound.
    /// Stops on SIGTERM or Ctrl-C: in-flight work gets server.shutdown_grace_secs to finish,
    /// then returns to its queue.
    Serve(ServeArgs),
    /// Show clip counts per status, each queue's depth and dead letters, broadcasters whose
    /// Twitch subscription was revoked, and runs per stage and posts per platform.
    Status,
    /// Check this setup end to end and say exactly what is missing; exits non-zero when a
    /// check fails. Local: configuration, data folder, database, ffmpeg/ffprobe and its build
    /// (libx264, libass, zscale), key file permissions, Twitch credentials, broadcaster
    /// tokens, subscriptions, account tokens.
    /// AWS (--backend aws): credentials, table, queues, bucket, vault key, secrets.
    Doctor,
    /// Manage publishing accounts (where and when shorts are posted).
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Manage the editor whitelist (whose clips are collected).
    #[command(subcommand)]
    Whitelist(WhitelistCommand),
    /// Inspect clips.
    #[command(subcommand)]
    Clips(ClipsCommand),
    /// Act on the queues: redrive dead letters.
    #[command(subcommand)]
    Queues(QueuesCommand),
    /// Authorize HiLite on Twitch for a broadcaster (device code flow).
    #[command(subcommand)]
    Auth(crate::twitch::AuthCommand),
    /// Subscribe to a broadcaster's stream.online and stream.offline events (EventSub webhooks
    /// to twitch.callback_url, signed with twitch.eventsub_secret).
    Subscribe(crate::twitch::SubscribeArgs),
    /// List or delete this application's EventSub subscriptions.
    #[command(subcommand)]
    Subscriptions(crate::twitch::SubscriptionsCommand),
    /// Plan an account's posts now (`--now`): the day's best edited clips, one publish message
    /// per clip and platform.
    Publish(crate::publish::PublishArgs),
    /// List posts with their platform URL or error.
    #[command(subcommand)]
    Posts(crate::publish::PostsCommand),
    /// Render one video file or recorded clip into a short with captions, writing the short,
    /// its SRT and ASS captions, a thumbnail and a report to --out.
    Process(crate::process::ProcessArgs),
    /// Find the moments a chat log reacted to (seed 001's chat hype) and print them; with
    /// --plot, draw the hype timeline. Needs no backend.
    AnalyzeChat(crate::analyze_chat::AnalyzeChatArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Add a publishing account (with --backend aws and [aws.schedules] set, also its daily
    /// EventBridge Scheduler schedule).
    Add(AccountAdd),
    /// Change an account: only the options given change (and its schedule follows).
    Update(AccountUpdate),
    /// Stop planning an account's posts (its schedule is disabled) until `resume`.
    Pause {
        /// The account's name.
        name: AccountName,
    },
    /// Plan a paused account's posts again.
    Resume {
        /// The account's name.
        name: AccountName,
    },
    /// List accounts, and each platform's token health (connected, expires in, last refresh
    /// error).
    List,
    /// Remove an account (its past publications stay recorded).
    Remove {
        /// The account's name.
        name: AccountName,
    },
}

#[derive(Debug, Args)]
pub struct AccountAdd {
    /// Lowercase letters, digits, '-' and '_'.
    pub name: AccountName,
    /// IANA time zone of the daily post, e.g. Europe/Paris.
    #[arg(long, value_parser = parse_timezone)]
    pub timezone: TimeZoneName,
    /// Local time of the daily post, HH:MM.
    #[arg(long, value_parser = parse_time)]
    pub at: NaiveTime,
    /// Shorts posted per day at most.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_per_day: u32,
    /// Where to post: youtube, tiktok, instagram (comma-separated).
    #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
    pub platforms: Vec<Platform>,
    /// Only clips of these Twitch logins (comma-separated); all broadcasters when absent.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub broadcasters: Vec<Login>,
    /// public, unlisted or private.
    #[arg(long, default_value = "public")]
    pub privacy: Privacy,
    #[command(flatten)]
    pub text: TemplateArgs,
}

#[derive(Debug, Args)]
pub struct AccountUpdate {
    /// The account's name.
    pub name: AccountName,
    /// IANA time zone of the daily post, e.g. Europe/Paris.
    #[arg(long, value_parser = parse_timezone)]
    pub timezone: Option<TimeZoneName>,
    /// Local time of the daily post, HH:MM.
    #[arg(long, value_parser = parse_time)]
    pub at: Option<NaiveTime>,
    /// Shorts posted per day at most.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_per_day: Option<u32>,
    /// Where to post: youtube, tiktok, instagram (comma-separated).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub platforms: Option<Vec<Platform>>,
    /// Only clips of these Twitch logins (comma-separated).
    #[arg(long, value_delimiter = ',', num_args = 1.., conflicts_with = "all_broadcasters")]
    pub broadcasters: Option<Vec<Login>>,
    /// Post every broadcaster's clips again.
    #[arg(long)]
    pub all_broadcasters: bool,
    /// public, unlisted or private.
    #[arg(long)]
    pub privacy: Option<Privacy>,
    #[command(flatten)]
    pub text: TemplateArgs,
}

/// The account's post text (seed 003's templates). Placeholders: {title} (the generated title
/// when there is one), {description} (the generated description), {broadcaster}, {clipper},
/// {hashtags}, {clip_url}. The broadcaster is always credited.
#[derive(Debug, Args, Default)]
pub struct TemplateArgs {
    /// The title template, e.g. "{title} | {broadcaster}".
    #[arg(long, value_parser = parse_template)]
    pub title_template: Option<String>,
    /// The description template.
    #[arg(long, value_parser = parse_template)]
    pub description_template: Option<String>,
    /// Tags for {hashtags}, without '#' (comma-separated); the generated ones follow.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub hashtags: Option<Vec<String>>,
}

#[derive(Debug, Subcommand)]
pub enum WhitelistCommand {
    /// Trust an editor's clips, for every broadcaster or one.
    Add {
        /// The editor's Twitch user id (digits).
        editor_id: EditorId,
        /// The editor's display name, for your reference.
        #[arg(long)]
        name: String,
        /// Limit the entry to this broadcaster's Twitch user id.
        #[arg(long)]
        broadcaster: Option<BroadcasterId>,
        /// Free text kept with the entry.
        #[arg(long)]
        notes: Option<String>,
    },
    /// Remove an entry (the global one unless --broadcaster is given).
    Remove {
        editor_id: EditorId,
        #[arg(long)]
        broadcaster: Option<BroadcasterId>,
    },
    /// List entries. An empty whitelist accepts every editor's clips.
    List,
}

#[derive(Debug, Subcommand)]
pub enum QueuesCommand {
    /// Move the dead letters of the named queues (all of them when none is named) back to
    /// their queue, once what failed them is fixed (`hilite status` counts them). Each comes
    /// back as a new message, its receives starting again.
    Redrive {
        /// collect, download, analyze, edit, publish, chat.
        queues: Vec<QueueName>,
        /// The most messages moved per queue in this run.
        #[arg(long, default_value_t = 10_000)]
        max: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClipsCommand {
    /// List clips, best score first.
    List {
        /// Only clips in this status (pending, downloaded, analyzed, skipped, edited, review,
        /// published, failed).
        #[arg(long)]
        status: Option<ClipStatus>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Print one clip's full record as JSON.
    Show { id: ClipId },
    /// Queue a failed clip again at the stage that failed, with that stage's attempts at zero;
    /// or, with --all, every failed clip (once what failed them is fixed: a transcription key,
    /// a full disk).
    Retry {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<ClipId>,
        /// Every failed clip (at most 1000 a run; run it again for more).
        #[arg(long)]
        all: bool,
        /// With --all: only the clips that failed at this stage (download, analyze, edit).
        #[arg(long, conflicts_with = "id")]
        stage: Option<Stage>,
    },
    /// Approve a clip waiting in review: it becomes edited and is published as planned.
    Approve { id: ClipId },
    /// Reject a clip waiting in review: it is skipped, with the reason, and never published.
    Reject {
        id: ClipId,
        /// Why (kept on the clip as its skip reason).
        #[arg(long)]
        reason: String,
    },
}

fn parse_timezone(s: &str) -> Result<TimeZoneName, String> {
    TimeZoneName::parse(s)
}

fn parse_template(s: &str) -> Result<String, String> {
    hilite::domain::PostTemplates::parse_template(s)
}

fn parse_time(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| format!("{s:?} is not a time of day as HH:MM, e.g. 17:00"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn tls_flags_come_in_pairs() {
        assert!(Cli::try_parse_from(["hilite", "serve", "--tls-cert", "c.pem"]).is_err());
        assert!(Cli::try_parse_from([
            "hilite",
            "serve",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem"
        ])
        .is_ok());
    }

    #[test]
    fn account_values_are_parsed_into_domain_types() {
        let cli = Cli::try_parse_from([
            "hilite",
            "accounts",
            "add",
            "main",
            "--timezone",
            "Europe/Paris",
            "--at",
            "17:00",
            "--max-per-day",
            "3",
            "--platforms",
            "youtube,tiktok",
        ])
        .unwrap();
        let Command::Accounts(AccountsCommand::Add(a)) = cli.command else {
            panic!("parsed as {cli:?}")
        };
        assert_eq!(a.platforms, vec![Platform::Youtube, Platform::Tiktok]);
        assert_eq!(a.at, NaiveTime::from_hms_opt(17, 0, 0).unwrap());
        for (flag, bad) in [
            ("--timezone", "Mars/Olympus"),
            ("--at", "25:00"),
            ("--platforms", "myspace"),
        ] {
            let mut argv = vec!["hilite", "accounts", "add", "main", "--max-per-day", "1"];
            for (f, good) in [
                ("--timezone", "UTC"),
                ("--at", "17:00"),
                ("--platforms", "youtube"),
            ] {
                argv.extend([f, if f == flag { bad } else { good }]);
            }
            let err = Cli::try_parse_from(&argv).unwrap_err().to_string();
            assert!(err.contains(bad), "{flag} {bad}: {err}");
        }
    }
}
