//! The publishing commands: `hilite publish --account NAME --now` (run a plan at once),
//! `hilite posts list` (every post with its URL or error) and `hilite auth youtube|tiktok|
//! instagram --account NAME` (authorization code with PKCE; the code comes back to a loopback
//! redirect, or is pasted when the redirect URI is not on this machine). The work itself is in
//! `hilite::pipeline::{plan, publish}` and `hilite::platforms::oauth`.

use std::fmt::Write as _;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use hilite::backend::Ports;
use hilite::config::Config;
use hilite::domain::{AccountName, ClipId, Platform};
use hilite::pipeline::plan::plan;
use hilite::pipeline::publish::Platforms;
use hilite::platforms::oauth::{self, OAuthClient, Pkce};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The account whose plan to run.
    #[arg(long, value_name = "NAME")]
    pub account: AccountName,
    /// Run the plan now instead of at the account's scheduled time.
    #[arg(long)]
    pub now: bool,
}

#[derive(Debug, Subcommand)]
pub enum PostsCommand {
    /// Every post with its platform URL or its error.
    List {
        #[arg(long, value_name = "NAME")]
        account: Option<AccountName>,
        #[arg(long, value_name = "ID")]
        clip: Option<ClipId>,
    },
}

#[derive(Debug, Args)]
pub struct AuthPlatform {
    /// The publishing account to connect.
    #[arg(long, value_name = "NAME")]
    pub account: AccountName,
    /// The redirect URI registered with the platform. A loopback `http://127.0.0.1:PORT/…`
    /// is served here; any other (TikTok and Instagram want HTTPS) is opened in your browser
    /// and you paste the address it lands on.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:8765/callback"
    )]
    pub redirect_uri: Url,
}

/// `hilite publish --account NAME --now`.
pub async fn publish_now(
    config: &Config,
    ports: &Ports,
    args: PublishArgs,
) -> anyhow::Result<String> {
    if !args.now {
        bail!(
            "plans run on the account's schedule under `hilite serve`; pass --now to run one now"
        );
    }
    let platforms = Platforms::from_config(config).context("cannot build the platform clients")?;
    let report = plan(ports, &platforms, &args.account, ports.clock.now()).await?;
    Ok(format!("{}\n", serde_json::to_string_pretty(&report)?))
}

/// `hilite posts list`.
pub async fn posts(ports: &Ports, cmd: PostsCommand) -> anyhow::Result<String> {
    let PostsCommand::List { account, clip } = cmd;
    let mut out = String::new();
    for p in ports
        .store
        .list_publications(clip.as_ref(), account.as_ref())
        .await?
    {
        let detail = p
            .platform_url
            .clone()
            .filter(|u| !u.is_empty())
            .or(p.platform_video_id.clone())
            .or(p.last_error.clone())
            .unwrap_or_default();
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            p.key.clip_id,
            p.key.account,
            p.key.platform,
            p.status.as_str(),
            detail
        )?;
    }
    Ok(out)
}

/// `hilite auth youtube|tiktok|instagram --account NAME`.
pub async fn auth(
    config: &Config,
    ports: &Ports,
    platform: Platform,
    args: AuthPlatform,
) -> anyhow::Result<()> {
    let platform_config = match platform {
        Platform::Youtube => &config.youtube,
        Platform::Tiktok => &config.tiktok,
        Platform::Instagram => &config.instagram,
    };
    if platform_config.client_id.is_empty() {
        bail!("{platform}.client_id is not configured");
    }
    let client = OAuthClient::from_config(platform, platform_config.clone())?;
    let pkce = Pkce::generate();
    let state = Pkce::generate().verifier;
    let url = client.authorize_url(&args.redirect_uri, &state, &pkce);
    eprintln!("Open this address, sign in as the {platform} account for {}, and allow HiLite:\n\n  {url}\n", args.account);
    let landed = if is_loopback(&args.redirect_uri) {
        wait_for_redirect(&args.redirect_uri).await?
    } else {
        paste_redirect().await?
    };
    let query: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
    if query.get("state") != Some(&state) {
        bail!("the redirect does not carry this session's state; start again");
    }
    let code = query.get("code").with_context(|| {
        format!(
            "no code in the redirect ({})",
            query.get("error").map_or("", String::as_str)
        )
    })?;
    let set = client
        .exchange_code(code, &pkce.verifier, &args.redirect_uri, ports.clock.now())
        .await?;
    oauth::store(ports.vault.as_ref(), platform, &args.account, &set).await?;
    eprintln!(
        "{platform} connected for {} (token expires {:?})",
        args.account, set.expires_at
    );
    Ok(())
}

fn is_loopback(u: &Url) -> bool {
    u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

/// Serve one request on the loopback redirect and return the URL it asked for.
async fn wait_for_redirect(redirect: &Url) -> anyhow::Result<Url> {
    let port = redirect.port_or_known_default().unwrap_or(80);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    loop {
        let (mut sock, _) = listener.accept().await?;
        let mut buf = vec![0u8; 8192];
        let n = sock.read(&mut buf).await?;
        let head = String::from_utf8_lossy(&buf[..n]);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("/");
        let landed = redirect.join(target)?;
        if landed.path() != redirect.path() {
            sock.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await?;
            continue;
        }
        let body = "HiLite is connected. You can close this tab.";
        sock.write_all(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await?;
        return Ok(landed);
    }
}

async fn paste_redirect() -> anyhow::Result<Url> {
    eprintln!("Paste the full address your browser landed on, then press Enter:");
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await??;
    Url::parse(line.trim()).context("that is not a URL")
}
