//! `hilite accounts update|pause|resume|list` on the real binary: only the options given
//! change, a bad template changes nothing, token health per platform is listed without a
//! token, and on the AWS backend (moto) each account's EventBridge Scheduler schedule follows
//! its record.

use std::process::Output;

use chrono::Utc;
use harness::backends::TestBackend;
use harness::local::{Hilite, LocalSite};
use hilite::domain::{AccountName, Platform};
use hilite::platforms::oauth::{self, TokenSet};

const BIN: &str = env!("CARGO_BIN_EXE_hilite");

#[track_caller]
fn ok(o: Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {out}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[track_caller]
fn fails(o: Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const ADD: [&str; 11] = [
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
    "youtube,tiktok,instagram",
];

fn row(list: &str, first: &str) -> String {
    list.lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row {first} in\n{list}"))
        .to_string()
}

#[tokio::test]
async fn an_account_is_updated_paused_resumed_and_lists_its_token_health() {
    let site = LocalSite::new();
    let hilite = Hilite::new(BIN, &site);
    ok(hilite.run(&ADD));
    let out = ok(hilite.run(&[
        "accounts",
        "update",
        "main",
        "--at",
        "08:30",
        "--max-per-day",
        "5",
        "--title-template",
        "{title} | {broadcaster}",
    ]));
    assert!(out.contains("updated account main"), "{out}");
    let main = row(&ok(hilite.run(&["accounts", "list"])), "main");
    for cell in [
        "Europe/Paris",
        "08:30",
        "5",
        "youtube,tiktok,instagram",
        "active",
    ] {
        assert!(
            main.split_whitespace().any(|c| c == cell),
            "{cell} not in {main}"
        );
    }

    // Refused by the command line parser (exit status 2) before anything is opened.
    let bad = hilite.run(&["accounts", "update", "main", "--title-template", "{titel}"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("{titel}") && err.contains("{title}"), "{err}");
    let err = fails(hilite.run(&["accounts", "update", "nosuch", "--at", "09:00"]));
    assert!(err.contains("no account named nosuch"), "{err}");
    assert!(row(&ok(hilite.run(&["accounts", "list"])), "main").contains("08:30"));

    ok(hilite.run(&["accounts", "pause", "main"]));
    assert!(row(&ok(hilite.run(&["accounts", "list"])), "main").contains("paused"));
    ok(hilite.run(&["accounts", "resume", "main"]));
    assert!(row(&ok(hilite.run(&["accounts", "list"])), "main").contains("active"));

    // Token health: YouTube connected, TikTok's refresh refused, Instagram never connected.
    let ports = site.ports().await;
    let account = AccountName::parse("main").unwrap();
    let now = Utc::now();
    let yt = TokenSet::new(
        "yt-secret-access",
        Some("yt-secret-refresh".into()),
        Some(7200),
        now,
    );
    oauth::store(ports.vault.as_ref(), Platform::Youtube, &account, &yt)
        .await
        .unwrap();
    let mut tt = TokenSet::new(
        "tt-secret-access",
        Some("tt-secret-refresh".into()),
        Some(60),
        now,
    );
    tt.refresh_error = Some("tiktok rejected the post: invalid_grant".into());
    oauth::store(ports.vault.as_ref(), Platform::Tiktok, &account, &tt)
        .await
        .unwrap();
    drop(ports);
    let list = ok(hilite.run(&["accounts", "list"]));
    assert!(!list.contains("secret"), "a token was shown:\n{list}");
    let health = |platform: &str| {
        list.lines()
            .find(|l| {
                let mut cells = l.split_whitespace();
                cells.next() == Some("main") && cells.next() == Some(platform)
            })
            .unwrap_or_else(|| panic!("no {platform} health in\n{list}"))
            .to_string()
    };
    let youtube = health("youtube");
    assert!(
        youtube.contains("connected") && (youtube.contains("1h5") || youtube.contains("2h00")),
        "{youtube}"
    );
    let tiktok = health("tiktok");
    assert!(
        tiktok.contains("unhealthy")
            && tiktok.contains("invalid_grant")
            && tiktok.contains("hilite auth tiktok --account main"),
        "{tiktok}"
    );
    assert!(health("instagram").contains("not connected"), "{list}");
}

#[tokio::test]
async fn on_aws_the_accounts_schedule_is_created_moved_disabled_and_deleted_with_it() {
    let b = TestBackend::aws(3).await;
    let (config, schedules) = harness::schedules::fresh_group().await;
    let mut site = LocalSite::new();
    site.extra_env = b.env.clone();
    site.extra_env.extend(harness::schedules::env(&config));
    let hilite = Hilite::new(BIN, &site);
    let name = AccountName::parse("main").unwrap();

    let out = ok(hilite.run(&ADD));
    assert!(out.contains("cron(0 17 * * ? *) in Europe/Paris"), "{out}");
    let s = schedules.get(&name).await.unwrap().expect("created");
    assert_eq!(
        (s.expression.as_str(), s.timezone.as_str(), s.enabled),
        ("cron(0 17 * * ? *)", "Europe/Paris", true)
    );
    assert_eq!(s.input, r#"{"account":"main"}"#);
    // The record is in DynamoDB, not in the local folder.
    assert!(b.ports.store.get_account(&name).await.unwrap().is_some());

    ok(hilite.run(&[
        "accounts",
        "update",
        "main",
        "--timezone",
        "Asia/Tokyo",
        "--at",
        "07:45",
    ]));
    let s = schedules.get(&name).await.unwrap().unwrap();
    assert_eq!(
        (s.expression.as_str(), s.timezone.as_str()),
        ("cron(45 7 * * ? *)", "Asia/Tokyo")
    );
    ok(hilite.run(&["accounts", "pause", "main"]));
    assert!(!schedules.get(&name).await.unwrap().unwrap().enabled);
    ok(hilite.run(&["accounts", "resume", "main"]));
    assert!(schedules.get(&name).await.unwrap().unwrap().enabled);

    ok(hilite.run(&["accounts", "remove", "main"]));
    assert_eq!(schedules.get(&name).await.unwrap(), None);
    assert!(b.ports.store.get_account(&name).await.unwrap().is_none());
}
