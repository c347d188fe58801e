//! The token vault: tokens round-trip, are replaced and deleted, and are encrypted at rest (the
//! plaintext is nowhere in the backing store's raw records). The same body also runs against the
//! Secrets Manager-derived key in `vault_secret`.

use harness::backends::TestBackend;
use hilite::domain::*;
use secrecy::{ExposeSecret, SecretString};

harness::on_both_backends!(tokens_round_trip_encrypted_and_can_be_deleted);

pub(crate) async fn tokens_round_trip_encrypted_and_can_be_deleted(b: TestBackend) {
    let vault = &b.ports.vault;
    let name = TokenRef::parse("twitch/broadcaster/3003").unwrap();
    let secret = r#"{"access_token":"tok-very-secret-1234","refresh_token":"ref-5678"}"#;
    assert!(vault.get_token(&name).await.unwrap().is_none());
    vault
        .put_token(&name, &SecretString::from(secret.to_string()))
        .await
        .unwrap();
    assert_eq!(
        vault
            .get_token(&name)
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        secret,
        "[{}]",
        b.kind
    );
    let rotated = r#"{"access_token":"tok-2","refresh_token":"ref-rotated"}"#;
    vault
        .put_token(&name, &SecretString::from(rotated.to_string()))
        .await
        .unwrap();
    assert_eq!(
        vault
            .get_token(&name)
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        rotated
    );
    let other = TokenRef::parse("youtube/main").unwrap();
    assert!(vault.get_token(&other).await.unwrap().is_none());
    vault.delete_token(&name).await.unwrap();
    assert!(vault.get_token(&name).await.unwrap().is_none());
    vault.delete_token(&name).await.unwrap();
    // Encrypted at rest: the plaintext is nowhere in the backing store's raw records.
    assert!(
        !harness::raw::store_contains(&b, "tok-2").await,
        "[{}] a token is stored in clear",
        b.kind
    );
}
