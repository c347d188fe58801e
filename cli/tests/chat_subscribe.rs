//! `hilite auth twitch --chat` and `hilite subscribe LOGIN --chat` of the real binary against
//! the strict fake Twitch: without the chat grants Twitch refuses the chat subscription and the
//! command says what to run; with them, the token carries the chat scopes and
//! `channel.chat.message` is subscribed, read as the broadcaster.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use harness::fake_twitch::{FakeTwitch, CLIENT_ID, CLIENT_SECRET};
use harness::local::{Hilite, LocalSite};
use hilite::domain::BroadcasterId;
use hilite::twitch::tokens::load_user_token;

const BIN: &str = env!("CARGO_BIN_EXE_hilite");
const SECRET: &str = "a-webhook-secret-of-some-length";

fn command(hilite: &Hilite<'_>, args: &[&str]) -> Command {
    let mut cmd = hilite.command(args);
    cmd.env("HILITE_TWITCH__CLIENT_ID", CLIENT_ID)
        .env("HILITE_TWITCH__CLIENT_SECRET", CLIENT_SECRET)
        .env("HILITE_TWITCH__EVENTSUB_SECRET", SECRET)
        .env(
            "HILITE_TWITCH__CALLBACK_URL",
            "https://hilite.example.com/webhooks/twitch",
        );
    cmd
}

/// Run `hilite auth twitch ARGS` and approve its code as `user` on the fake.
async fn authorize(hilite: &Hilite<'_>, fake: &FakeTwitch, args: &[&str], user: &str) {
    let mut all = vec!["auth", "twitch"];
    all.extend_from_slice(args);
    let mut child = command(hilite, &all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hilite auth twitch");
    let stdout = child.stdout.take().expect("stdout");
    let (code_tx, code_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(after) = line.split("enter the code ").nth(1) {
                let code = after.split_whitespace().next().unwrap_or_default();
                let _ = code_tx.send(code.to_string());
            }
        }
    });
    let code = tokio::task::spawn_blocking(move || {
        code_rx.recv_timeout(std::time::Duration::from_secs(60))
    })
    .await
    .unwrap()
    .expect("hilite printed no code");
    fake.approve_device(&code, user);
    let done = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        done.status.success(),
        "hilite auth twitch failed: {}",
        String::from_utf8_lossy(&done.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_chat_needs_auth_with_chat_and_then_subscribes_channel_chat_message() {
    let fake = FakeTwitch::start().await;
    fake.add_user("1001", "streamer_one");
    let mut site = LocalSite::new();
    fake.configure(&mut site.config);
    let hilite = Hilite::new(BIN, &site);

    authorize(&hilite, &fake, &["--broadcaster", "streamer_one"], "1001").await;
    let refused = command(&hilite, &["subscribe", "streamer_one", "--chat"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("hilite auth twitch --broadcaster streamer_one --chat"),
        "{stderr}"
    );
    assert!(fake
        .subscriptions()
        .iter()
        .all(|s| s.kind != "channel.chat.message"));

    authorize(
        &hilite,
        &fake,
        &["--broadcaster", "streamer_one", "--chat"],
        "1001",
    )
    .await;
    let ports = site.ports().await;
    let broadcaster = ports
        .store
        .get_broadcaster(&BroadcasterId::parse("1001").unwrap())
        .await
        .unwrap()
        .expect("recorded");
    let set = load_user_token(&*ports.vault, &broadcaster.token_ref.unwrap())
        .await
        .unwrap()
        .expect("stored");
    for scope in [
        "channel:manage:clips",
        "user:read:chat",
        "user:bot",
        "channel:bot",
    ] {
        assert!(set.has_scope(scope), "{scope}");
    }
    drop(ports);

    let out = command(&hilite, &["subscribe", "streamer_one", "--chat"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("channel.chat.message"), "{stdout}");
    let chat: Vec<_> = fake
        .subscriptions()
        .into_iter()
        .filter(|s| s.kind == "channel.chat.message")
        .collect();
    assert_eq!(chat.len(), 1);
    assert_eq!(chat[0].condition["broadcaster_user_id"], "1001");
    assert_eq!(chat[0].condition["user_id"], "1001");
}
