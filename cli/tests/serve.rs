//! `hilite serve` as an operator runs it: the real binary on a temp data folder, port 0, its
//! address read from the `listening on` line. It answers its health check, stops cleanly on
//! SIGTERM, starts again on the same data, and a SIGKILL in the middle of work loses no message.

use std::time::Duration;

use harness::local::{eventually, Hilite, LocalSite};
use hilite::queue::{QueueDepth, QueueName};

const BIN: &str = env!("CARGO_BIN_EXE_hilite");
const EXIT_LIMIT: Duration = Duration::from_secs(10);

async fn get_health(url: &str) -> (u16, serde_json::Value) {
    let response = reqwest::get(url).await.expect("GET /health");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

#[tokio::test]
async fn serve_answers_health_stops_cleanly_on_sigterm_and_starts_again_on_the_same_data() {
    let site = LocalSite::new();
    let hilite = Hilite::new(BIN, &site);
    for run in 1..=2 {
        let mut server = hilite.serve(&[]);
        assert_ne!(
            server.addr.port(),
            0,
            "the announced address is the bound one"
        );
        let (status, body) = get_health(&server.url("/health")).await;
        assert_eq!(status, 200, "run {run}: {body}");
        assert_eq!(
            body,
            serde_json::json!({ "status": "ok", "backend": "local" })
        );

        server.signal(libc::SIGTERM);
        let exit = server
            .wait_for_exit(EXIT_LIMIT)
            .unwrap_or_else(|| panic!("run {run}: still running after SIGTERM:\n{}", server.log()));
        assert!(exit.success(), "run {run}: {exit:?}\n{}", server.log());
        assert!(
            server.log().contains("hilite serve stopped"),
            "{}",
            server.log()
        );
    }
    assert!(site.config.local.database_path().exists());
}

#[tokio::test]
async fn unknown_paths_are_404_and_media_needs_a_valid_signature() {
    let site = LocalSite::new();
    let server = Hilite::new(BIN, &site).serve(&[]);
    let client = reqwest::Client::new();
    let status = |path: &'static str| {
        let client = client.clone();
        let url = server.url(path);
        async move {
            client
                .get(url)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("/nope").await, 404);
    assert_eq!(status("/media/raw/Abc/source.mp4").await, 403);
    assert_eq!(
        status("/media/raw/Abc/source.mp4?expires=4102444800&sig=00").await,
        403
    );
}

/// Bodies no stage can read: whatever the stages do, these are never deleted, only
/// redelivered and finally dead-lettered, so every one can be counted at any time.
const POISON: &str = "not a message";

async fn total(ports: &hilite::backend::Ports, queues: &[QueueName]) -> u64 {
    let mut sum = 0;
    for q in queues {
        let QueueDepth {
            visible,
            in_flight,
            dead,
        } = ports.queue.depth(*q).await.expect("depth");
        sum += visible + in_flight + dead;
    }
    sum
}

#[tokio::test]
async fn a_server_killed_mid_work_loses_no_message() {
    let mut site = LocalSite::new();
    site.config.queues.visibility_timeout_secs = 1;
    site.config.queues.max_receives = 3;
    let queues = [QueueName::Download, QueueName::Analyze, QueueName::Publish];
    let ports = site.ports().await;
    for q in queues {
        for _ in 0..4 {
            ports
                .queue
                .send(q, POISON, Duration::ZERO)
                .await
                .expect("send");
        }
    }
    let sent = 12;
    let hilite = Hilite::new(BIN, &site);

    let server = hilite.serve(&[]);
    eventually(
        Duration::from_secs(30),
        "the workers to take messages",
        || async {
            let mut in_flight = 0;
            for q in queues {
                in_flight += ports.queue.depth(q).await.expect("depth").in_flight;
            }
            (in_flight > 0).then_some(())
        },
    )
    .await;
    server.signal(libc::SIGKILL);
    let mut server = server;
    assert!(server.wait_for_exit(EXIT_LIMIT).is_some());
    assert_eq!(total(&ports, &queues).await, sent, "right after the kill");

    // Restarted on the same data, the server takes them up again; unreadable as they are,
    // each ends in its dead-letter queue after three receives, and none disappears.
    let mut server = hilite.serve(&[]);
    eventually(
        Duration::from_secs(60),
        "every message to be dead-lettered",
        || async {
            let mut dead = 0;
            for q in queues {
                dead += ports.queue.depth(q).await.expect("depth").dead;
            }
            (dead == sent).then_some(())
        },
    )
    .await;
    assert_eq!(total(&ports, &queues).await, sent);
    server.signal(libc::SIGTERM);
    let exit = server.wait_for_exit(EXIT_LIMIT).expect("stops on SIGTERM");
    assert!(exit.success(), "{exit:?}\n{}", server.log());
}

#[tokio::test]
async fn serve_speaks_https_with_the_given_certificate() {
    let site = LocalSite::new();
    let (cert, key) = (site.path().join("cert.pem"), site.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        // Not a CA: rustls refuses a CA certificate used as the server's own.
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    match made {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "openssl could not make a certificate: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            // The certificate is made with the openssl command line; without it this test
            // cannot run (the plain-HTTP tests above still do).
            eprintln!("skipped: no openssl command ({e})");
            return;
        }
    }
    let mut server = Hilite::new(BIN, &site).serve(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let response = client
        .get(format!("https://{}/health", server.addr))
        .send()
        .await
        .expect("HTTPS request");
    assert_eq!(response.status().as_u16(), 200);
    let plain = reqwest::get(server.url("/health")).await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP must not be served on the TLS port"
    );
    server.signal(libc::SIGTERM);
    assert!(
        server.wait_for_exit(EXIT_LIMIT).expect("stops").success(),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn webhook_deliveries_through_serve_are_verified_and_enqueued_once() {
    use chrono::{Duration as Span, Utc};
    use harness::eventsub::{offline, online, signed, signed_with, SECRET};
    use hilite::domain::BroadcasterId;

    let mut site = LocalSite::new();
    site.config.twitch.eventsub_secret = Some(secrecy::SecretString::from(SECRET.to_string()));
    // Far in the future: the collect message stays delayed, so it can be counted exactly.
    site.config.pipeline.collect_delay_secs = 900;
    let server = Hilite::new(BIN, &site).serve(&[]);
    let client = reqwest::Client::new();
    let post = |d: harness::eventsub::Delivery| {
        let (client, url) = (client.clone(), server.url("/webhooks/twitch"));
        async move {
            client
                .post(url)
                .headers(d.headers)
                .body(d.body)
                .send()
                .await
                .expect("POST /webhooks/twitch")
                .status()
                .as_u16()
        }
    };
    let started = Utc::now() - Span::hours(2);
    assert_eq!(
        post(signed(
            "notification",
            "srv-on",
            Utc::now(),
            &online("1001", "777", started)
        ))
        .await,
        204
    );
    assert_eq!(
        post(signed(
            "notification",
            "srv-off",
            Utc::now(),
            &offline("1001")
        ))
        .await,
        204
    );
    assert_eq!(
        post(signed(
            "notification",
            "srv-off",
            Utc::now(),
            &offline("1001")
        ))
        .await,
        204,
        "replay"
    );
    assert_eq!(
        post(signed_with(
            "wrong-secret-123",
            "notification",
            "srv-x",
            Utc::now(),
            &offline("1001")
        ))
        .await,
        403
    );
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    assert_eq!(
        post(signed("notification", "srv-big", Utc::now(), &huge)).await,
        413
    );

    let ports = site.ports().await;
    let stream = ports
        .store
        .latest_stream(&BroadcasterId::parse("1001").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stream.ended_at.is_some(), "{}", server.log());
    let depth = ports.queue.depth(QueueName::Collect).await.unwrap();
    assert_eq!(
        depth.visible + depth.in_flight + depth.dead,
        1,
        "{depth:?}\n{}",
        server.log()
    );
}

#[tokio::test]
async fn a_second_serve_on_the_same_data_refuses_to_start_while_the_first_runs() {
    let site = LocalSite::new();
    let hilite = Hilite::new(BIN, &site);
    let mut first = hilite.serve(&[]);
    let second = hilite.run(&["serve"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(
        stderr.contains("another `hilite serve` is running"),
        "{stderr}"
    );
    // The first still answers, and once it is gone a new one starts.
    let (status, _) = get_health(&first.url("/health")).await;
    assert_eq!(status, 200);
    first.signal(libc::SIGKILL);
    first.wait_for_exit(EXIT_LIMIT).expect("killed");
    let mut again = hilite.serve(&[]);
    let (status, _) = get_health(&again.url("/health")).await;
    assert_eq!(status, 200);
    again.signal(libc::SIGTERM);
    assert!(again.wait_for_exit(EXIT_LIMIT).is_some());
}

/// What killed processes left is cleared when a server starts, and only that: a scratch folder
/// whose lock is free (its process is gone) and half-written media copies go; the scratch
/// folder of a process still running (its lock held) stays. The server removes its own
/// scratch folder when it stops.
#[tokio::test]
async fn a_starting_server_clears_what_killed_processes_left_and_nothing_in_use() {
    let site = LocalSite::new();
    let tmp = site.tmp_dir();
    let scratch = |name: &str| {
        let dir = tmp.join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("hilite-post-abc.mp4"), vec![0u8; 4096]).unwrap();
        std::fs::File::create(dir.join("lock")).unwrap()
    };
    drop(scratch("hilite-work-dead01"));
    let running = scratch("hilite-work-alive1");
    running.try_lock().unwrap();
    let media = site.config.local.media_dir().join("raw/Clip1");
    std::fs::create_dir_all(&media).unwrap();
    let stored = media.join("source.mp4");
    std::fs::write(&stored, b"a whole clip").unwrap();
    let half = media.join(".source.mp4.0b3c6f1e-2a4d-4c8e-9f10-1a2b3c4d5e6f.partial");
    std::fs::write(&half, b"half a cl").unwrap();

    let mut server = Hilite::new(BIN, &site).serve(&[]);

    assert!(!tmp.join("hilite-work-dead01").exists(), "{}", server.log());
    assert!(tmp.join("hilite-work-alive1/hilite-post-abc.mp4").is_file());
    assert!(!half.exists(), "{}", server.log());
    assert_eq!(std::fs::read(&stored).unwrap(), b"a whole clip");
    let own: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "hilite-work-alive1")
        .collect();
    assert!(
        own.len() == 1 && own[0].starts_with("hilite-work-"),
        "{own:?}"
    );

    server.signal(libc::SIGTERM);
    let exit = server.wait_for_exit(EXIT_LIMIT).expect("stops on SIGTERM");
    assert!(exit.success(), "{}", server.log());
    assert!(!tmp.join(&own[0]).exists(), "its own folder goes at exit");
    assert!(tmp.join("hilite-work-alive1").is_dir());
}
