//! `hilite clips approve|reject ID` with the real binary: a clip waiting in review moves to
//! `edited` (which the publish plan picks) or `skipped` with the reason; any other clip, or a
//! rejection without a reason, is refused and nothing changes.

use std::process::Output;

use harness::local::{Hilite, LocalSite};
use hilite::domain::{Clip, ClipId, ClipStatus};

const BIN: &str = env!("CARGO_BIN_EXE_hilite");

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

async fn clip_in(site: &LocalSite, id: &str, status: ClipStatus) -> ClipId {
    let mut clip = harness::records::clip(id, "a clip", chrono::Utc::now());
    clip.status = status;
    let ports = site.ports().await;
    assert!(ports.store.insert_clip_if_absent(&clip).await.unwrap());
    clip.id
}

async fn stored(site: &LocalSite, id: &ClipId) -> Clip {
    site.ports()
        .await
        .store
        .get_clip(id)
        .await
        .unwrap()
        .expect("the clip")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_a_clip_in_review_makes_it_edited_for_the_publish_plan() {
    let site = LocalSite::new();
    let id = clip_in(&site, "WaitsForMe", ClipStatus::Review).await;

    let out = ok(Hilite::new(BIN, &site).run(&["clips", "approve", id.as_str()]));
    assert!(out.contains("approved"), "{out}");
    assert_eq!(stored(&site, &id).await.status, ClipStatus::Edited);
    let listed = ok(Hilite::new(BIN, &site).run(&["clips", "list", "--status", "edited"]));
    assert!(listed.contains("WaitsForMe"), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejecting_a_clip_in_review_skips_it_with_the_reason() {
    let site = LocalSite::new();
    let id = clip_in(&site, "NotThisOne", ClipStatus::Review).await;

    let out = ok(Hilite::new(BIN, &site).run(&[
        "clips",
        "reject",
        id.as_str(),
        "--reason",
        "slur at 0:12",
    ]));
    assert!(out.contains("rejected"), "{out}");
    let clip = stored(&site, &id).await;
    assert_eq!(clip.status, ClipStatus::Skipped);
    assert_eq!(
        clip.skip_reason.as_deref(),
        Some("rejected in review: slur at 0:12")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_not_in_review_or_a_rejection_without_reason_is_refused_and_nothing_changes() {
    let site = LocalSite::new();
    let edited = clip_in(&site, "AlreadyEdited", ClipStatus::Edited).await;
    let waiting = clip_in(&site, "StillWaiting", ClipStatus::Review).await;
    let hilite = Hilite::new(BIN, &site);

    for args in [
        vec!["clips", "approve", edited.as_str()],
        vec!["clips", "reject", edited.as_str(), "--reason", "x"],
    ] {
        let o = hilite.run(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = text(&o.stderr);
        assert!(
            err.starts_with("error: ") && err.contains("is edited, not waiting for review"),
            "{err}"
        );
    }
    let o = hilite.run(&["clips", "approve", "NoSuchClip"]);
    assert!(text(&o.stderr).contains("no clip NoSuchClip"), "{o:?}");
    // A blank reason is no reason; clap refuses a missing --reason before anything runs.
    let o = hilite.run(&["clips", "reject", waiting.as_str(), "--reason", "  "]);
    assert!(text(&o.stderr).contains("--reason"), "{o:?}");
    assert!(!hilite
        .run(&["clips", "reject", waiting.as_str()])
        .status
        .success());

    assert_eq!(stored(&site, &edited).await.status, ClipStatus::Edited);
    assert_eq!(stored(&site, &waiting).await.status, ClipStatus::Review);
}
