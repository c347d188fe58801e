use std::sync::Arc;

use chrono::{Duration as Span, TimeZone};

use super::*;
use crate::config::Config;

fn note(broadcaster: &str, id: &str, at: DateTime<Utc>, text: &str) -> ChatNote {
    ChatNote {
        broadcaster_id: BroadcasterId::parse(broadcaster).unwrap(),
        line: ChatLine {
            id: id.into(),
            at,
            text: text.into(),
            emote_ids: Vec::new(),
        },
    }
}

async fn local_ports(dir: &std::path::Path) -> Ports {
    let mut config = Config::default();
    config.local.data_dir = dir.join("data");
    Ports::from_config(&config).await.unwrap()
}

fn quick(max: usize) -> ChatConfig {
    ChatConfig {
        batch_max_messages: max,
        batch_linger_ms: 50,
        ..ChatConfig::default()
    }
}

#[test]
fn the_defaults_are_valid_and_bad_values_name_their_key() {
    assert_eq!(ChatConfig::default().validate(), Ok(()));
    let mut c = ChatConfig::default();
    c.moments.max_secs = 90.0;
    assert_eq!(c.validate().unwrap_err().0, "chat.moments.max_secs");
    let mut c = ChatConfig::default();
    c.moments.min_secs = 2.0;
    assert_eq!(c.validate().unwrap_err().0, "chat.moments.min_secs");
    let c = ChatConfig {
        batch_max_messages: 0,
        ..ChatConfig::default()
    };
    assert_eq!(c.validate().unwrap_err().0, "chat.batch_max_messages");
}

#[test]
fn an_object_key_names_its_bucket() {
    let b = BroadcasterId::parse("1001").unwrap();
    let day = Utc
        .with_ymd_and_hms(2026, 11, 21, 6, 0, 0)
        .unwrap()
        .date_naive();
    assert_eq!(day_folder(&b, day), "chat/1001/2026-11-21/");
    let key = MediaKey::parse("chat/1001/2026-11-21/1763704800-0af3.jsonl.gz").unwrap();
    assert_eq!(bucket_of(&key), Some(1_763_704_800));
    for other in [
        "raw/x/source.mp4",
        "chat/1001/2026-11-21/notanumber-1.jsonl.gz",
    ] {
        assert_eq!(bucket_of(&MediaKey::parse(other).unwrap()), None, "{other}");
    }
}

#[test]
fn a_queue_message_is_read_strictly() {
    let at = Utc.with_ymd_and_hms(2026, 11, 21, 6, 0, 0).unwrap();
    let n = note("1001", "m-1", at, "KEKW");
    let body = crate::pipeline::messages::encode(&n);
    assert_eq!(
        crate::pipeline::messages::parse::<ChatNote>(&body).unwrap(),
        n
    );
    let extra = body.replacen("{", "{\"x\":1,", 1);
    assert!(crate::pipeline::messages::parse::<ChatNote>(&extra).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_bounded_batches_and_read_back_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let ports = local_ports(dir.path()).await;
    let sink = Arc::new(ChatSink::default());
    let config = quick(100);
    let start = Utc.with_ymd_and_hms(2026, 11, 21, 6, 0, 30).unwrap();
    // 450 messages over two minute buckets, 50 of them delivered twice.
    let mut notes: Vec<ChatNote> = (0..450)
        .map(|i| {
            let at = start + Span::milliseconds(i * 200);
            note("1001", &format!("m-{i}"), at, "lol")
        })
        .collect();
    notes.extend(notes[..50].to_vec());
    let tasks: Vec<_> = notes
        .into_iter()
        .map(|n| {
            let (sink, ports, config) = (sink.clone(), ports.clone(), config.clone());
            tokio::spawn(async move { sink.append(&ports, &config, n).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let broadcaster = BroadcasterId::parse("1001").unwrap();
    let mut ids = Vec::new();
    let read = super::super::chat_window::read_window(
        &ports,
        &broadcaster,
        start - Span::minutes(1),
        start + Span::minutes(5),
        config.bucket_secs,
        |line| ids.push(line.id.clone()),
    )
    .await
    .unwrap();
    ids.sort();
    ids.dedup();
    assert_eq!((read.messages, ids.len()), (450, 450));
    // 500 deliveries in batches of at most 100, each batch split by minute: at least 5 objects.
    assert!(read.objects >= 5, "{read:?}");
    let keys = ports
        .media
        .list(&day_folder(&broadcaster, start.date_naive()), None, 1000)
        .await
        .unwrap();
    assert_eq!(keys.len(), read.objects);
    // Outside the window nothing is read.
    let none = super::super::chat_window::read_window(
        &ports,
        &broadcaster,
        start + Span::hours(1),
        start + Span::hours(2),
        config.bucket_secs,
        |_| panic!("a message outside the window"),
    )
    .await
    .unwrap();
    assert_eq!(none.messages, 0);
}

/// A window is listed from its start, page after page: 2,500 objects of one message each,
/// ten seconds apart, and a window of three hours in the middle of them (1,080 objects, more
/// than a page) reads exactly its messages. With one page allowed, the read stops after a page
/// listed from the window's start, not the day's, and says the day was cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_is_listed_from_its_start_in_pages_and_a_cut_day_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ports = local_ports(dir.path()).await;
    let config = ChatConfig {
        bucket_secs: 10,
        ..quick(10)
    };
    let day = Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap();
    let notes: Vec<ChatNote> = (0..2500)
        .map(|i| {
            note(
                "1001",
                &format!("m-{i}"),
                day + Span::seconds(i * 10),
                "lol",
            )
        })
        .collect();
    assert_eq!(store_batch(&ports, &config, notes).await, Ok(2500));
    let b = BroadcasterId::parse("1001").unwrap();
    let folder = day_folder(&b, day.date_naive());
    assert_eq!(
        ports.media.list(&folder, None, 5000).await.unwrap().len(),
        2500
    );

    let (from, to) = (
        day + Span::hours(2),
        day + Span::hours(5) - Span::seconds(1),
    );
    let mut ids = Vec::new();
    let read = super::super::chat_window::read_window(&ports, &b, from, to, 10, |l| {
        ids.push(l.id.clone())
    })
    .await
    .unwrap();
    let wanted: Vec<String> = (720..1800).map(|i| format!("m-{i}")).collect();
    assert_eq!(ids, wanted);
    assert_eq!((read.messages, read.days_cut), (1080, 0));

    let mut ids = Vec::new();
    let (from, to) = (day + Span::hours(2), day + Span::hours(6));
    let read = super::super::chat_window::read_pages(&ports, &b, (from, to), 10, 1, |l| {
        ids.push(l.id.clone())
    })
    .await
    .unwrap();
    // The page starts at the bucket just before the window, which could reach into it.
    assert_eq!(read.days_cut, 1);
    assert_eq!(read.messages, 999, "a page from the window's start");
    assert_eq!(ids.first().map(String::as_str), Some("m-720"));
}

#[tokio::test]
async fn a_stored_object_is_gzip_json_lines_the_chat_log_reader_reads() {
    let dir = tempfile::tempdir().unwrap();
    let ports = local_ports(dir.path()).await;
    let at = Utc.with_ymd_and_hms(2026, 11, 21, 6, 0, 0).unwrap();
    let notes = vec![
        note("1001", "a", at, "hello"),
        note("1001", "b", at + Span::seconds(3), "KEKW"),
        note("1001", "a", at, "hello"),
    ];
    assert_eq!(store_batch(&ports, &quick(10), notes).await, Ok(2));
    let b = BroadcasterId::parse("1001").unwrap();
    let keys = ports
        .media
        .list(&day_folder(&b, at.date_naive()), None, 10)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    let path = dir.path().join("log.jsonl.gz");
    ports.media.get_to_file(&keys[0], &path).await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap()),
        &mut text,
    )
    .unwrap();
    let messages = crate::analysis::chat_log::parse_log(&text).unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        (messages[1].offset_secs, messages[1].text.as_str()),
        (3.0, "KEKW")
    );
}
