//! The third token vault, `TokenVaultKey=secret`: the key derived from the `vault_seed` of a
//! Secrets Manager secret at cold start (`hilite::secrets`), AES-256-GCM in the process, items in
//! the DynamoDB table — all on moto. It runs the token-vault contract test body the other two
//! vaults run, then what is particular to it: the same seed reads at the next cold start, another
//! seed or another name does not, a token written with KMS is refused with the fix, and neither
//! the seed nor the key shows in the configuration's `Debug`.

use aws_sdk_dynamodb::types::AttributeValue;
use harness::backends::TestBackend;
use hilite::domain::TokenRef;
use hilite::store::VaultError;
use secrecy::{ExposeSecret, SecretString};

/// A fresh random seed as the template generates it: 64 letters and digits.
fn seed() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A secret holding `{"vault_seed": seed}` on moto; returns its ARN.
async fn seed_secret(seed: &str) -> String {
    let sdk = harness::aws::sdk_config().await;
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(format!("hilite-vault-{}", uuid::Uuid::new_v4().simple()))
        .secret_string(serde_json::json!({ "vault_seed": seed }).to_string())
        .send()
        .await
        .expect("create a secret on moto")
        .arn
        .expect("secret ARN")
}

/// `b` with its vault switched to the key derived from the secret `arn`, loaded as a function's
/// cold start loads it (KMS key id cleared, as the template leaves it).
async fn on_secret_key(mut b: TestBackend, arn: &str) -> TestBackend {
    b.config.aws.kms_key_id.clear();
    b.config.aws.secrets = Default::default();
    b.config.aws.secrets.vault_key = arn.to_string();
    hilite::secrets::resolve(&mut b.config)
        .await
        .expect("the vault seed resolves");
    b.ports = harness::aws::ports(&b.config).await;
    b
}

fn name(s: &str) -> TokenRef {
    TokenRef::parse(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_key_vault_keeps_the_token_vault_contract() {
    let b = TestBackend::aws(3).await;
    let arn = seed_secret(&seed()).await;
    let b = on_secret_key(b, &arn).await;
    super::tokens_round_trip_encrypted_and_can_be_deleted(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_reads_at_the_next_cold_start_and_another_seed_does_not() {
    let seed = seed();
    let b = on_secret_key(TestBackend::aws(3).await, &seed_secret(&seed).await).await;
    let n = name("youtube/main");
    b.ports
        .vault
        .put_token(&n, &SecretString::from("tok-from-the-first-start"))
        .await
        .unwrap();

    // A new cold start: the same secret, read again.
    let mut again = b.config.clone();
    again.aws.vault_key = None;
    hilite::secrets::resolve(&mut again).await.unwrap();
    let reopened = harness::aws::ports(&again).await;
    // A stack whose secret holds another seed.
    let mut other = b.config.clone();
    other.aws.vault_key = None;
    other.aws.secrets.vault_key = seed_secret(&self::seed()).await;
    hilite::secrets::resolve(&mut other).await.unwrap();
    let stranger = harness::aws::ports(&other).await;

    let back = reopened.vault.get_token(&n).await.unwrap().unwrap();
    assert_eq!(back.expose_secret(), "tok-from-the-first-start");
    let err = stranger.vault.get_token(&n).await.unwrap_err();
    assert!(
        matches!(&err, VaultError::Corrupt(x) if x == "youtube/main"),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("tok-from-the-first-start"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_copied_under_another_name_does_not_open() {
    let b = on_secret_key(TestBackend::aws(3).await, &seed_secret(&seed()).await).await;
    b.ports
        .vault
        .put_token(&name("youtube/a"), &SecretString::from("token-of-a"))
        .await
        .unwrap();
    let dynamo = aws_sdk_dynamodb::Client::new(&harness::aws::sdk_config().await);
    let mut item = dynamo
        .get_item()
        .table_name(&b.config.aws.table)
        .key("pk", AttributeValue::S("TOKEN#youtube/a".into()))
        .key("sk", AttributeValue::S("TOKEN".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the vault's item");
    item.insert("pk".into(), AttributeValue::S("TOKEN#youtube/b".into()));
    dynamo
        .put_item()
        .table_name(&b.config.aws.table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();

    let err = b
        .ports
        .vault
        .get_token(&name("youtube/b"))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, VaultError::Corrupt(x) if x == "youtube/b"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_written_with_kms_is_refused_with_the_fix_and_the_key_never_shows() {
    let b = TestBackend::aws(3).await;
    let kms_vault = b.ports.vault.clone();
    let n = name("tiktok/main");
    kms_vault
        .put_token(&n, &SecretString::from("tok-under-kms"))
        .await
        .unwrap();
    let seed = seed();
    let b = on_secret_key(b, &seed_secret(&seed).await).await;

    let err = b.ports.vault.get_token(&n).await.unwrap_err();

    assert!(matches!(err, VaultError::Misconfigured(_)), "{err:?}");
    assert!(err.to_string().contains("TokenVaultKey=kms"), "{err}");
    // Written under the secret key, a KMS vault refuses it the other way round.
    b.ports
        .vault
        .put_token(&n, &SecretString::from("tok-under-secret"))
        .await
        .unwrap();
    let err = kms_vault.get_token(&n).await.unwrap_err();
    assert!(err.to_string().contains("TokenVaultKey"), "{err}");
    let key = b.config.aws.vault_key.as_ref().expect("the derived key");
    let shown = format!(
        "{:?} {}",
        b.config,
        serde_json::to_string(&b.config).unwrap()
    );
    assert!(!shown.contains(&seed), "the seed is shown");
    assert!(!shown.contains(key.expose_secret()), "the key is shown");
}
