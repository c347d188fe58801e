//! Media storage: a 200 MB round trip in bounded memory (in a child process that reports its
//! peak RSS), sizing, replacing and deleting, and presigned URLs that serve a file until they
//! expire and refuse tampering, and a folder listed in key order from a given key.

use std::time::Duration;

use harness::backends::TestBackend;
use hilite::domain::*;

harness::on_both_backends!(
    media_round_trip_of_200_mb_keeps_memory_bounded,
    media_can_be_sized_and_deleted,
    a_presigned_url_serves_the_file_until_it_expires,
    a_folder_is_listed_in_key_order_from_a_key,
);

async fn media_round_trip_of_200_mb_keeps_memory_bounded(b: TestBackend) {
    let report =
        harness::media::round_trip_in_child(env!("CARGO_BIN_EXE_media-roundtrip"), &b, 200).await;
    eprintln!("[{}] 200 MB media round trip: {report}", b.kind);
    assert!(
        report.identical,
        "[{}] the file came back different",
        b.kind
    );
    assert_eq!(report.bytes, 200 * 1024 * 1024);
    // Bounded means far below the file's size: a copy held in memory would need 200 MB.
    assert!(
        report.peak_rss_mib < 96.0,
        "[{}] peak RSS {:.1} MiB",
        b.kind,
        report.peak_rss_mib
    );
}

async fn media_can_be_sized_and_deleted(b: TestBackend) {
    let media = &b.ports.media;
    let key = MediaKey::parse("raw/SizeMe/source.mp4").unwrap();
    assert_eq!(media.size(&key).await.unwrap(), None);
    let src = b.scratch().join("small.bin");
    std::fs::write(&src, b"0123456789").unwrap();
    assert_eq!(media.put_file(&key, &src, "video/mp4").await.unwrap(), 10);
    assert_eq!(media.size(&key).await.unwrap(), Some(10), "[{}]", b.kind);
    std::fs::write(&src, b"replaced").unwrap();
    media.put_file(&key, &src, "video/mp4").await.unwrap();
    let out = b.scratch().join("out.bin");
    assert_eq!(media.get_to_file(&key, &out).await.unwrap(), 8);
    assert_eq!(std::fs::read(&out).unwrap(), b"replaced");
    media.delete(&key).await.unwrap();
    media.delete(&key).await.unwrap();
    assert_eq!(media.size(&key).await.unwrap(), None);
    let err = media.get_to_file(&key, &out).await.unwrap_err();
    assert!(
        matches!(err, hilite::media::MediaError::NotFound(_)),
        "[{}] {err}",
        b.kind
    );
}

/// What the chat log reader relies on: only the folder's own objects, in key order, from the
/// first after `after`, at most `limit`.
async fn a_folder_is_listed_in_key_order_from_a_key(b: TestBackend) {
    let media = &b.ports.media;
    let src = b.scratch().join("line.jsonl.gz");
    std::fs::write(&src, b"x").unwrap();
    for name in [
        "chat/7/2026-11-21/1763700030-b.jsonl.gz",
        "chat/7/2026-11-21/1763700000-a.jsonl.gz",
        "chat/7/2026-11-21/1763700060-c.jsonl.gz",
        "chat/7/2026-11-21/1763700090-d.jsonl.gz",
        "chat/7/2026-11-22/1763800000-e.jsonl.gz",
    ] {
        let key = MediaKey::parse(name).unwrap();
        media
            .put_file(&key, &src, "application/gzip")
            .await
            .unwrap();
    }
    let names = |keys: Vec<MediaKey>| -> Vec<String> {
        keys.iter()
            .map(|k| k.as_str().rsplit('/').next().unwrap().to_string())
            .collect()
    };
    let folder = "chat/7/2026-11-21/";
    let all = media.list(folder, None, 10).await.unwrap();
    assert_eq!(
        names(all),
        [
            "1763700000-a.jsonl.gz",
            "1763700030-b.jsonl.gz",
            "1763700060-c.jsonl.gz",
            "1763700090-d.jsonl.gz"
        ],
        "[{}]",
        b.kind
    );
    let from = media
        .list(folder, Some("chat/7/2026-11-21/1763700030"), 2)
        .await
        .unwrap();
    assert_eq!(
        names(from),
        ["1763700030-b.jsonl.gz", "1763700060-c.jsonl.gz"],
        "[{}]",
        b.kind
    );
    let after_last = media
        .list(folder, Some("chat/7/2026-11-21/1763700090-d.jsonl.gz"), 10)
        .await
        .unwrap();
    assert!(after_last.is_empty(), "[{}] {after_last:?}", b.kind);
}

async fn a_presigned_url_serves_the_file_until_it_expires(b: TestBackend) {
    let media = &b.ports.media;
    let key = MediaKey::parse("shorts/Presigned/short.mp4").unwrap();
    let src = b.scratch().join("short.mp4");
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &body).unwrap();
    media.put_file(&key, &src, "video/mp4").await.unwrap();
    let url = media
        .presign_get(&key, Duration::from_secs(2))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let resp = http.get(url.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 200, "[{}]", b.kind);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), body.as_slice());
    // Tampering with the URL is refused.
    let tampered = url.as_str().replace("Presigned", "Presignee");
    // S3 answers a forged signature with 403 (moto, which skips signature checks, with 404 for
    // the other key); either way the file is not served.
    let status = http.get(&tampered).send().await.unwrap().status().as_u16();
    assert!(
        matches!(status, 403 | 404),
        "[{}] tampered URL answered {status}",
        b.kind
    );
    if b.kind == "aws" {
        // moto does not enforce `X-Amz-Expires` (S3 does, with 403 "Request has expired"), so
        // on this backend the test checks that the URL carries the signed two-second limit.
        let expires = url
            .query_pairs()
            .find(|(k, _)| k == "X-Amz-Expires")
            .map(|(_, v)| v.into_owned());
        assert_eq!(expires.as_deref(), Some("2"), "[{}] {url}", b.kind);
        return;
    }
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        http.get(url).send().await.unwrap().status(),
        403,
        "[{}] served after expiry",
        b.kind
    );
}
