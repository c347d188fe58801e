//! `hilite doctor`, the real binary: on a local setup against the strict fake Twitch (a working
//! setup passes with its warnings; each missing piece is a FAIL line that says what to run, and
//! the exit status is non-zero), and on an AWS deployment made on moto the way the harness makes
//! one (complete, then with a queue, the table and a secret missing).

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use harness::backends::TestBackend;
use harness::fake_twitch::{FakeTwitch, BROADCASTER_SCOPE, CLIENT_ID, CLIENT_SECRET};
use harness::local::{Hilite, LocalSite};
use hilite::domain::Platform;
use hilite::twitch::TwitchClient;

const BIN: &str = env!("CARGO_BIN_EXE_hilite");
const CALLBACK: &str = "https://hilite.example.com/webhooks/twitch";
const EVENTSUB_SECRET: &str = "a-webhook-secret-of-some-length";

fn with_twitch(mut cmd: Command) -> Command {
    cmd.env("HILITE_TWITCH__CLIENT_ID", CLIENT_ID)
        .env("HILITE_TWITCH__CLIENT_SECRET", CLIENT_SECRET)
        .env("HILITE_TWITCH__EVENTSUB_SECRET", EVENTSUB_SECRET)
        .env("HILITE_TWITCH__CALLBACK_URL", CALLBACK);
    cmd
}

/// stdout and stderr of a finished command, and whether it succeeded.
fn outcome(o: Output) -> (bool, String) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

/// The report line about `what`, e.g. "FAIL  vault key  …".
#[track_caller]
fn line<'a>(report: &'a str, state: &str, what: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(state) && l[4..].trim_start().starts_with(what))
        .unwrap_or_else(|| panic!("no `{state} {what}` line in:\n{report}"))
}

/// A site with broadcaster streamer_one (id 1001) authorised on the fake Twitch: its user
/// token stored in the vault and its record in the state store, as `hilite auth twitch` leaves
/// them.
async fn authorised_site(fake: &FakeTwitch) -> LocalSite {
    fake.add_user("1001", "streamer_one");
    let mut site = LocalSite::new();
    fake.configure(&mut site.config);
    let ports = site.ports().await;
    let client = TwitchClient::from_config(&site.config.twitch, ports.vault.clone()).unwrap();
    let token = fake.authorize(&client, "1001", &[BROADCASTER_SCOPE]).await;
    let mut b = harness::records::broadcaster("1001", "streamer_one");
    b.token_ref = Some(token);
    ports.store.put_broadcaster(&b).await.unwrap();
    site
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_local_setup_passes_and_only_warns_about_what_is_pending() {
    let fake = FakeTwitch::start().await;
    let site = authorised_site(&fake).await;
    let hilite = Hilite::new(BIN, &site);
    let (ok, out) = outcome(
        with_twitch(hilite.command(&["subscribe", "streamer_one"]))
            .output()
            .unwrap(),
    );
    assert!(ok, "{out}");

    let (ok, report) = outcome(with_twitch(hilite.command(&["doctor"])).output().unwrap());
    assert!(ok, "{report}");
    for what in [
        "configuration",
        "data directory",
        "database",
        "ffmpeg",
        "ffprobe",
        "vault key",
        "eventsub secret",
        "twitch app",
        "broadcaster streamer_one",
    ] {
        line(&report, "ok", what);
    }
    // The fake never verifies a callback, as Twitch cannot reach this machine: pending.
    assert!(line(&report, "warn", "stream.online streamer_one").contains("HTTPS"));
    line(&report, "warn", "stream.offline streamer_one");
    line(&report, "warn", "accounts");
    assert!(!report.contains("FAIL"), "{report}");
    // It checked the token with Twitch, not just that one is stored.
    assert!(fake.count("/oauth2/validate") >= 1);
    for secret in [CLIENT_SECRET, EVENTSUB_SECRET] {
        assert!(!report.contains(secret), "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_missing_local_piece_is_a_failure_that_says_what_to_run() {
    let fake = FakeTwitch::start().await;
    let site = authorised_site(&fake).await;
    // No `hilite subscribe`; the broadcaster took the authorisation back; an account posts to
    // YouTube without a connected token.
    fake.revoke_authorization("1001");
    let mut account = harness::records::account("main", "Europe/Berlin");
    account.platforms = vec![Platform::Youtube];
    site.ports()
        .await
        .store
        .put_account(&account)
        .await
        .unwrap();

    let hilite = Hilite::new(BIN, &site);
    let (ok, report) = outcome(with_twitch(hilite.command(&["doctor"])).output().unwrap());
    assert!(!ok, "doctor must fail:\n{report}");
    assert!(line(&report, "FAIL", "broadcaster streamer_one")
        .contains("hilite auth twitch --broadcaster streamer_one"));
    for kind in ["stream.online", "stream.offline"] {
        assert!(line(&report, "FAIL", &format!("{kind} streamer_one"))
            .contains("hilite subscribe streamer_one"));
    }
    assert!(line(&report, "FAIL", "account main youtube")
        .contains("hilite auth youtube --account main"));
    // What works is still reported as working.
    line(&report, "ok", "twitch app");
    line(&report, "ok", "database");
    assert!(report.contains("check(s) failed"), "{report}");
}

/// Without `twitch.callback_url` (a streamer who has not set up the webhook yet) there is
/// nothing to subscribe, but a broken app secret or a revoked broadcaster token is still a
/// failure: doctor asks Twitch, it does not skip them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_callback_url_the_app_and_the_tokens_are_still_checked() {
    let fake = FakeTwitch::start().await;
    let site = authorised_site(&fake).await;
    fake.revoke_authorization("1001");
    let hilite = Hilite::new(BIN, &site);
    let mut cmd = with_twitch(hilite.command(&["doctor"]));
    cmd.env_remove("HILITE_TWITCH__CALLBACK_URL");
    let (ok, report) = outcome(cmd.output().unwrap());
    assert!(!ok, "doctor must fail:\n{report}");
    line(&report, "warn", "callback url");
    line(&report, "ok", "twitch app");
    assert!(line(&report, "FAIL", "broadcaster streamer_one")
        .contains("hilite auth twitch --broadcaster streamer_one"));
    assert!(!report.contains("stream.online"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_key_others_can_read_fails_and_says_how_to_fix_it() {
    let site = LocalSite::new();
    drop(site.ports().await);
    let key = site.config.local.vault_key_path();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, report) = outcome(Hilite::new(BIN, &site).run(&["doctor"]));
    assert!(!ok, "{report}");
    assert!(line(&report, "FAIL", "vault key").contains(&format!("chmod 600 {}", key.display())));
    // The checks that need the vault say they were not made, rather than passing silently.
    line(&report, "warn", "twitch, accounts");
    line(&report, "ok", "database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_that_does_not_load_is_reported_not_a_crash() {
    let site = LocalSite::new();
    std::fs::write(
        site.path().join("hilite.toml"),
        "[local]\ndata_dri = \"x\"\n",
    )
    .unwrap();
    let (ok, report) = outcome(Hilite::new(BIN, &site).run(&["doctor"]));
    assert!(!ok);
    assert!(
        line(&report, "FAIL", "configuration").contains("data_dri"),
        "{report}"
    );
}

/// The render job needs libx264 and libass from ffmpeg's build and prefers zimg's `zscale`:
/// an ffmpeg without `zscale` is a warning, one without libx264 a failure. Those ffmpegs are
/// this machine's, behind a script on PATH that leaves the names out of its listings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ffmpeg_build_without_what_the_render_job_uses_is_reported() {
    let site = LocalSite::new();
    let hilite = Hilite::new(BIN, &site);
    let (_, report) = outcome(hilite.run(&["doctor"]));
    assert!(
        line(&report, "ok", "ffmpeg build").contains("libx264, libass and zscale"),
        "{report}"
    );
    let real = which("ffmpeg");
    for (left_out, state, says) in [
        ("zscale", "warn", "swscale's area scaler"),
        ("libx264|zscale", "FAIL", "lacks the libx264 encoder"),
    ] {
        let bin = tempfile::tempdir().unwrap();
        let script = bin.path().join("ffmpeg");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh
case \"$*\" in
  *-encoders*|*-filters*) '{real}' \"$@\" | grep -v -E '^ *[^ ]+ +({left_out}) ' ;;
  *) exec '{real}' \"$@\" ;;
esac
",
                real = real.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths(
            std::iter::once(bin.path().to_path_buf())
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
        )
        .unwrap();
        let (ok, report) = outcome(
            hilite
                .command(&["doctor"])
                .env("PATH", path)
                .output()
                .unwrap(),
        );
        assert!(
            line(&report, state, "ffmpeg build").contains(says),
            "without {left_out}:\n{report}"
        );
        assert!(
            !ok || state != "FAIL",
            "doctor must fail without libx264:\n{report}"
        );
        line(&report, "ok", "ffmpeg");
    }
}

/// The first `name` on PATH.
fn which(name: &str) -> std::path::PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} on PATH (make setup)"))
}

/// `hilite --backend aws doctor` with exactly `env` (and moto's AWS variables).
fn aws_doctor(b: &TestBackend, env: &[(String, String)]) -> (bool, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["--backend", "aws", "doctor"])
        .current_dir(b.scratch());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("HILITE_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().cloned());
    outcome(cmd.output().unwrap())
}

async fn secret(b: &TestBackend, value: serde_json::Value) -> String {
    let sdk = harness::aws::sdk_config().await;
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(format!("{}-secrets", b.config.aws.table))
        .secret_string(value.to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

fn secret_env(arn: &str) -> Vec<(String, String)> {
    [
        "TWITCH_CLIENT_SECRET",
        "EVENTSUB_SECRET",
        "PLATFORM_CLIENT_SECRETS",
    ]
    .iter()
    .map(|k| (format!("HILITE_AWS__SECRETS__{k}"), arn.to_string()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_aws_deployment_passes() {
    let b = TestBackend::aws(3).await;
    let arn = secret(
        &b,
        serde_json::json!({
            "twitch_client_secret": "t-secret-value",
            "eventsub_secret": EVENTSUB_SECRET,
            "youtube_client_secret": "y-secret-value",
        }),
    )
    .await;
    let mut env = b.env.clone();
    env.extend(secret_env(&arn));
    let (ok, report) = aws_doctor(&b, &env);
    assert!(ok, "{report}");
    line(&report, "ok", "credentials");
    assert!(line(&report, "ok", &format!("table {}", b.config.aws.table)).contains("gsi1"));
    for q in ["collect", "download", "analyze", "edit", "publish"] {
        line(&report, "ok", &format!("aws.queues.{q} "));
    }
    line(&report, "ok", &format!("bucket {}", b.config.aws.bucket));
    line(&report, "ok", "vault key");
    for key in [
        "twitch_client_secret",
        "eventsub_secret",
        "platform_client_secrets",
    ] {
        line(&report, "ok", &format!("aws.secrets.{key}"));
    }
    assert!(!report.contains("y-secret-value") && !report.contains(EVENTSUB_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_aws_resource_is_named_and_fails_the_check() {
    let b = TestBackend::aws(3).await;
    // The analyze queue is deleted, the table name points nowhere, and the secret lacks the
    // Twitch client secret.
    let sdk = harness::aws::sdk_config().await;
    aws_sdk_sqs::Client::new(&sdk)
        .delete_queue()
        .queue_url(&b.config.aws.queues.analyze)
        .send()
        .await
        .unwrap();
    let arn = secret(
        &b,
        serde_json::json!({ "eventsub_secret": EVENTSUB_SECRET }),
    )
    .await;
    let mut env: Vec<(String, String)> = b
        .env
        .iter()
        .filter(|(k, _)| k != "HILITE_AWS__TABLE")
        .cloned()
        .collect();
    env.push(("HILITE_AWS__TABLE".into(), "hilite-no-such-table".into()));
    env.push((
        "HILITE_AWS__SECRETS__TWITCH_CLIENT_SECRET".into(),
        arn.clone(),
    ));
    env.push(("HILITE_AWS__SECRETS__EVENTSUB_SECRET".into(), arn.clone()));

    let (ok, report) = aws_doctor(&b, &env);
    assert!(!ok, "doctor must fail:\n{report}");
    line(&report, "FAIL", "table hilite-no-such-table");
    assert!(line(&report, "FAIL", "aws.queues.analyze").contains(&b.config.aws.queues.analyze));
    line(&report, "ok", "aws.queues.collect");
    let missing = line(&report, "FAIL", "aws.secrets.twitch_client_secret");
    assert!(
        missing.contains(&arn) && missing.contains("twitch_client_secret"),
        "{missing}"
    );
    line(&report, "ok", "aws.secrets.eventsub_secret");
    // The dead-letter queues are not in this environment: worth a warning, not a failure.
    line(&report, "warn", "aws.queues.collect_dlq");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vault_key_in_the_secret_is_checked_and_a_bad_seed_is_named_without_its_value() {
    let b = TestBackend::aws(3).await;
    let sdk = harness::aws::sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let seed = "Ab3".repeat(21) + "x";
    let short = "tooShortSeed12345";
    let mut arns = Vec::new();
    for (i, value) in [
        serde_json::json!({ "vault_seed": seed }),
        serde_json::json!({ "vault_seed": short }),
        serde_json::json!({ "twitch_client_secret": "t" }),
    ]
    .iter()
    .enumerate()
    {
        let arn = secrets
            .create_secret()
            .name(format!("{}-vault-{i}", b.config.aws.table))
            .secret_string(value.to_string())
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        arns.push(arn);
    }
    // As the template sets it with TokenVaultKey=secret: no KMS key, the secret named instead.
    let doctor = |arn: &str| {
        let mut env: Vec<(String, String)> = b
            .env
            .iter()
            .filter(|(k, _)| k != "HILITE_AWS__KMS_KEY_ID")
            .cloned()
            .collect();
        env.push(("HILITE_AWS__SECRETS__VAULT_KEY".into(), arn.to_string()));
        aws_doctor(&b, &env)
    };

    let (ok, report) = doctor(&arns[0]);
    assert!(ok, "{report}");
    assert!(
        line(&report, "ok", "vault key").contains("vault_seed"),
        "{report}"
    );
    assert!(!report.contains(&seed));

    let (ok, report) = doctor(&arns[1]);
    assert!(!ok, "{report}");
    assert!(
        line(&report, "FAIL", "vault key").contains("43 characters"),
        "{report}"
    );
    assert!(!report.contains(short));

    let (ok, report) = doctor(&arns[2]);
    assert!(!ok, "{report}");
    let missing = line(&report, "FAIL", "vault key");
    assert!(
        missing.contains("vault_seed") && missing.contains(&arns[2]),
        "{missing}"
    );
}
