//! `hilite accounts add|update|pause|resume|list|remove`: the publishing accounts, their token
//! health per platform, and — on the AWS backend with `[aws.schedules]` set — each account's
//! EventBridge Scheduler schedule, kept in step with its record (`hilite::schedules`). On one
//! machine `hilite serve`'s in-process scheduler reads the records, so nothing else is needed.
//!
//! The schedule is changed before the record: if the scheduler refuses, the account is left as
//! it was; if the record then fails to save, running the same command again converges.

use anyhow::Context;
use chrono::{DateTime, Utc};
use hilite::backend::Ports;
use hilite::config::{BackendKind, Config};
use hilite::domain::{Account, AccountName, Platform, PostTemplates, Privacy};
use hilite::platforms::oauth;
use hilite::schedules::{cron, PublishSchedules};

use crate::args::{AccountAdd, AccountUpdate, AccountsCommand, TemplateArgs};
use crate::output::table;

/// Where schedules live for this command: EventBridge Scheduler, or nowhere to manage.
enum Schedules {
    Aws(PublishSchedules),
    /// One machine (`hilite serve` schedules from the records), or AWS without [aws.schedules].
    None {
        why: Option<&'static str>,
    },
}

impl Schedules {
    async fn from_config(config: &Config) -> Self {
        if config.backend != BackendKind::Aws {
            return Schedules::None { why: None };
        }
        if let Some(s) = PublishSchedules::from_config(&config.aws.schedules).await {
            return Schedules::Aws(s);
        }
        Schedules::None {
            why: Some("no publish schedule is managed: [aws.schedules] is not set, so this account is planned only by `hilite publish --account NAME --now`"),
        }
    }

    async fn put(&self, account: &Account) -> anyhow::Result<String> {
        match self {
            Schedules::Aws(s) => {
                s.put(account).await?;
                Ok(format!(
                    "schedule: {} in {}{}\n",
                    cron(account),
                    account.timezone.as_str(),
                    if account.paused { " (disabled)" } else { "" }
                ))
            }
            Schedules::None { why } => Ok(why.map(|w| format!("{w}\n")).unwrap_or_default()),
        }
    }

    async fn remove(&self, name: &AccountName) -> anyhow::Result<()> {
        match self {
            Schedules::Aws(s) => {
                s.remove(name).await?;
                Ok(())
            }
            Schedules::None { .. } => Ok(()),
        }
    }
}

pub async fn run(config: &Config, ports: &Ports, cmd: AccountsCommand) -> anyhow::Result<String> {
    match cmd {
        AccountsCommand::Add(a) => add(config, ports, a).await,
        AccountsCommand::Update(u) => {
            let mut account = existing(ports, &u.name).await?;
            apply(&mut account, u);
            save(config, ports, &account, "updated").await
        }
        AccountsCommand::Pause { name } => set_paused(config, ports, &name, true).await,
        AccountsCommand::Resume { name } => set_paused(config, ports, &name, false).await,
        AccountsCommand::List => list(ports).await,
        AccountsCommand::Remove { name } => {
            existing(ports, &name).await?;
            Schedules::from_config(config).await.remove(&name).await?;
            if ports
                .store
                .remove_account(&name)
                .await
                .context("cannot remove the account")?
            {
                Ok(format!("removed account {name}\n"))
            } else {
                anyhow::bail!("no account named {name}")
            }
        }
    }
}

async fn existing(ports: &Ports, name: &AccountName) -> anyhow::Result<Account> {
    ports
        .store
        .get_account(name)
        .await
        .context("cannot read accounts")?
        .with_context(|| format!("no account named {name}"))
}

async fn add(config: &Config, ports: &Ports, a: AccountAdd) -> anyhow::Result<String> {
    if ports
        .store
        .get_account(&a.name)
        .await
        .context("cannot read accounts")?
        .is_some()
    {
        anyhow::bail!(
            "account {} exists already; change it with `hilite accounts update {}`",
            a.name,
            a.name
        );
    }
    let mut account = Account {
        name: a.name,
        timezone: a.timezone,
        post_at: a.at,
        max_per_day: a.max_per_day,
        platforms: a.platforms,
        broadcasters: a.broadcasters,
        privacy: a.privacy,
        paused: false,
        templates: PostTemplates::default(),
        created_at: ports.clock.now(),
    };
    set_templates(&mut account.templates, a.text);
    save(config, ports, &account, "added").await
}

/// Only what the command line gave changes.
fn apply(account: &mut Account, u: AccountUpdate) {
    if let Some(tz) = u.timezone {
        account.timezone = tz;
    }
    if let Some(at) = u.at {
        account.post_at = at;
    }
    if let Some(n) = u.max_per_day {
        account.max_per_day = n;
    }
    if let Some(p) = u.platforms {
        account.platforms = p;
    }
    if let Some(b) = u.broadcasters {
        account.broadcasters = b;
    }
    if u.all_broadcasters {
        account.broadcasters.clear();
    }
    if let Some(p) = u.privacy {
        account.privacy = p;
    }
    set_templates(&mut account.templates, u.text);
}

fn set_templates(t: &mut PostTemplates, args: TemplateArgs) {
    if let Some(title) = args.title_template {
        t.title = Some(title);
    }
    if let Some(description) = args.description_template {
        t.description = Some(description);
    }
    if let Some(tags) = args.hashtags {
        t.hashtags = Some(
            tags.into_iter()
                .map(|h| h.trim().trim_start_matches('#').to_string())
                .filter(|h| !h.is_empty())
                .collect(),
        );
    }
}

async fn set_paused(
    config: &Config,
    ports: &Ports,
    name: &AccountName,
    paused: bool,
) -> anyhow::Result<String> {
    let mut account = existing(ports, name).await?;
    account.paused = paused;
    save(
        config,
        ports,
        &account,
        if paused { "paused" } else { "resumed" },
    )
    .await
}

/// The schedule first, then the record (see the module comment).
async fn save(
    config: &Config,
    ports: &Ports,
    account: &Account,
    done: &str,
) -> anyhow::Result<String> {
    let schedule = Schedules::from_config(config).await.put(account).await?;
    ports
        .store
        .put_account(account)
        .await
        .context("cannot store the account")?;
    Ok(format!(
        "{done} account {}: up to {} a day at {} {} on {}{}\n{schedule}",
        account.name,
        account.max_per_day,
        account.post_at.format("%H:%M"),
        account.timezone.as_str(),
        join(&account.platforms),
        if account.paused { " (paused)" } else { "" },
    ))
}

async fn list(ports: &Ports) -> anyhow::Result<String> {
    let accounts = ports
        .store
        .list_accounts()
        .await
        .context("cannot list accounts")?;
    if accounts.is_empty() {
        return Ok("no accounts (add one with `hilite accounts add`)\n".into());
    }
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .map(|a| {
            vec![
                a.name.to_string(),
                a.timezone.as_str().to_string(),
                a.post_at.format("%H:%M").to_string(),
                a.max_per_day.to_string(),
                join(&a.platforms),
                if a.broadcasters.is_empty() {
                    "(all)".into()
                } else {
                    join(&a.broadcasters)
                },
                privacy_name(a.privacy).into(),
                if a.paused {
                    "paused".into()
                } else {
                    "active".into()
                },
            ]
        })
        .collect();
    let mut out = table(
        &[
            "name",
            "timezone",
            "at",
            "per day",
            "platforms",
            "broadcasters",
            "privacy",
            "state",
        ],
        &rows,
    );
    let now = ports.clock.now();
    let mut tokens = Vec::new();
    for a in &accounts {
        for &platform in &a.platforms {
            tokens.push(token_row(ports, &a.name, platform, now).await);
        }
    }
    out.push('\n');
    out.push_str(&table(
        &[
            "account",
            "platform",
            "token",
            "expires in",
            "last refresh error",
        ],
        &tokens,
    ));
    Ok(out)
}

/// One platform's token health for one account; never the token itself.
async fn token_row(
    ports: &Ports,
    account: &AccountName,
    platform: Platform,
    now: DateTime<Utc>,
) -> Vec<String> {
    let (state, expires, error) = match oauth::health(ports.vault.as_ref(), platform, account).await
    {
        Err(e) => ("unreadable".to_string(), "-".to_string(), e.to_string()),
        Ok(h) if h.refresh_error.is_some() => (
            "unhealthy".into(),
            expires_in(h.expires_at, now),
            format!(
                "{} (reconnect: hilite auth {platform} --account {account})",
                h.refresh_error.unwrap_or_default()
            ),
        ),
        Ok(h) if !h.connected => (
            "not connected".into(),
            "-".into(),
            format!("hilite auth {platform} --account {account}"),
        ),
        Ok(h) => (
            "connected".into(),
            expires_in(h.expires_at, now),
            "-".into(),
        ),
    };
    vec![
        account.to_string(),
        platform.to_string(),
        state,
        expires,
        error,
    ]
}

/// `52m`, `3h10m`, `59d`, `expired`; `-` when the platform gave no expiry. A token near or past
/// its expiry is refreshed at its next use: this only informs.
fn expires_in(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(at) = at else {
        return "-".into();
    };
    let left = at - now;
    if left <= chrono::Duration::zero() {
        "expired".into()
    } else if left >= chrono::Duration::days(2) {
        format!("{}d", left.num_days())
    } else if left >= chrono::Duration::hours(1) {
        format!("{}h{:02}m", left.num_hours(), left.num_minutes() % 60)
    } else {
        format!("{}m", left.num_minutes().max(1))
    }
}

fn privacy_name(p: Privacy) -> &'static str {
    match p {
        Privacy::Public => "public",
        Privacy::Unlisted => "unlisted",
        Privacy::Private => "private",
    }
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_shown_in_the_largest_useful_unit() {
        let now = Utc::now();
        let in_ = |d: chrono::Duration| expires_in(Some(now + d), now);
        assert_eq!(in_(chrono::Duration::minutes(52)), "52m");
        assert_eq!(in_(chrono::Duration::minutes(190)), "3h10m");
        assert_eq!(in_(chrono::Duration::days(59)), "59d");
        assert_eq!(in_(-chrono::Duration::minutes(1)), "expired");
        assert_eq!(expires_in(None, now), "-");
    }
}
