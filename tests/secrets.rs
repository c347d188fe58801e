//! Secrets Manager at cold start, through the real path (`hilite::secrets::config_from_env`) on
//! moto: the secrets the environment names fill the same typed fields a local file would, only
//! the keys named are read, and a missing secret or key is an error that names it — while no
//! value ever shows in `Debug` output, an error or a log line.

use aws_sdk_secretsmanager::Client;
use harness::logs::Captured;
use hilite::config::Config;
use hilite::secrets::{config_from_env, LoadError};
use secrecy::ExposeSecret;

const TWITCH: &str = "twitch-client-secret-value-91c2";
const EVENTSUB: &str = "eventsub-secret-value-5be0d7f1";
const YOUTUBE: &str = "youtube-client-secret-value-a7";
const TIKTOK: &str = "tiktok-client-secret-value-3f";

async fn client() -> Client {
    Client::new(&harness::aws::sdk_config().await)
}

/// A new secret holding `value`; returns its ARN.
async fn create(client: &Client, value: &str) -> String {
    let name = format!("hilite-test-{}", uuid::Uuid::new_v4().simple());
    client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create a secret on moto")
        .arn
        .expect("secret ARN")
}

fn all_keys() -> String {
    serde_json::json!({
        "twitch_client_secret": TWITCH,
        "eventsub_secret": EVENTSUB,
        "youtube_client_secret": YOUTUBE,
        "tiktok_client_secret": TIKTOK,
        "instagram_client_secret": "",
    })
    .to_string()
}

/// Load the configuration as a function does, from exactly `vars` (plus moto's AWS variables),
/// with every log event captured. figment's `Jail` serialises the tests that set variables.
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail's closure returns figment::Result"
)]
fn load(vars: &[(&str, &str)]) -> (Result<Config, LoadError>, String) {
    harness::moto::endpoint();
    let captured = Captured::default();
    let mut loaded = None;
    figment::Jail::expect_with(|jail| {
        jail.set_env("HILITE_BACKEND", "aws");
        jail.set_env("HILITE_AWS__TABLE", "t");
        jail.set_env("HILITE_AWS__BUCKET", "b");
        for (k, v) in vars {
            jail.set_env(k, v);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        loaded = Some(tracing::subscriber::with_default(
            captured.subscriber(),
            || rt.block_on(config_from_env()),
        ));
        Ok(())
    });
    (loaded.expect("the jail ran"), captured.text())
}

fn assert_no_value_in(what: &str, text: &str) {
    for value in [TWITCH, EVENTSUB, YOUTUBE, TIKTOK] {
        assert!(
            !text.contains(value),
            "a secret value reached {what}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secrets_the_environment_names_fill_the_typed_fields_and_never_show() {
    let arn = create(&client().await, &all_keys()).await;
    let (loaded, logs) = tokio::task::spawn_blocking(move || {
        load(&[
            ("HILITE_AWS__SECRETS__TWITCH_CLIENT_SECRET", &arn),
            ("HILITE_AWS__SECRETS__EVENTSUB_SECRET", &arn),
            ("HILITE_AWS__SECRETS__PLATFORM_CLIENT_SECRETS", &arn),
        ])
    })
    .await
    .unwrap();
    let config = loaded.unwrap();
    let shown =
        |s: &Option<secrecy::SecretString>| s.as_ref().map(|s| s.expose_secret().to_string());
    assert_eq!(shown(&config.twitch.client_secret).as_deref(), Some(TWITCH));
    assert_eq!(
        shown(&config.twitch.eventsub_secret).as_deref(),
        Some(EVENTSUB)
    );
    assert_eq!(
        shown(&config.youtube.client_secret).as_deref(),
        Some(YOUTUBE)
    );
    assert_eq!(shown(&config.tiktok.client_secret).as_deref(), Some(TIKTOK));
    // An empty key leaves its platform unconfigured rather than set to "".
    assert!(config.instagram.client_secret.is_none());
    assert!(logs.contains("platform client secrets read"), "{logs}");
    assert_no_value_in("the logs", &logs);
    assert_no_value_in("Debug output", &format!("{config:?}"));
    assert_no_value_in(
        "the serialised configuration",
        &serde_json::to_string(&config).unwrap(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_gets_only_the_keys_its_environment_names() {
    let arn = create(&client().await, &all_keys()).await;
    let (loaded, _) = tokio::task::spawn_blocking(move || {
        load(&[("HILITE_AWS__SECRETS__EVENTSUB_SECRET", &arn)])
    })
    .await
    .unwrap();
    let config = loaded.unwrap();
    assert!(config.twitch.eventsub_secret.is_some());
    assert!(config.twitch.client_secret.is_none());
    assert!(config.youtube.client_secret.is_none() && config.tiktok.client_secret.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_or_key_is_an_error_naming_it_and_never_a_value() {
    let client = client().await;
    let no_twitch = create(
        &client,
        &serde_json::json!({ "twitch_client_secret": "", "eventsub_secret": EVENTSUB }).to_string(),
    )
    .await;
    let short = create(
        &client,
        &serde_json::json!({ "eventsub_secret": "short-1" }).to_string(),
    )
    .await;
    let plain = create(&client, TWITCH).await;
    let no_platform = create(
        &client,
        &serde_json::json!({ "youtube_client_secret": "" }).to_string(),
    )
    .await;
    let absent = "hilite-test-no-such-secret".to_string();
    let cases = [
        (
            "HILITE_AWS__SECRETS__TWITCH_CLIENT_SECRET",
            no_twitch.clone(),
            "twitch_client_secret",
        ),
        (
            "HILITE_AWS__SECRETS__EVENTSUB_SECRET",
            short.clone(),
            "10 to 100",
        ),
        (
            "HILITE_AWS__SECRETS__TWITCH_CLIENT_SECRET",
            plain.clone(),
            "not a JSON object",
        ),
        (
            "HILITE_AWS__SECRETS__PLATFORM_CLIENT_SECRETS",
            no_platform.clone(),
            "none of youtube_client_secret",
        ),
        (
            "HILITE_AWS__SECRETS__EVENTSUB_SECRET",
            absent.clone(),
            "secretsmanager:GetSecretValue",
        ),
    ];
    for (var, id, says) in cases {
        let (loaded, logs) = tokio::task::spawn_blocking(move || load(&[(var, &id)]))
            .await
            .unwrap();
        let err = match loaded {
            Ok(_) => panic!("{var}: loaded"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(says), "{var}: {err}");
        assert!(
            [&no_twitch, &short, &plain, &no_platform, &absent]
                .iter()
                .any(|id| err.contains(id.as_str())),
            "the error names the secret: {err}"
        );
        assert!(!err.contains("short-1"), "{err}");
        assert_no_value_in("an error", &err);
        assert_no_value_in("the logs", &logs);
    }
}

/// The render job's path (`edit-job` loads its configuration as the functions do): the secret
/// the template creates (a generated `vault_seed`, no `eventsub_secret`, the LLM key) fills the
/// LLM key, the vault key and the derived EventSub secret — none of them shown anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_shaped_secret_fills_the_llm_key_the_vault_key_and_the_eventsub_secret() {
    const SEED: &str = "q7Wm2Lx9Rt4Kp8Zs3Vn6Bd1Hf5Jc0Gy2Qe7Tu4Io9Pa3Sd8Fg1Hj6Kl5Zx2Cv";
    const LLM: &str = "llm-api-key-value-55ab";
    let client = client().await;
    let arn = create(
        &client,
        &serde_json::json!({ "vault_seed": SEED, "llm_api_key": LLM, "twitch_client_secret": "" })
            .to_string(),
    )
    .await;
    let unset = create(
        &client,
        &serde_json::json!({ "vault_seed": SEED, "llm_api_key": "" }).to_string(),
    )
    .await;
    let (loaded, logs) = tokio::task::spawn_blocking(move || {
        load(&[
            ("HILITE_LLM__API_BASE", "https://llm.example/v1"),
            ("HILITE_LLM__MODEL", "some-model"),
            ("HILITE_AWS__SECRETS__LLM_API_KEY", &arn),
            ("HILITE_AWS__SECRETS__VAULT_KEY", &arn),
            ("HILITE_AWS__SECRETS__EVENTSUB_SECRET", &arn),
        ])
    })
    .await
    .unwrap();
    let config = loaded.unwrap();
    assert_eq!(
        config.llm.api_key.as_ref().map(|k| k.expose_secret()),
        Some(LLM)
    );
    let key = config.aws.vault_key.as_ref().expect("the vault key");
    assert!(hilite::store::secret_vault::decode_key(key).is_some());
    let eventsub = config.twitch.eventsub_secret.as_ref().expect("derived");
    assert_eq!(eventsub.expose_secret().len(), 64);
    for text in [
        logs,
        format!("{config:?}"),
        serde_json::to_string(&config).unwrap(),
    ] {
        for value in [SEED, LLM, key.expose_secret(), eventsub.expose_secret()] {
            assert!(!text.contains(value), "a secret value is shown:\n{text}");
        }
    }

    // An empty LLM key is no error: a self-hosted server may need none.
    let (loaded, _) =
        tokio::task::spawn_blocking(move || load(&[("HILITE_AWS__SECRETS__LLM_API_KEY", &unset)]))
            .await
            .unwrap();
    assert!(loaded.unwrap().llm.api_key.is_none());
}
