//! Tests of the folder media store: atomic writes, missing keys, and presigned links.

use chrono::{TimeZone, Utc};

use super::*;
use crate::clock::ManualClock;

struct Fixture {
    dir: tempfile::TempDir,
    store: FsMediaStore,
    clock: Arc<ManualClock>,
}

fn fixture(public_url: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap(),
    ));
    let store = FsMediaStore::open(
        &dir.path().join("media"),
        &dir.path().join("media-url.key"),
        Url::parse(public_url).unwrap(),
        clock.clone(),
    )
    .unwrap();
    Fixture { dir, store, clock }
}

fn key(s: &str) -> MediaKey {
    MediaKey::parse(s).unwrap()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

fn query(url: &Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn a_put_file_is_stored_whole_under_its_key_with_no_temporary_file_left() {
    let f = fixture("http://127.0.0.1:8080/");
    let src = f.dir.path().join("source.mp4");
    let content: Vec<u8> = (0..3 * COPY_BUFFER_BYTES + 17)
        .map(|i| (i % 251) as u8)
        .collect();
    std::fs::write(&src, &content).unwrap();
    let k = key("raw/Clip1/source.mp4");

    let size = f.store.put_file(&k, &src, "video/mp4").await.unwrap();

    assert_eq!(size, content.len() as u64);
    let root = f.dir.path().join("media");
    assert_eq!(files_under(&root), [root.join("raw/Clip1/source.mp4")]);
    assert_eq!(
        std::fs::read(root.join("raw/Clip1/source.mp4")).unwrap(),
        content
    );
    assert_eq!(f.store.size(&k).await.unwrap(), Some(content.len() as u64));
}

#[tokio::test]
async fn a_stored_file_comes_back_to_any_path_and_replaces_what_was_there() {
    let f = fixture("http://127.0.0.1:8080/");
    let src = f.dir.path().join("in.srt");
    std::fs::write(&src, b"1\n00:00:00,000 --> 00:00:01,000\nhi\n").unwrap();
    let k = key("shorts/Clip1/captions.srt");
    f.store
        .put_file(&k, &src, "application/x-subrip")
        .await
        .unwrap();
    let out = f.dir.path().join("out.srt");
    std::fs::write(&out, b"old and longer content that must disappear entirely").unwrap();

    let size = f.store.get_to_file(&k, &out).await.unwrap();

    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&src).unwrap());
    assert_eq!(size, std::fs::metadata(&src).unwrap().len());
    let leftovers: Vec<_> = files_under(f.dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A step cancelled mid-transfer (its future dropped: a timeout, a shutdown) must not leave
/// its half-written copy beside the media. The source is a FIFO whose writer sends 64 KiB and
/// then waits, so the copy is caught with part of the file written and more to come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_dropped_half_way_leaves_no_partial_file_and_stores_nothing() {
    use std::io::Write;
    const SENT: u64 = 64 * 1024;
    let f = fixture("http://127.0.0.1:8080/");
    let fifo = f.dir.path().join("source.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let (finish, finished) = std::sync::mpsc::channel::<()>();
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            w.write_all(&[7u8; SENT as usize]).unwrap();
            let _ = finished.recv();
        })
    };
    let partials = |dir: &Path| -> Vec<PathBuf> {
        files_under(dir)
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".partial"))
            .collect()
    };
    let k = key("raw/Clip1/source.mp4");
    let mut put = Box::pin(f.store.put_file(&k, &fifo, "video/mp4"));
    let started = std::time::Instant::now();
    loop {
        tokio::select! {
            r = &mut put => panic!("the transfer ended with its source still open: {r:?}"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        let written = partials(f.dir.path())
            .iter()
            .any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() == SENT));
        if written {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the copy never wrote what was sent"
        );
    }

    drop(put);

    assert_eq!(partials(f.dir.path()), Vec::<PathBuf>::new());
    assert_eq!(f.store.size(&k).await.unwrap(), None);
    finish.send(()).unwrap();
    writer.join().unwrap();
}

#[tokio::test]
async fn half_written_copies_are_cleared_and_nothing_else() {
    let f = fixture("http://127.0.0.1:8080/");
    let root = f.dir.path().join("media");
    let src = f.dir.path().join("in.mp4");
    std::fs::write(&src, b"stored").unwrap();
    let k = key("raw/Clip1/source.mp4");
    f.store.put_file(&k, &src, "video/mp4").await.unwrap();
    // What killed transfers leave, at two depths; and files that only look alike.
    let left = [
        root.join("raw/Clip1").join(partial_name("source.mp4")),
        root.join("shorts/Clip2").join(partial_name("short.mp4")),
    ];
    let kept = [
        root.join("raw/Clip1/notes.partial"),
        root.join("raw/Clip1/.hidden"),
    ];
    for p in left.iter().chain(&kept) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"half").unwrap();
    }
    // A link to a folder outside, holding a name like a partial copy: not followed.
    let outside = f.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let bait = outside.join(partial_name("x.mp4"));
    std::fs::write(&bait, b"not ours").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("raw/link")).unwrap();

    assert_eq!(f.store.remove_partial_files().unwrap(), 2);

    assert!(left.iter().all(|p| !p.exists()));
    assert!(kept.iter().all(|p| p.is_file()));
    assert!(bait.is_file());
    assert_eq!(f.store.size(&k).await.unwrap(), Some(6));
    assert_eq!(f.store.remove_partial_files().unwrap(), 0);
}

#[tokio::test]
async fn a_missing_key_is_not_found_and_deleting_it_is_fine() {
    let f = fixture("http://127.0.0.1:8080/");
    let k = key("raw/Nothing/source.mp4");
    let out = f.dir.path().join("out.mp4");
    assert!(matches!(f.store.get_to_file(&k, &out).await, Err(MediaError::NotFound(x)) if x == k));
    assert!(!out.exists());
    assert_eq!(f.store.size(&k).await.unwrap(), None);
    f.store.delete(&k).await.unwrap();

    let src = f.dir.path().join("s");
    std::fs::write(&src, b"x").unwrap();
    f.store.put_file(&k, &src, "video/mp4").await.unwrap();
    f.store.delete(&k).await.unwrap();
    f.store.delete(&k).await.unwrap();
    assert_eq!(f.store.size(&k).await.unwrap(), None);
}

#[tokio::test]
async fn a_file_that_cannot_be_written_is_reported_with_its_path() {
    let f = fixture("http://127.0.0.1:8080/");
    // `raw` exists as a file, so the folder `raw/Clip1` cannot be made.
    std::fs::write(f.dir.path().join("media/raw"), b"in the way").unwrap();
    let src = f.dir.path().join("s");
    std::fs::write(&src, b"x").unwrap();

    let err = f
        .store
        .put_file(&key("raw/Clip1/source.mp4"), &src, "video/mp4")
        .await
        .unwrap_err();

    assert!(
        matches!(&err, MediaError::LocalFile { path, .. } if path.contains("media/raw")),
        "{err:?}"
    );
    let missing = f.dir.path().join("no-such-input.mp4");
    let err = f
        .store
        .put_file(&key("raw/Clip2/source.mp4"), &missing, "video/mp4")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no-such-input.mp4"), "{err}");
}

#[tokio::test]
async fn a_presigned_url_verifies_until_it_expires() {
    let f = fixture("http://127.0.0.1:8080/");
    let k = key("shorts/Clip1/short.mp4");

    let url = f
        .store
        .presign_get(&k, Duration::from_secs(600))
        .await
        .unwrap();

    assert!(
        url.as_str()
            .starts_with("http://127.0.0.1:8080/media/shorts/Clip1/short.mp4?expires="),
        "{url}"
    );
    let expires: i64 = query(&url, "expires").parse().unwrap();
    assert_eq!(expires, f.clock.now().timestamp() + 600);
    let sig = query(&url, "sig");
    assert_eq!(
        f.store.verify(&k, expires, &sig).unwrap(),
        f.dir.path().join("media/shorts/Clip1/short.mp4")
    );
    f.clock.advance(chrono::Duration::seconds(599));
    assert!(f.store.verify(&k, expires, &sig).is_ok());
    f.clock.advance(chrono::Duration::seconds(1));
    assert!(matches!(
        f.store.verify(&k, expires, &sig),
        Err(MediaError::LinkExpired(_))
    ));
}

#[tokio::test]
async fn a_tampered_or_borrowed_signature_is_refused() {
    let f = fixture("http://127.0.0.1:8080/");
    let k = key("shorts/Clip1/short.mp4");
    let url = f
        .store
        .presign_get(&k, Duration::from_secs(600))
        .await
        .unwrap();
    let (expires, sig): (i64, String) =
        (query(&url, "expires").parse().unwrap(), query(&url, "sig"));
    let mut flipped = sig.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();

    for (k2, e2, s2) in [
        (&k, expires, flipped.as_str()),
        (&k, expires + 3600, sig.as_str()),
        (&key("shorts/Clip2/short.mp4"), expires, sig.as_str()),
        (&k, expires, "not-hex"),
        (&k, expires, ""),
    ] {
        assert!(
            matches!(f.store.verify(k2, e2, s2), Err(MediaError::BadSignature(_))),
            "{k2} {e2} {s2}"
        );
    }
}

#[tokio::test]
async fn urls_keep_the_public_url_path_and_another_key_file_makes_other_signatures() {
    let f = fixture("https://example.test/hilite");
    let k = key("raw/Clip1/source.mp4");
    let url = f
        .store
        .presign_get(&k, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        url.as_str()
            .starts_with("https://example.test/hilite/media/raw/Clip1/source.mp4?"),
        "{url}"
    );

    let other = fixture("https://example.test/hilite");
    let (expires, sig) = (query(&url, "expires").parse().unwrap(), query(&url, "sig"));
    assert!(matches!(
        other.store.verify(&k, expires, &sig),
        Err(MediaError::BadSignature(_))
    ));
}

#[test]
fn a_key_that_could_leave_the_folder_cannot_even_be_made() {
    for bad in ["../vault.key", "raw/../../x", "/etc/passwd", "raw/./x"] {
        assert!(MediaKey::parse(bad).is_err(), "{bad}");
    }
    let f = fixture("http://127.0.0.1:8080/");
    let path = f.store.path_of(&key("raw/a..b/c"));
    assert!(path.starts_with(f.dir.path().join("media")));
}

#[test]
fn the_signing_key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let f = fixture("http://127.0.0.1:8080/");
    let mode = std::fs::metadata(f.dir.path().join("media-url.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
