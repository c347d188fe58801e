//! `hilite doctor`: checks a setup end to end and says exactly what is missing. On this machine
//! (`backend = "local"`): the configuration, the data folder, the database schema, ffmpeg and
//! ffprobe and what the render job needs of ffmpeg's build, the key files' permissions, the
//! Twitch app credentials and each broadcaster's user token (through the real client, against
//! `twitch.api_base`/`auth_base`), the EventSub subscriptions of each broadcaster, and each
//! publishing account's platform tokens. On AWS (`backend = "aws"`, in `doctor_aws`):
//! credentials, the table and its keys, the queues, the bucket, the vault key and the secrets.
//!
//! Each check is one line: `ok`, `warn` (works, but something is worth knowing) or `FAIL` with
//! what to do. The command exits non-zero when any check fails. It changes nothing, except what
//! using a setup does anyway: opening the backend creates the data folder, database and key files
//! when they do not exist yet and brings the schema up to date, and validating an expired Twitch
//! user token refreshes it (the refresh token rotates, as in `hilite serve`).

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use hilite::backend::Ports;
use hilite::config::{BackendKind, Config};
use hilite::domain::SubscriptionStatus;
use hilite::render::encode;
use hilite::store::sqlite::{Database, SCHEMA_VERSION};
use hilite::twitch::TwitchClient;

use crate::output;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ok,
    Warn,
    Fail,
}

/// The checks made so far, in order.
#[derive(Debug, Default)]
pub struct Report {
    lines: Vec<(State, String, String)>,
}

impl Report {
    pub fn ok(&mut self, what: impl Into<String>, detail: impl Into<String>) {
        self.lines.push((State::Ok, what.into(), detail.into()));
    }
    pub fn warn(&mut self, what: impl Into<String>, detail: impl Into<String>) {
        self.lines.push((State::Warn, what.into(), detail.into()));
    }
    pub fn fail(&mut self, what: impl Into<String>, detail: impl Into<String>) {
        self.lines.push((State::Fail, what.into(), detail.into()));
    }

    fn failures(&self) -> usize {
        self.lines
            .iter()
            .filter(|(s, _, _)| *s == State::Fail)
            .count()
    }

    fn render(&self) -> String {
        let width = self
            .lines
            .iter()
            .map(|(_, w, _)| w.len())
            .max()
            .unwrap_or(0);
        let mut text = String::new();
        for (state, what, detail) in &self.lines {
            let tag = match state {
                State::Ok => "ok  ",
                State::Warn => "warn",
                State::Fail => "FAIL",
            };
            let _ = writeln!(text, "{tag}  {what:<width$}  {}", output::one_line(detail));
        }
        text
    }
}

/// Run every check for the configured backend, print the report, and fail when a check did.
pub async fn run(config_file: &Path, required: bool) -> anyhow::Result<()> {
    let mut report = Report::default();
    match Config::load(Some(config_file), required) {
        Ok(config) => {
            report.ok(
                "configuration",
                format!("loaded ({} backend)", output::backend_name(config.backend)),
            );
            match config.backend {
                BackendKind::Local => local(&config, &mut report).await,
                BackendKind::Aws => crate::doctor_aws::check(&config, &mut report).await,
            }
        }
        Err(e) => report.fail(
            "configuration",
            format!("{e}; fix it, then run doctor again"),
        ),
    }
    output::print(&report.render())?;
    match report.failures() {
        0 => Ok(()),
        n => anyhow::bail!("{n} check(s) failed; each FAIL line above says what to do"),
    }
}

async fn local(config: &Config, report: &mut Report) {
    let dir = &config.local.data_dir;
    match writable(dir) {
        Ok(()) => report.ok("data directory", format!("{} is writable", dir.display())),
        Err(e) => {
            report.fail(
                "data directory",
                format!("{}: {e}; create it or set local.data_dir", dir.display()),
            );
            return;
        }
    }
    let db = config.local.database_path();
    match Database::open(&db) {
        Ok(_) => report.ok(
            "database",
            format!("{} at schema version {SCHEMA_VERSION}", db.display()),
        ),
        Err(e) => report.fail("database", e.to_string()),
    }
    let mut has_ffmpeg = false;
    for tool in ["ffmpeg", "ffprobe"] {
        match tokio::process::Command::new(tool)
            .arg("-version")
            .output()
            .await
        {
            Ok(out) if out.status.success() => {
                let first = String::from_utf8_lossy(&out.stdout);
                report.ok(tool, first.lines().next().unwrap_or("").to_string());
                has_ffmpeg |= tool == "ffmpeg";
            }
            _ => report.fail(
                tool,
                "not found on PATH; install ffmpeg (`make setup`, or apt-get install ffmpeg)",
            ),
        }
    }
    if has_ffmpeg {
        ffmpeg_build(report).await;
    }
    // Opening the backend creates the key files on first use, so they are checked after it.
    let opened = Ports::from_config(config).await;
    for (what, path) in [
        ("vault key", config.local.vault_key_path()),
        ("media URL key", config.local.media_signing_key_path()),
    ] {
        key_file(report, what, &path);
    }
    let ports = match opened {
        Ok(p) => p,
        Err(e) => {
            report.fail("backend", format!("{e:#}"));
            report.warn(
                "twitch, accounts",
                "not checked: they need the backend to open",
            );
            return;
        }
    };
    twitch(config, &ports, report).await;
    accounts(&ports, report).await;
}

/// The encoder and filters the render job uses: libx264 and libass are needed, zimg's
/// `zscale` only makes the blur layout sharper and cheaper.
async fn ffmpeg_build(report: &mut Report) {
    let what = "ffmpeg build";
    let build = match encode::ffmpeg_build(Duration::from_secs(30)).await {
        Ok(b) => b,
        Err(e) => return report.fail(what, e.to_string()),
    };
    let missing: Vec<&str> = [
        (build.libx264, "the libx264 encoder"),
        (build.ass, "the ass filter (libass)"),
    ]
    .into_iter()
    .filter_map(|(has, name)| (!has).then_some(name))
    .collect();
    if !missing.is_empty() {
        report.fail(
            what,
            format!(
                "lacks {}, which the render job needs; install Debian's or Ubuntu's ffmpeg \
                 (`make setup`, or apt-get install ffmpeg)",
                missing.join(" and ")
            ),
        );
    } else if !build.zscale {
        report.warn(
            what,
            "no zscale filter (ffmpeg built without libzimg): the blur layout shrinks the \
             source with swscale's area scaler, a little softer and slower",
        );
    } else {
        report.ok(what, "libx264, libass and zscale");
    }
}

/// Create the folder if needed and write then remove a probe file in it.
fn writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".doctor-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe")?;
    std::fs::remove_file(&probe)
}

/// A key file must be readable by its owner alone.
fn key_file(report: &mut Report, what: &str, path: &Path) {
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 == 0 {
                report.ok(what, format!("{} (mode {mode:o})", path.display()));
            } else {
                report.fail(
                    what,
                    format!(
                        "{} is readable by others (mode {mode:o}); run chmod 600 {}",
                        path.display(),
                        path.display()
                    ),
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => report.warn(
            what,
            format!(
                "{} does not exist yet; it is created on first use",
                path.display()
            ),
        ),
        Err(e) => report.fail(what, format!("{}: {e}", path.display())),
    }
}

async fn twitch(config: &Config, ports: &Ports, report: &mut Report) {
    let t = &config.twitch;
    if t.client_id.is_empty() || t.client_secret.is_none() {
        report.fail(
            "twitch app",
            "twitch.client_id and twitch.client_secret must be set (dev.twitch.tv console)",
        );
        return;
    }
    match &t.eventsub_secret {
        Some(_) => report.ok("eventsub secret", "set"),
        None => report.fail(
            "eventsub secret",
            "twitch.eventsub_secret is not set: every webhook delivery is answered 503",
        ),
    }
    // Without a callback URL there are no subscriptions to match, but the app credentials
    // and the broadcasters' tokens are still checked.
    let callback = t.callback_url.as_ref();
    if callback.is_none() {
        report.warn(
            "callback url",
            "twitch.callback_url is not set: `hilite subscribe` needs it",
        );
    }
    let client = match TwitchClient::from_config(t, ports.vault.clone()) {
        Ok(c) => c,
        Err(e) => return report.fail("twitch app", e.to_string()),
    };
    // Listing subscriptions needs an app access token: this checks the client credentials too.
    match client.list_subscriptions(None).await {
        Ok(subs) => {
            report.ok(
                "twitch app",
                format!("app token obtained from {}", t.auth_base),
            );
            broadcasters(
                Some(&client),
                ports,
                report,
                callback.map(|c| (c.as_str(), subs)),
            )
            .await;
        }
        Err(e) => report.fail(
            "twitch app",
            format!("{e}; check twitch.client_id, twitch.client_secret and twitch.api_base"),
        ),
    }
}

async fn broadcasters(
    client: Option<&TwitchClient>,
    ports: &Ports,
    report: &mut Report,
    subscriptions: Option<(&str, Vec<hilite::twitch::helix::EventSubSubscription>)>,
) {
    let list = match ports.store.list_broadcasters().await {
        Ok(l) => l,
        Err(e) => return report.fail("broadcasters", e.to_string()),
    };
    if list.is_empty() {
        report.warn(
            "broadcasters",
            "none yet: run `hilite auth twitch --broadcaster LOGIN`",
        );
        return;
    }
    for b in &list {
        let what = format!("broadcaster {}", b.login);
        match (client, &b.token_ref) {
            (_, None) => report.fail(
                &what,
                format!(
                    "no user token: run `hilite auth twitch --broadcaster {}`",
                    b.login
                ),
            ),
            (Some(client), Some(name)) => match client.validate_user_token(name).await {
                Ok(v) => report.ok(
                    &what,
                    format!(
                        "user token valid (scopes {}; expires in {} s)",
                        v.scopes.join(" "),
                        v.expires_in
                    ),
                ),
                Err(e) => report.fail(
                    &what,
                    format!(
                        "user token does not work ({e}): run `hilite auth twitch --broadcaster {}`",
                        b.login
                    ),
                ),
            },
            (None, Some(_)) => {}
        }
        if b.subscriptions
            .iter()
            .any(|s| s.status == SubscriptionStatus::Revoked)
        {
            report.fail(
                &what,
                format!(
                    "a subscription was revoked (`hilite status`): run `hilite subscribe {}`",
                    b.login
                ),
            );
        }
        let Some((callback, subs)) = &subscriptions else {
            continue;
        };
        for kind in ["stream.online", "stream.offline"] {
            let what = format!("{kind} {}", b.login);
            let found = subs.iter().find(|s| {
                s.kind == kind
                    && s.transport.callback.as_deref() == Some(*callback)
                    && s.condition
                        .get("broadcaster_user_id")
                        .and_then(|v| v.as_str())
                        == Some(b.id.as_str())
            });
            match found.map(|s| s.status.as_str()) {
                Some("enabled") => report.ok(&what, "subscribed, enabled"),
                Some("webhook_callback_verification_pending") => report.warn(
                    &what,
                    format!("Twitch has not verified {callback} yet: it must answer over HTTPS on port 443"),
                ),
                Some(status) => report.fail(&what, format!("status {status}: run `hilite subscribe {}`", b.login)),
                None => report.fail(
                    &what,
                    format!("no subscription to {callback}: run `hilite subscribe {}`", b.login),
                ),
            }
        }
    }
}

async fn accounts(ports: &Ports, report: &mut Report) {
    let list = match ports.store.list_accounts().await {
        Ok(l) => l,
        Err(e) => return report.fail("accounts", e.to_string()),
    };
    if list.is_empty() {
        report.warn(
            "accounts",
            "none yet: nothing will be published (`hilite accounts add`)",
        );
    }
    for account in list.iter().filter(|a| !a.paused) {
        for &platform in &account.platforms {
            let what = format!("account {} {platform}", account.name);
            let fix = format!("run `hilite auth {platform} --account {}`", account.name);
            match hilite::platforms::oauth::health(&*ports.vault, platform, &account.name).await {
                Ok(h) if h.connected => report.ok(
                    &what,
                    match h.expires_at {
                        Some(at) => format!(
                            "connected; token expires {}",
                            at.format("%Y-%m-%d %H:%M UTC")
                        ),
                        None => "connected".into(),
                    },
                ),
                Ok(h) => report.fail(
                    &what,
                    match h.refresh_error {
                        Some(e) => format!("refresh refused ({e}): {fix}"),
                        None => format!("not connected: {fix}"),
                    },
                ),
                Err(e) => report.fail(&what, format!("{e}: {fix}")),
            }
        }
    }
}
