//! The Twitch commands of the real `hilite` binary against the strict fake Twitch: `auth
//! twitch` (device code flow, token stored encrypted, broadcaster recorded), `subscribe`
//! (settings checked before calling Twitch, both subscriptions recorded) and `subscriptions
//! list|delete`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use harness::fake_twitch::{FakeTwitch, CLIENT_ID, CLIENT_SECRET};
use harness::local::{Hilite, LocalSite};
use hilite::domain::{BroadcasterId, SubscriptionStatus};
use hilite::twitch::tokens::load_user_token;

const BIN: &str = env!("CARGO_BIN_EXE_hilite");
const CALLBACK: &str = "https://hilite.example.com/webhooks/twitch";

/// `hilite ARGS` with the fake's credentials and the EventSub settings in the environment.
fn command(hilite: &Hilite<'_>, args: &[&str], secret: &str) -> Command {
    let mut cmd = hilite.command(args);
    cmd.env("HILITE_TWITCH__CLIENT_ID", CLIENT_ID)
        .env("HILITE_TWITCH__CLIENT_SECRET", CLIENT_SECRET)
        .env("HILITE_TWITCH__EVENTSUB_SECRET", secret)
        .env("HILITE_TWITCH__CALLBACK_URL", CALLBACK);
    cmd
}

#[track_caller]
fn ok(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {out}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_then_subscribe_then_list_and_delete() {
    let fake = FakeTwitch::start().await;
    fake.add_user("1001", "streamer_one");
    let mut site = LocalSite::new();
    fake.configure(&mut site.config);
    let hilite = Hilite::new(BIN, &site);
    let secret = "a-webhook-secret-of-some-length";

    // auth: the code is printed, the user approves it on Twitch, the command stores the token.
    let mut child = command(
        &hilite,
        &["auth", "twitch", "--broadcaster", "streamer_one"],
        secret,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn hilite auth twitch");
    let stdout = child.stdout.take().expect("stdout");
    // Read stdout on a thread: the code comes first, the rest once the user has answered.
    let (code_tx, code_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(after) = line.split("enter the code ").nth(1) {
                let _ = code_tx.send(
                    after
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });
    let code = tokio::task::spawn_blocking(move || {
        code_rx.recv_timeout(std::time::Duration::from_secs(60))
    })
    .await
    .unwrap()
    .expect("hilite printed no code");
    fake.approve_device(&code, "1001");
    let done = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let rest = reader.join().expect("stdout reader");
    let logs = String::from_utf8_lossy(&done.stderr).into_owned();
    assert!(done.status.success(), "hilite auth twitch failed: {logs}");
    assert!(
        rest.contains("stored streamer_one's token as twitch/user/1001"),
        "{rest}"
    );

    let ports = site.ports().await;
    let broadcaster = ports
        .store
        .get_broadcaster(&BroadcasterId::parse("1001").unwrap())
        .await
        .unwrap()
        .expect("the broadcaster is recorded");
    let token_ref = broadcaster
        .token_ref
        .clone()
        .expect("with the token's name");
    assert_eq!(
        (token_ref.as_str(), broadcaster.token_user_id.clone()),
        ("twitch/user/1001", None)
    );
    let set = load_user_token(&*ports.vault, &token_ref)
        .await
        .unwrap()
        .expect("the token is in the vault");
    assert!(set.has_scope("channel:manage:clips"));
    drop(ports);

    // subscribe: a secret Twitch would refuse is refused before any call.
    let before = fake.count("/helix/eventsub/subscriptions");
    let out = command(&hilite, &["subscribe", "streamer_one"], "short")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(fake.count("/helix/eventsub/subscriptions"), before);
    let out = ok(&command(&hilite, &["subscribe", "streamer_one"], secret)
        .output()
        .unwrap());
    assert!(
        out.contains("stream.online") && out.contains("stream.offline"),
        "{out}"
    );
    assert_eq!(fake.subscriptions().len(), 2);
    assert!(fake.subscriptions().iter().all(|s| s.callback == CALLBACK));
    // Again: 409 from Twitch is fine, nothing is duplicated.
    ok(&command(&hilite, &["subscribe", "streamer_one"], secret)
        .output()
        .unwrap());
    assert_eq!(fake.subscriptions().len(), 2);
    let ports = site.ports().await;
    let recorded = ports
        .store
        .get_broadcaster(&broadcaster.id)
        .await
        .unwrap()
        .unwrap()
        .subscriptions;
    assert_eq!(recorded.len(), 2);
    assert!(recorded
        .iter()
        .all(|s| s.status == SubscriptionStatus::Pending));
    drop(ports);

    // list and delete.
    let listed = ok(&command(&hilite, &["subscriptions", "list"], secret)
        .output()
        .unwrap());
    let id = fake.subscriptions()[0].id.clone();
    assert!(
        listed.contains(&id) && listed.contains(CALLBACK),
        "{listed}"
    );
    ok(&command(&hilite, &["subscriptions", "delete", &id], secret)
        .output()
        .unwrap());
    assert_eq!(fake.subscriptions().len(), 1);
    let out = command(&hilite, &["subscriptions", "delete", &id], secret)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "deleting twice is an error");
    let ports = site.ports().await;
    assert_eq!(
        ports
            .store
            .get_broadcaster(&broadcaster.id)
            .await
            .unwrap()
            .unwrap()
            .subscriptions
            .len(),
        1
    );

    // Nothing printed or logged shows a token.
    for text in [&rest, &logs, &listed] {
        assert!(
            !text.contains(set.expose_access_token())
                && !text.contains(set.expose_refresh_token().unwrap()),
            "{text}"
        );
    }
}
