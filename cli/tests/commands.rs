//! The admin commands of the real `hilite` binary against a temp data folder: what they print,
//! their exit status, and that a refused command changes nothing.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::time::Duration;

use chrono::Utc;
use harness::local::{Hilite, LocalSite};
use harness::records;
use hilite::domain::{ExternalId, Subscription, SubscriptionStatus};
use hilite::queue::QueueName;

const BIN: &str = env!("CARGO_BIN_EXE_hilite");

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// A failed command: exit status 1 and one line on stderr, which is returned.
#[track_caller]
fn fails(o: Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

#[test]
fn help_describes_every_command_and_points_to_the_sample_config() {
    let site = LocalSite::new();
    let help = ok(Hilite::new(BIN, &site).run(&["--help"]));
    for command in ["init", "serve", "status", "accounts", "whitelist", "clips"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "{command} missing from:\n{help}"
        );
    }
    assert!(help.contains("HILITE_<SECTION>__<KEY>"), "{help}");
    assert!(help.contains("hilite init"), "{help}");
}

#[test]
fn init_writes_a_private_sample_and_refuses_to_overwrite_it_without_force() {
    let site = LocalSite::new();
    let hilite = Hilite::new(BIN, &site);
    let path = site.path().join("hilite.toml");
    ok(hilite.run(&["init"]));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        hilite::config::SAMPLE
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    std::fs::write(&path, "# mine\n").unwrap();
    let err = fails(hilite.run(&["init"]));
    assert!(
        err.contains("hilite.toml") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");

    ok(hilite.run(&["init", "--force"]));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        hilite::config::SAMPLE
    );
    // The written sample is a valid configuration.
    ok(hilite.run(&["--config", "hilite.toml", "status"]));
}

#[test]
fn a_corrupt_config_file_is_named_in_the_error_and_nothing_is_created() {
    let site = LocalSite::new();
    std::fs::write(site.path().join("broken.toml"), "[local\ndata_dir = 3\n").unwrap();
    let err = fails(Hilite::new(BIN, &site).run(&["--config", "broken.toml", "status"]));
    assert!(err.contains("broken.toml"), "{err}");
    assert!(
        !site.config.local.data_dir.exists(),
        "a refused start created the data folder"
    );
}

#[test]
fn a_missing_config_file_is_an_error_only_when_named() {
    let site = LocalSite::new();
    let hilite = Hilite::new(BIN, &site);
    let err = fails(hilite.run(&["--config", "absent.toml", "status"]));
    assert!(err.contains("absent.toml"), "{err}");
    ok(hilite.run(&["status"])); // no ./hilite.toml: defaults and environment
}

#[test]
fn backend_aws_without_its_table_is_refused_naming_the_key_to_set() {
    let site = LocalSite::new(); // its environment says HILITE_BACKEND=local; the flag wins
    let err = fails(Hilite::new(BIN, &site).run(&["--backend", "aws", "status"]));
    assert!(err.contains("aws.table"), "{err}");
    assert!(!site.config.local.data_dir.exists());
}

#[test]
fn accounts_add_with_a_bad_time_zone_is_refused_and_stores_nothing() {
    let site = LocalSite::new();
    let hilite = Hilite::new(BIN, &site);
    let out = hilite.run(&[
        "accounts",
        "add",
        "main",
        "--timezone",
        "Mars/Olympus",
        "--at",
        "17:00",
        "--max-per-day",
        "3",
        "--platforms",
        "youtube",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("Mars/Olympus") && err.contains("time zone"),
        "{err}"
    );
    assert!(ok(hilite.run(&["accounts", "list"])).starts_with("no accounts"));
}

#[test]
fn accounts_are_added_listed_and_removed_once() {
    let site = LocalSite::new();
    let hilite = Hilite::new(BIN, &site);
    let add = [
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
        "--broadcasters",
        "streamer_one",
        "--privacy",
        "unlisted",
    ];
    assert!(ok(hilite.run(&add)).contains("added account main"));
    let err = fails(hilite.run(&add));
    assert!(err.contains("exists"), "{err}");

    let list = ok(hilite.run(&["accounts", "list"]));
    let row = list
        .lines()
        .find(|l| l.starts_with("main"))
        .unwrap_or_else(|| panic!("{list}"));
    for cell in [
        "Europe/Paris",
        "17:00",
        "3",
        "youtube,tiktok,instagram",
        "streamer_one",
        "unlisted",
        "active",
    ] {
        assert!(
            row.split_whitespace().any(|c| c == cell),
            "{cell} not in {row}"
        );
    }

    ok(hilite.run(&["accounts", "remove", "main"]));
    assert!(fails(hilite.run(&["accounts", "remove", "main"])).contains("no account named main"));
    assert!(ok(hilite.run(&["accounts", "list"])).starts_with("no accounts"));
}

#[test]
fn whitelist_entries_are_scoped_listed_and_removed() {
    let site = LocalSite::new();
    let hilite = Hilite::new(BIN, &site);
    assert!(ok(hilite.run(&["whitelist", "list"])).contains("empty"));
    ok(hilite.run(&[
        "whitelist",
        "add",
        "501",
        "--name",
        "TrustedEditor",
        "--notes",
        "mod since 2023",
    ]));
    ok(hilite.run(&[
        "whitelist",
        "add",
        "502",
        "--name",
        "Other",
        "--broadcaster",
        "1001",
    ]));
    let list = ok(hilite.run(&["whitelist", "list"]));
    assert!(
        list.contains("501")
            && list.contains("every broadcaster")
            && list.contains("mod since 2023"),
        "{list}"
    );
    assert!(
        list.contains("502") && list.contains("broadcaster 1001"),
        "{list}"
    );

    // 502 is whitelisted for broadcaster 1001 only, not globally.
    assert!(fails(hilite.run(&["whitelist", "remove", "502"])).contains("not whitelisted"));
    ok(hilite.run(&["whitelist", "remove", "502", "--broadcaster", "1001"]));
    let list = ok(hilite.run(&["whitelist", "list"]));
    assert!(list.contains("501") && !list.contains("502"), "{list}");
    assert!(!hilite
        .run(&["whitelist", "add", "not-digits", "--name", "x"])
        .status
        .success());
}

#[tokio::test]
async fn status_and_clips_show_what_the_store_and_queues_hold() {
    let site = LocalSite::new();
    let ports = site.ports().await;
    let clip = records::clip(
        "AwkwardHelplessSalamanderSwiftRage",
        "What a play",
        Utc::now(),
    );
    ports.store.insert_clip_if_absent(&clip).await.unwrap();
    ports
        .queue
        .send(QueueName::Collect, "{}", Duration::ZERO)
        .await
        .unwrap();
    ports
        .queue
        .send(QueueName::Collect, "{}", Duration::from_secs(600))
        .await
        .unwrap();
    let mut b = records::broadcaster("1001", "streamer_one");
    b.subscriptions.push(Subscription {
        id: ExternalId::parse("f1c2a387-161a-49f9-a165-0f21d7a4e1c4").unwrap(),
        kind: "stream.offline".into(),
        status: SubscriptionStatus::Revoked,
        reason: Some("authorization_revoked".into()),
        updated_at: Utc::now(),
    });
    ports.store.put_broadcaster(&b).await.unwrap();
    let hilite = Hilite::new(BIN, &site);

    let status = ok(hilite.run(&["status"]));
    let row = |first: &str| -> Vec<String> {
        let line = status
            .lines()
            .find(|l| l.split_whitespace().next() == Some(first))
            .unwrap_or_else(|| panic!("no {first} row:\n{status}"));
        line.split_whitespace().map(str::to_string).collect()
    };
    assert_eq!(row("pending"), ["pending", "1"]);
    assert_eq!(row("failed"), ["failed", "0"]);
    assert_eq!(row("collect"), ["collect", "1", "1", "0"]);
    assert_eq!(row("publish"), ["publish", "0", "0", "0"]);
    assert!(
        row("streamer_one").contains(&"authorization_revoked".to_string()),
        "{status}"
    );

    let list = ok(hilite.run(&["clips", "list", "--status", "pending"]));
    assert!(
        list.contains("AwkwardHelplessSalamanderSwiftRage") && list.contains("What a play"),
        "{list}"
    );
    assert_eq!(
        ok(hilite.run(&["clips", "list", "--status", "failed"])),
        "no clips\n"
    );
    let shown: serde_json::Value = serde_json::from_str(&ok(hilite.run(&[
        "clips",
        "show",
        "AwkwardHelplessSalamanderSwiftRage",
    ])))
    .unwrap();
    assert_eq!(shown["status"], "pending");
    assert_eq!(shown["title"], "What a play");
    assert!(fails(hilite.run(&["clips", "show", "NoSuchClip"])).contains("no clip NoSuchClip"));
}

#[tokio::test]
async fn clips_retry_brings_a_failed_clip_back_to_its_stage_and_refuses_others() {
    use hilite::domain::{ClipStatus, Stage};
    let site = LocalSite::new();
    let ports = site.ports().await;
    let mut failed = records::clip("GaveUpOnIt", "Failed analysis", Utc::now());
    failed.status = ClipStatus::Failed;
    failed.failed_stage = Some(Stage::Analyze);
    failed.attempts.analyze = 3;
    ports.store.insert_clip_if_absent(&failed).await.unwrap();
    ports
        .store
        .insert_clip_if_absent(&records::clip("StillPending", "x", Utc::now()))
        .await
        .unwrap();
    let hilite = Hilite::new(BIN, &site);

    let said = ok(hilite.run(&["clips", "retry", "GaveUpOnIt"]));
    assert!(said.contains("analyze"), "{said}");
    let back = ports.store.get_clip(&failed.id).await.unwrap().unwrap();
    assert_eq!(
        (back.status, back.attempts.analyze, back.failed_stage),
        (ClipStatus::Downloaded, 0, None)
    );
    let queued = ports
        .queue
        .receive(QueueName::Analyze, 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert!(queued[0].body.contains("GaveUpOnIt"), "{}", queued[0].body);

    let refused = hilite.run(&["clips", "retry", "StillPending"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not failed"));
    let again = hilite.run(&["clips", "retry", "GaveUpOnIt"]);
    assert!(
        !again.status.success(),
        "a retried clip is no longer failed"
    );
    assert!(ports
        .queue
        .receive(QueueName::Analyze, 10, Duration::from_secs(60))
        .await
        .unwrap()
        .is_empty());
}

/// After fixing what failed many clips (a wrong transcription key, a full disk), one command
/// queues them all again, or only those that failed at one stage; an id and --all together,
/// or neither, is refused before anything changes.
#[tokio::test]
async fn clips_retry_all_queues_every_failed_clip_or_those_of_one_stage() {
    use hilite::domain::{ClipStatus, Stage};
    let site = LocalSite::new();
    let ports = site.ports().await;
    for (id, stage) in [
        ("EditFailedOne", Stage::Edit),
        ("EditFailedTwo", Stage::Edit),
        ("AnalyzeFailed", Stage::Analyze),
    ] {
        let mut clip = records::clip(id, "failed", Utc::now());
        clip.status = ClipStatus::Failed;
        clip.failed_stage = Some(stage);
        ports.store.insert_clip_if_absent(&clip).await.unwrap();
    }
    ports
        .store
        .insert_clip_if_absent(&records::clip("StillPending", "x", Utc::now()))
        .await
        .unwrap();
    let hilite = Hilite::new(BIN, &site);
    let status = |id: &str| {
        let ports = &ports;
        let id = hilite::domain::ClipId::parse(id.to_string()).unwrap();
        async move { ports.store.get_clip(&id).await.unwrap().unwrap().status }
    };

    for refused in [
        hilite.run(&["clips", "retry"]),
        hilite.run(&["clips", "retry", "EditFailedOne", "--all"]),
        hilite.run(&["clips", "retry", "EditFailedOne", "--stage", "edit"]),
        hilite.run(&["clips", "retry", "--all", "--stage", "publish"]),
    ] {
        assert!(!refused.status.success());
    }
    assert_eq!(status("EditFailedOne").await, ClipStatus::Failed);

    let said = ok(hilite.run(&["clips", "retry", "--all", "--stage", "edit"]));
    assert!(said.contains("2 clip(s) queued again"), "{said}");
    assert_eq!(status("EditFailedOne").await, ClipStatus::Analyzed);
    assert_eq!(status("EditFailedTwo").await, ClipStatus::Analyzed);
    assert_eq!(status("AnalyzeFailed").await, ClipStatus::Failed);
    let edits = ports
        .queue
        .receive(QueueName::Edit, 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(edits.len(), 2);

    let said = ok(hilite.run(&["clips", "retry", "--all"]));
    assert!(
        said.contains("AnalyzeFailed queued again for analyze"),
        "{said}"
    );
    assert_eq!(status("AnalyzeFailed").await, ClipStatus::Downloaded);
    assert_eq!(status("StillPending").await, ClipStatus::Pending);
    assert_eq!(
        ok(hilite.run(&["clips", "retry", "--all"])),
        "no failed clips\n"
    );
}

/// A message the embedded queue dead-lettered (a network outage outlasting its retries) comes
/// back with `hilite queues redrive`, as SQS's redrive does on AWS; an unknown queue name is
/// refused before anything moves.
#[tokio::test]
async fn queues_redrive_moves_dead_letters_back_to_their_queue() {
    let site = LocalSite::new();
    let ports = site.ports().await;
    let q = &ports.queue;
    q.send(QueueName::Collect, r#"{"window":1}"#, Duration::ZERO)
        .await
        .unwrap();
    // Received the maximum number of times (3), each time given back: the next receive
    // dead-letters it.
    for _ in 0..3 {
        let got = q
            .receive(QueueName::Collect, 1, Duration::from_secs(60))
            .await
            .unwrap();
        q.retry_after(QueueName::Collect, &got[0].receipt, Duration::ZERO)
            .await
            .unwrap();
    }
    assert!(q
        .receive(QueueName::Collect, 1, Duration::from_secs(60))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(q.depth(QueueName::Collect).await.unwrap().dead, 1);
    let hilite = Hilite::new(BIN, &site);

    let refused = hilite.run(&["queues", "redrive", "nowhere"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("unknown queue"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(q.depth(QueueName::Collect).await.unwrap().dead, 1);

    let said = ok(hilite.run(&["queues", "redrive", "collect"]));
    assert_eq!(said, "collect: 1 message(s) moved back\n");
    let depth = q.depth(QueueName::Collect).await.unwrap();
    assert_eq!((depth.visible, depth.dead), (1, 0));
    let back = q
        .receive(QueueName::Collect, 1, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        (back[0].body.as_str(), back[0].receive_count),
        (r#"{"window":1}"#, 1)
    );

    let all = ok(hilite.run(&["queues", "redrive"]));
    assert_eq!(all.lines().count(), QueueName::ALL.len(), "{all}");
    assert!(
        all.lines()
            .all(|l| l.ends_with(": 0 message(s) moved back")),
        "{all}"
    );
}
