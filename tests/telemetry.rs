//! Secrets never reach a log line. Every log event emitted while tokens are stored, read,
//! found corrupt, and while signed webhooks (the secret) are verified and refused, is captured
//! at TRACE level and searched for the secret values.

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use harness::backends::TestBackend;
use harness::eventsub::{offline, signed, signed_with, SECRET};
use hilite::domain::TokenRef;
use hilite::pipeline::webhook::{handle_webhook, WebhookSettings};
use secrecy::{ExposeSecret, SecretString};

const TOKEN: &str = "oauth-token-that-must-never-be-logged-7f3a9c";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn tokens_and_the_eventsub_secret_never_appear_in_logs() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .json()
        .with_writer(move || sink.clone())
        .finish();
    // A current-thread runtime, so every event of the test goes to this subscriber.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let b = TestBackend::embedded(3).await;
            let name = TokenRef::parse("twitch/user/1001").unwrap();
            b.ports
                .vault
                .put_token(&name, &SecretString::from(TOKEN.to_string()))
                .await
                .unwrap();
            let back = b.ports.vault.get_token(&name).await.unwrap().unwrap();
            assert_eq!(back.expose_secret(), TOKEN);
            tracing::info!(token = ?back, "a token value passed to a log macro by mistake");

            let settings = WebhookSettings {
                secret: SecretString::from(SECRET.to_string()),
                collect_delay: std::time::Duration::ZERO,
            };
            for d in [
                signed("notification", "tel-1", Utc::now(), &offline("1001")),
                signed_with(
                    "some-other-secret-xyz",
                    "notification",
                    "tel-2",
                    Utc::now(),
                    &offline("1001"),
                ),
                signed("notification", "tel-3", Utc::now(), "{not json"),
            ] {
                handle_webhook(&b.ports, &settings, &d.headers, &d.body).await;
            }
            let mut config = hilite::config::Config::default();
            config.twitch.client_secret = Some(SecretString::from(TOKEN.to_string()));
            tracing::info!(config = ?config, "effective configuration");
        })
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("refused a webhook delivery"),
        "the capture saw nothing: {logs}"
    );
    assert!(logs.contains("effective configuration"));
    for secret in [TOKEN, SECRET] {
        assert!(!logs.contains(secret), "a secret reached the logs:\n{logs}");
    }
}
