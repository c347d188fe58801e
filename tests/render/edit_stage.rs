//! The edit stage around the render job: outputs stored before the source is deleted,
//! failures counted or not.

use std::sync::Arc;

use harness::backends::TestBackend;
use hilite::domain::{ClipId, ClipStatus, MediaKey, Stage};
use hilite::pipeline::edit::{edit, Editor};
use hilite::pipeline::{ClipMessage, StageError};
use hilite::render::transcribe::NoCaptions;

use super::*;

/// An `analyzed` clip with its source stored, on the embedded backend.
async fn analyzed_clip(backend: &TestBackend, id: &str, source: &Path) -> ClipId {
    let mut clip = harness::records::clip(id, "a clip", chrono::Utc::now());
    clip.status = ClipStatus::Analyzed;
    clip.window = Some(Window {
        start_secs: 0.0,
        end_secs: 1.5,
    });
    clip.media.source = Some(MediaKey::source(&clip.id));
    backend
        .ports
        .store
        .insert_clip_if_absent(&clip)
        .await
        .unwrap();
    backend
        .ports
        .media
        .put_file(&MediaKey::source(&clip.id), source, "video/mp4")
        .await
        .unwrap();
    clip.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyzed_clip_is_edited_once_its_outputs_are_stored_and_its_source_is_then_deleted() {
    let backend = TestBackend::embedded(3).await;
    let dir = tempfile::tempdir().unwrap();
    let src = make_source(
        dir.path(),
        "clip.mp4",
        Source {
            width: 320,
            height: 180,
            fps: 30,
            secs: 2,
            sound: Sound::Speech,
        },
    );
    let id = analyzed_clip(&backend, "EditMe", &src).await;
    let editor = Editor::new(&backend.config, Ok(Arc::new(NoCaptions)));
    let msg = ClipMessage {
        clip_id: id.clone(),
    };

    edit(&backend.ports, &editor, &msg).await.expect("edited");
    let clip = backend.ports.store.get_clip(&id).await.unwrap().unwrap();
    assert_eq!(clip.status, ClipStatus::Edited);
    let m = &clip.media;
    for key in [
        &m.short,
        &m.captions_srt,
        &m.captions_ass,
        &m.thumbnail,
        &m.render_report,
    ] {
        let key = key.as_ref().expect("every output is recorded");
        // Without a transcript the caption files are stored empty.
        assert!(
            backend.ports.media.size(key).await.unwrap().is_some(),
            "{key} is stored"
        );
    }
    assert_eq!(
        m.short.as_ref().unwrap().as_str(),
        "shorts/EditMe/short.mp4"
    );
    assert!(
        backend
            .ports
            .media
            .size(m.short.as_ref().unwrap())
            .await
            .unwrap()
            .unwrap()
            > 10_000
    );
    assert_eq!(m.source, None);
    assert_eq!(
        backend
            .ports
            .media
            .size(&MediaKey::source(&id))
            .await
            .unwrap(),
        None,
        "the source is deleted"
    );

    // Redelivered: nothing happens, nothing fails.
    edit(&backend.ports, &editor, &msg)
        .await
        .expect("a redelivery is a no-op");
    assert_eq!(
        backend
            .ports
            .store
            .get_clip(&id)
            .await
            .unwrap()
            .unwrap()
            .updated_at,
        clip.updated_at
    );
}

#[tokio::test]
async fn a_corrupt_source_fails_the_clip_at_once_and_keeps_its_media() {
    let backend = TestBackend::embedded(3).await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.mp4");
    std::fs::write(&bad, b"not a video").unwrap();
    let id = analyzed_clip(&backend, "Broken", &bad).await;
    let editor = Editor::new(&backend.config, Ok(Arc::new(NoCaptions)));

    let err = edit(
        &backend.ports,
        &editor,
        &ClipMessage {
            clip_id: id.clone(),
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, StageError::Permanent(ref m) if m.contains("not a readable video")),
        "{err}"
    );
    let clip = backend.ports.store.get_clip(&id).await.unwrap().unwrap();
    assert_eq!(
        (clip.status, clip.failed_stage, clip.attempts.edit),
        (ClipStatus::Failed, Some(Stage::Edit), 1)
    );
    assert!(
        backend
            .ports
            .media
            .size(&MediaKey::source(&id))
            .await
            .unwrap()
            .is_some(),
        "the source is kept"
    );
}

#[tokio::test]
async fn a_transcriber_that_cannot_be_built_counts_no_attempt() {
    let backend = TestBackend::embedded(3).await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("unused.mp4");
    std::fs::write(&src, b"x").unwrap();
    let id = analyzed_clip(&backend, "NoWhisper", &src).await;
    let editor = Editor::new(
        &backend.config,
        Err("this build has no whisper backend".into()),
    );

    let err = edit(
        &backend.ports,
        &editor,
        &ClipMessage {
            clip_id: id.clone(),
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, StageError::Retryable(ref m) if m.contains("whisper")),
        "{err}"
    );
    let clip = backend.ports.store.get_clip(&id).await.unwrap().unwrap();
    assert_eq!((clip.status, clip.attempts.edit), (ClipStatus::Analyzed, 0));
}
