//! The Twitch admin commands: `hilite auth twitch` (a broadcaster, or one of their editors,
//! authorizes HiLite by the device code flow; the token goes to the encrypted token vault and
//! the broadcaster record names it), `hilite subscribe` (EventSub webhooks for a broadcaster)
//! and `hilite subscriptions list|delete`. The Twitch calls and every check are in
//! `hilite::twitch`; this module asks, records and prints.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use hilite::backend::Ports;
use hilite::config::Config;
use hilite::domain::{
    Broadcaster, BroadcasterId, ExternalId, Login, Subscription, SubscriptionStatus, UserId,
};
use hilite::twitch::helix::{Created, EventSubSubscription, HelixUser, NewSubscription};
use hilite::twitch::{TwitchClient, TwitchError};

use crate::output::{print, table};

/// Scope for downloading a channel's clips with the broadcaster's own token.
const BROADCASTER_SCOPE: &str = "channel:manage:clips";
/// Scope for downloading them with an editor's token.
const EDITOR_SCOPE: &str = "editor:manage:clips";

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Authorize HiLite to download a broadcaster's clips: prints a code to enter at
    /// twitch.tv/activate while signed in as the broadcaster (or as --as-editor), then stores
    /// the token, encrypted, in the token vault.
    Twitch(AuthTwitch),
    /// Connect a publishing account's YouTube channel (Google OAuth with PKCE, youtube.upload).
    Youtube(crate::publish::AuthPlatform),
    /// Connect a publishing account's TikTok (authorization code with PKCE, video.publish).
    Tiktok(crate::publish::AuthPlatform),
    /// Connect a publishing account's Instagram professional account (Instagram Login).
    Instagram(crate::publish::AuthPlatform),
}

#[derive(Debug, Args)]
pub struct AuthTwitch {
    /// The channel whose clips HiLite downloads.
    #[arg(long, value_name = "LOGIN")]
    pub broadcaster: Login,
    /// Sign in as this editor of the channel instead of the broadcaster (scope
    /// editor:manage:clips rather than channel:manage:clips).
    #[arg(long, value_name = "LOGIN")]
    pub as_editor: Option<Login>,
    /// Also grant the scopes for reading chat through EventSub (user:read:chat, user:bot, and
    /// channel:bot for a broadcaster), used by `hilite subscribe --chat`. An editor reads chat
    /// only as a moderator of the channel or once the broadcaster has granted channel:bot.
    /// <https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/#channelchatmessage>
    #[arg(long)]
    pub chat: bool,
}

#[derive(Debug, Args)]
pub struct SubscribeArgs {
    /// The broadcaster's Twitch login.
    pub login: Login,
    /// Also subscribe to channel.chat.message, read as the user whose token `hilite auth
    /// twitch --chat` stored for this broadcaster.
    #[arg(long)]
    pub chat: bool,
}

#[derive(Debug, Subcommand)]
pub enum SubscriptionsCommand {
    /// List this application's EventSub subscriptions as Twitch reports them.
    List,
    /// Delete one subscription by its id.
    Delete { id: String },
}

fn client(config: &Config, ports: &Ports) -> anyhow::Result<TwitchClient> {
    Ok(TwitchClient::from_config(
        &config.twitch,
        ports.vault.clone(),
    )?)
}

async fn user(twitch: &TwitchClient, login: &Login) -> anyhow::Result<HelixUser> {
    twitch
        .user_by_login(login)
        .await
        .context("cannot look up the Twitch user")?
        .with_context(|| format!("Twitch has no user named {login}"))
}

/// `hilite auth twitch`: prints its progress as it goes, since the user acts in between.
pub async fn auth(config: &Config, ports: &Ports, cmd: AuthCommand) -> anyhow::Result<()> {
    let args = match cmd {
        AuthCommand::Twitch(args) => args,
        AuthCommand::Youtube(a) => {
            return crate::publish::auth(config, ports, hilite::domain::Platform::Youtube, a).await
        }
        AuthCommand::Tiktok(a) => {
            return crate::publish::auth(config, ports, hilite::domain::Platform::Tiktok, a).await
        }
        AuthCommand::Instagram(a) => {
            return crate::publish::auth(config, ports, hilite::domain::Platform::Instagram, a)
                .await
        }
    };
    let twitch = client(config, ports)?;
    let broadcaster = user(&twitch, &args.broadcaster).await?;
    let signer = match &args.as_editor {
        Some(editor) => user(&twitch, editor).await?,
        None => broadcaster.clone(),
    };
    let editor = args.as_editor.is_some();
    let mut scopes = vec![if editor {
        EDITOR_SCOPE
    } else {
        BROADCASTER_SCOPE
    }];
    if args.chat {
        // EventSub chat over webhooks: https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/#channelchatmessage
        scopes.extend(["user:read:chat", "user:bot"]);
        if !editor {
            scopes.push("channel:bot");
        }
    }
    let device = twitch
        .start_device_flow(&scopes)
        .await
        .context("cannot start the Twitch device authorization")?;
    print(&format!(
        "Sign in to Twitch as {} and open {}\nto enter the code {} (valid {} minutes). Waiting for your answer…\n",
        signer.login,
        device.verification_uri,
        device.user_code,
        device.expires_in / 60
    ))?;
    let set = twitch
        .finish_device_flow(&device, &scopes)
        .await
        .context("the Twitch authorization did not complete")?;
    if set.user_id != signer.id {
        bail!(
            "Twitch says you signed in as {} rather than {}; nothing was stored",
            set.login,
            signer.login
        );
    }
    let token_ref = twitch
        .save_user_token(&set)
        .await
        .context("cannot store the token")?;
    let mut record = broadcaster_record(ports, &broadcaster).await?;
    record.token_ref = Some(token_ref.clone());
    record.token_user_id = editor.then(|| signer.id.clone());
    ports
        .store
        .put_broadcaster(&record)
        .await
        .context("cannot record the broadcaster")?;
    print(&format!(
        "stored {}'s token as {token_ref}; {}'s clips will be downloaded with it\n",
        signer.login, broadcaster.login
    ))
}

/// The stored broadcaster record, or a new one for `user`.
async fn broadcaster_record(ports: &Ports, user: &HelixUser) -> anyhow::Result<Broadcaster> {
    let now = ports.clock.now();
    let existing = ports
        .store
        .get_broadcaster(&user.id)
        .await
        .context("cannot read the broadcaster")?;
    let login = Login::parse(user.login.clone()).context("Twitch returned an unusable login")?;
    Ok(match existing {
        Some(b) => Broadcaster {
            login,
            display_name: user.display_name.clone(),
            updated_at: now,
            ..b
        },
        None => Broadcaster {
            id: user.id.clone(),
            login,
            display_name: user.display_name.clone(),
            token_ref: None,
            token_user_id: None,
            subscriptions: Vec::new(),
            require_approval: false,
            updated_at: now,
        },
    })
}

/// `hilite subscribe LOGIN [--chat]`.
pub async fn subscribe(
    config: &Config,
    ports: &Ports,
    args: SubscribeArgs,
) -> anyhow::Result<String> {
    let twitch = client(config, ports)?;
    let broadcaster = user(&twitch, &args.login).await?;
    let id = broadcaster.id.to_string();
    let mut wanted = vec![
        NewSubscription::webhook(
            "stream.online",
            serde_json::json!({"broadcaster_user_id": id}),
            &config.twitch,
        )?,
        NewSubscription::webhook(
            "stream.offline",
            serde_json::json!({"broadcaster_user_id": id}),
            &config.twitch,
        )?,
    ];
    let mut record = broadcaster_record(ports, &broadcaster).await?;
    if args.chat {
        let reader: &UserId = record.token_user_id.as_ref().unwrap_or(&broadcaster.id);
        let condition =
            serde_json::json!({"broadcaster_user_id": id, "user_id": reader.to_string()});
        wanted.push(NewSubscription::webhook(
            "channel.chat.message",
            condition,
            &config.twitch,
        )?);
    }
    let mut rows = Vec::new();
    for sub in &wanted {
        let (sub_id, status) = match twitch
            .create_subscription(sub)
            .await
            .with_context(|| match sub.kind.as_str() {
                "channel.chat.message" => format!(
                    "cannot subscribe to {} (Twitch needs `hilite auth twitch --broadcaster {} --chat` first)",
                    sub.kind, args.login
                ),
                _ => format!("cannot subscribe to {}", sub.kind),
            })?
        {
            Created::New(s) => (s.id, s.status),
            Created::Existing => {
                let listed = twitch
                    .list_subscriptions(Some(("user_id", id.clone())))
                    .await?;
                let found = listed.into_iter().find(|s| {
                    s.kind == sub.kind
                        && serde_json::Value::Object(s.condition.clone()) == sub.condition
                });
                match found {
                    Some(s) => (s.id, s.status),
                    None => bail!(
                        "Twitch says a {} subscription exists but does not list it",
                        sub.kind
                    ),
                }
            }
        };
        record.subscriptions.retain(|s| s.kind != sub.kind);
        record.subscriptions.push(Subscription {
            id: ExternalId::parse(sub_id.clone())
                .context("Twitch returned an unusable subscription id")?,
            kind: sub.kind.clone(),
            status: status_of(&status),
            reason: None,
            updated_at: ports.clock.now(),
        });
        rows.push(vec![sub.kind.clone(), sub_id, status]);
    }
    ports
        .store
        .put_broadcaster(&record)
        .await
        .context("cannot record the subscriptions")?;
    Ok(table(&["type", "id", "status"], &rows))
}

fn status_of(twitch_status: &str) -> SubscriptionStatus {
    match twitch_status {
        "enabled" => SubscriptionStatus::Enabled,
        "webhook_callback_verification_pending" => SubscriptionStatus::Pending,
        _ => SubscriptionStatus::Revoked,
    }
}

/// `hilite subscriptions list|delete`.
pub async fn subscriptions(
    config: &Config,
    ports: &Ports,
    cmd: SubscriptionsCommand,
) -> anyhow::Result<String> {
    let twitch = client(config, ports)?;
    match cmd {
        SubscriptionsCommand::List => {
            let subs = twitch
                .list_subscriptions(None)
                .await
                .context("cannot list the subscriptions")?;
            if subs.is_empty() {
                return Ok(
                    "no EventSub subscriptions (create them with `hilite subscribe LOGIN`)\n"
                        .into(),
                );
            }
            let rows: Vec<Vec<String>> = subs.iter().map(row).collect();
            Ok(table(
                &["id", "type", "status", "broadcaster", "callback", "created"],
                &rows,
            ))
        }
        SubscriptionsCommand::Delete { id } => {
            match twitch.delete_subscription(&id).await {
                Ok(()) => {}
                Err(TwitchError::NotFound(_)) => bail!("Twitch has no subscription {id}"),
                Err(e) => return Err(e).context("cannot delete the subscription"),
            }
            for mut b in ports
                .store
                .list_broadcasters()
                .await
                .context("cannot read broadcasters")?
            {
                let before = b.subscriptions.len();
                b.subscriptions.retain(|s| s.id.as_str() != id);
                if b.subscriptions.len() != before {
                    ports
                        .store
                        .put_broadcaster(&b)
                        .await
                        .context("cannot update the broadcaster")?;
                }
            }
            Ok(format!("deleted subscription {id}\n"))
        }
    }
}

fn row(s: &EventSubSubscription) -> Vec<String> {
    let broadcaster = s
        .condition
        .get("broadcaster_user_id")
        .and_then(|v| v.as_str())
        .and_then(|b| BroadcasterId::parse(b).ok());
    vec![
        s.id.clone(),
        s.kind.clone(),
        s.status.clone(),
        broadcaster.map_or_else(|| "-".into(), |b| b.to_string()),
        s.transport
            .callback
            .clone()
            .unwrap_or_else(|| s.transport.method.clone()),
        s.created_at.format("%Y-%m-%d %H:%M").to_string(),
    ]
}
