//! A quick check that the moto harness works and each AWS adapter reaches its service through
//! it: one operation per adapter, plus the store's own table check. The behaviour itself is
//! specified by the contract suite (`contract.rs`), which runs on both backends.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use harness::aws::{fresh_resources, ports, sdk_config};
use hilite::domain::{ClipStatus, MediaKey, Stream, TokenRef, Transition};
use hilite::queue::QueueName;
use hilite::store::dynamo::DynamoStore;
use hilite::store::{StateStore, StoreError};
use secrecy::{ExposeSecret, SecretString};

#[tokio::test]
async fn each_aws_adapter_works_against_moto() {
    let config = fresh_resources(3).await;
    let p = ports(&config).await;
    let at = Utc.with_ymd_and_hms(2025, 3, 1, 17, 0, 0).unwrap();

    // DynamoDB: the table is recognised, and a clip moves by a conditional write.
    p.store
        .ready()
        .await
        .expect("the fresh table has the expected schema");
    let clip = harness::records::clip("SmokeClip", "smoke", at);
    assert!(p.store.insert_clip_if_absent(&clip).await.unwrap());
    let t = Transition::new(ClipStatus::Pending, ClipStatus::Downloaded).unwrap();
    let moved = p
        .store
        .transition_clip(&clip.id, t, Default::default(), at)
        .await
        .unwrap();
    assert_eq!(moved.status, ClipStatus::Downloaded);
    let again = p
        .store
        .transition_clip(&clip.id, t, Default::default(), at)
        .await
        .unwrap_err();
    assert!(again.is_conflict(), "{again}");

    // A transaction with a condition (the stream guard) on moto.
    let stream = Stream {
        broadcaster_id: "1001".parse().unwrap(),
        stream_id: "s-1".parse().unwrap(),
        started_at: at,
        ended_at: None,
    };
    assert!(p.store.open_stream(&stream).await.unwrap());
    let repeated = Stream {
        started_at: at + chrono::Duration::seconds(5),
        ..stream.clone()
    };
    assert!(!p.store.open_stream(&repeated).await.unwrap());
    assert_eq!(
        p.store.latest_stream(&stream.broadcaster_id).await.unwrap(),
        Some(stream)
    );

    // KMS + DynamoDB: a token round-trips through envelope encryption.
    let name = TokenRef::parse("twitch/broadcaster/1001").unwrap();
    let secret = SecretString::from("smoke-token-value".to_string());
    p.vault.put_token(&name, &secret).await.unwrap();
    let back = p
        .vault
        .get_token(&name)
        .await
        .unwrap()
        .expect("the token was stored");
    assert_eq!(back.expose_secret(), "smoke-token-value");

    // SQS: a message is delivered with its receive count, and deleted.
    p.queue
        .send(
            QueueName::Download,
            "{\"clip\":\"SmokeClip\"}",
            Duration::ZERO,
        )
        .await
        .unwrap();
    let got = p
        .queue
        .receive(QueueName::Download, 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].body.as_str(), got[0].receive_count),
        ("{\"clip\":\"SmokeClip\"}", 1)
    );
    p.queue
        .delete(QueueName::Download, &got[0].receipt)
        .await
        .unwrap();
    assert_eq!(
        p.queue.depth(QueueName::Download).await.unwrap(),
        Default::default()
    );

    // S3: a file over the single-put threshold goes up in parts and comes back identical.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("source.bin");
    let data: Vec<u8> = (0..(20 * 1024 * 1024 + 123))
        .map(|i: u32| (i % 251) as u8)
        .collect();
    std::fs::write(&src, &data).unwrap();
    let key = MediaKey::parse("raw/SmokeClip/source.mp4").unwrap();
    assert_eq!(
        p.media.put_file(&key, &src, "video/mp4").await.unwrap(),
        data.len() as u64
    );
    assert_eq!(p.media.size(&key).await.unwrap(), Some(data.len() as u64));
    let out = dir.path().join("back.bin");
    assert_eq!(
        p.media.get_to_file(&key, &out).await.unwrap(),
        data.len() as u64
    );
    assert!(
        std::fs::read(&out).unwrap() == data,
        "the downloaded file differs"
    );
    let url = p
        .media
        .presign_get(&key, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(url.query().is_some_and(|q| q.contains("X-Amz-Signature")));
}

#[tokio::test]
async fn a_missing_table_is_reported_as_misconfigured_by_name() {
    let sdk = sdk_config().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        "hilite-no-such-table".into(),
    );
    let err = store.ready().await.unwrap_err();
    assert!(matches!(err, StoreError::Misconfigured(_)), "{err:?}");
    assert!(err.to_string().contains("hilite-no-such-table"), "{err}");
}

#[tokio::test]
async fn a_table_without_the_index_is_refused_by_the_readiness_check() {
    let sdk = sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let name = format!("hilite-noindex-{}", uuid::Uuid::new_v4().simple());
    let mut schema = harness::aws::table_schema();
    schema.indexes.clear();
    schema.attributes.truncate(2);
    harness::aws::create_table(&client, &name, &schema).await;
    let err = DynamoStore::new(client, name.clone())
        .ready()
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Misconfigured(_)), "{err:?}");
    assert!(err.to_string().contains("gsi1"), "{err}");
}

#[tokio::test]
async fn a_token_is_stored_sealed_and_does_not_open_under_another_name() {
    use aws_sdk_dynamodb::types::AttributeValue;

    let config = fresh_resources(3).await;
    let p = ports(&config).await;
    let name = TokenRef::parse("youtube/main").unwrap();
    let secret = "ya29.sealed-token-value";
    p.vault
        .put_token(&name, &SecretString::from(secret.to_string()))
        .await
        .unwrap();

    let dynamo = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let key = |n: &str| AttributeValue::S(format!("TOKEN#{n}"));
    let mut item = dynamo
        .get_item()
        .table_name(&config.aws.table)
        .key("pk", key("youtube/main"))
        .key("sk", AttributeValue::S("TOKEN".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the token item");
    for attr in ["data_key", "nonce", "ciphertext"] {
        let Some(AttributeValue::B(bytes)) = item.get(attr) else {
            panic!("{attr} is not binary")
        };
        let bytes = bytes.as_ref();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{attr} holds the secret"
        );
    }

    // The same sealed record copied under another name is refused, not opened.
    item.insert("pk".into(), key("youtube/other"));
    dynamo
        .put_item()
        .table_name(&config.aws.table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    let other = TokenRef::parse("youtube/other").unwrap();
    let err = p.vault.get_token(&other).await.unwrap_err();
    assert!(
        matches!(err, hilite::store::VaultError::Corrupt(_)),
        "{err:?}"
    );
    assert!(!format!("{err:?} {err}").contains(secret));
}
