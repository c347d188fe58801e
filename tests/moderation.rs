//! Moderation and generated titles in the edit stage (seed 002): a rendered clip's transcript
//! (from the strict fake transcription server) goes to the strict fake chat-completions server,
//! and the clip ends `edited` with the generated title, description and hashtags, or `review`
//! when the verdict (or its broadcaster) asks for approval. A model that answers without valid
//! JSON is asked once more, then given up on: the clip keeps its Twitch title.

use std::path::Path;
use std::sync::Arc;

use harness::backends::TestBackend;
use harness::fake_llm::{self, FakeLlm};
use harness::fake_transcribe::{self, FakeTranscribe};
use hilite::domain::{Clip, ClipId, ClipStatus, MediaKey, Virality, Window};
use hilite::pipeline::edit::{edit, Editor};
use hilite::pipeline::ClipMessage;
use hilite::render::captions::Word;
use hilite::render::settings::TranscribeBackend;
use hilite::render::transcribe::ApiTranscriber;
use secrecy::SecretString;

const SAID: [(&str, f64, f64); 4] = [
    ("what", 0.1, 0.3),
    ("a", 0.3, 0.4),
    ("clutch", 0.4, 0.8),
    ("play", 0.8, 1.2),
];

/// The fakes and an editor configured against them.
struct Setup {
    llm: FakeLlm,
    editor: Editor,
    _transcribe: FakeTranscribe,
}

async fn setup(backend: &TestBackend, answers: Vec<String>, approval: &[&str]) -> Setup {
    setup_with_key(backend, answers, approval, fake_llm::API_KEY).await
}

async fn setup_with_key(
    backend: &TestBackend,
    answers: Vec<String>,
    approval: &[&str],
    llm_key: &str,
) -> Setup {
    let words = SAID
        .iter()
        .map(|&(t, s, e)| Word {
            text: t.into(),
            start: s,
            end: e,
        })
        .collect();
    let transcribe = FakeTranscribe::start(words).await;
    let llm = FakeLlm::start(answers).await;
    let mut config = backend.config.clone();
    config.transcribe.backend = TranscribeBackend::Api;
    config.transcribe.api_base = transcribe.api_base();
    config.transcribe.api_key = Some(SecretString::from(fake_transcribe::API_KEY.to_string()));
    config.llm.api_base = Some(llm.api_base());
    config.llm.model = fake_llm::MODEL.into();
    config.llm.api_key = Some(SecretString::from(llm_key.to_string()));
    config.moderation.approval_required = approval.iter().map(|s| s.to_string()).collect();
    let transcriber = ApiTranscriber::new(&config.transcribe).expect("transcriber");
    let editor = Editor::new(&config, Ok(Arc::new(transcriber)));
    Setup {
        llm,
        editor,
        _transcribe: transcribe,
    }
}

/// An `analyzed` clip with a 2 s source (test pattern, silent audio) stored.
async fn analyzed_clip(backend: &TestBackend, id: &str) -> ClipId {
    let mut clip = harness::records::clip(id, "twitch title", chrono::Utc::now());
    clip.status = ClipStatus::Analyzed;
    clip.window = Some(Window {
        start_secs: 0.0,
        end_secs: 1.5,
    });
    clip.media.source = Some(MediaKey::source(&clip.id));
    let src = harness::fixtures::silent_clip(backend.scratch(), 2.0);
    backend
        .ports
        .store
        .insert_clip_if_absent(&clip)
        .await
        .expect("insert");
    backend
        .ports
        .media
        .put_file(&MediaKey::source(&clip.id), Path::new(&src), "video/mp4")
        .await
        .expect("store the source");
    clip.id
}

async fn edited(backend: &TestBackend, s: &Setup, id: &ClipId) -> Clip {
    edit(
        &backend.ports,
        &s.editor,
        &ClipMessage {
            clip_id: id.clone(),
        },
    )
    .await
    .expect("the edit stage succeeds whatever the model answers");
    backend
        .ports
        .store
        .get_clip(id)
        .await
        .expect("read")
        .expect("the clip")
}

async fn a_valid_verdict_titles_the_clip_and_both_stores_keep_it(b: TestBackend) {
    let s = setup(
        &b,
        vec![fake_llm::verdict(
            "medium",
            false,
            "The clutch of the night",
        )],
        &[],
    )
    .await;
    let id = analyzed_clip(&b, "TitledClip").await;
    let clip = edited(&b, &s, &id).await;

    assert_eq!(clip.status, ClipStatus::Edited);
    assert_eq!(
        clip.generated_title.as_deref(),
        Some("The clutch of the night")
    );
    assert_eq!(
        clip.generated_description.as_deref(),
        Some("The moment the stream went wild.")
    );
    assert_eq!(clip.generated_hashtags, ["#clip", "#gaming"]);
    let m = clip.moderation.expect("the verdict is kept");
    assert_eq!(
        (m.virality, m.hateful, m.model.as_str()),
        (Virality::Medium, false, fake_llm::MODEL)
    );
    assert!(
        (m.risk - 0.5).abs() < 1e-9,
        "seed 002: 0.2 + 0.3, got {}",
        m.risk
    );

    // One request: the instructions, then the clip's facts with the fake's transcript.
    let seen = s.llm.accepted();
    assert_eq!(seen.len(), 1, "refused: {:?}", s.llm.refused());
    assert!(seen[0].json_mode);
    let roles: Vec<_> = seen[0].messages.iter().map(|m| m["role"].clone()).collect();
    assert_eq!(roles, ["system", "user"]);
    let facts: serde_json::Value =
        serde_json::from_str(seen[0].messages[1]["content"].as_str().unwrap()).unwrap();
    assert_eq!(facts["transcript"], "what a clutch play");
    assert_eq!(facts["twitch_title"], "twitch title");
}

async fn a_hateful_verdict_sends_the_rendered_clip_to_review(b: TestBackend) {
    let s = setup(&b, vec![fake_llm::verdict("low", true, "Title")], &[]).await;
    let id = analyzed_clip(&b, "HatefulClip").await;
    let clip = edited(&b, &s, &id).await;

    assert_eq!(clip.status, ClipStatus::Review);
    assert!(
        clip.review_reason
            .as_deref()
            .is_some_and(|r| r.contains("hateful")),
        "the record says why: {:?}",
        clip.review_reason
    );
    let m = clip.moderation.expect("the verdict is kept");
    assert!(m.hateful);
    assert_eq!(m.target.as_deref(), Some("a religious group"));
    // Rendered and stored like any edited clip, so approval needs no new render.
    assert!(clip.media.short.is_some());
    assert_eq!(clip.media.source, None);
}

harness::on_both_backends!(
    a_valid_verdict_titles_the_clip_and_both_stores_keep_it,
    a_hateful_verdict_sends_the_rendered_clip_to_review,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_answer_is_asked_for_again_with_what_is_wrong() {
    let b = TestBackend::embedded(3).await;
    let s = setup(
        &b,
        vec![
            "Sure! Here is my analysis: it is fine.".into(),
            fake_llm::verdict("low", false, "Second time lucky"),
        ],
        &[],
    )
    .await;
    let id = analyzed_clip(&b, "RetriedClip").await;
    let clip = edited(&b, &s, &id).await;

    assert_eq!(clip.status, ClipStatus::Edited);
    assert_eq!(clip.generated_title.as_deref(), Some("Second time lucky"));
    let seen = s.llm.accepted();
    assert_eq!(seen.len(), 2);
    let second = &seen[1].messages;
    assert_eq!(second.len(), 4, "the exchange so far and the correction");
    assert_eq!(second[2]["role"], "assistant");
    assert_eq!(
        second[2]["content"],
        "Sure! Here is my analysis: it is fine."
    );
    assert!(
        second[3]["content"].as_str().unwrap().contains("not valid"),
        "{}",
        second[3]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_never_answers_valid_json_is_given_up_on_and_the_twitch_title_kept() {
    let b = TestBackend::embedded(3).await;
    // Valid JSON, but outside the schema: a title over 100 characters, every time.
    let s = setup(
        &b,
        vec![fake_llm::verdict("low", false, &"x".repeat(101))],
        &[],
    )
    .await;
    let id = analyzed_clip(&b, "StubbornClip").await;
    let clip = edited(&b, &s, &id).await;

    assert_eq!(clip.status, ClipStatus::Edited);
    assert_eq!(clip.generated_title, None);
    assert_eq!(clip.title, "twitch title");
    assert_eq!(clip.moderation, None);
    assert_eq!(s.llm.accepted().len(), 2, "asked exactly twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_is_given_up_on_without_failing_the_clip() {
    let b = TestBackend::embedded(3).await;
    let s = setup_with_key(
        &b,
        vec![fake_llm::verdict("low", false, "Never used")],
        &[],
        "sk-wrong-secret-value",
    )
    .await;
    let id = analyzed_clip(&b, "WrongKey").await;
    let clip = edited(&b, &s, &id).await;

    assert_eq!(
        (clip.status, clip.generated_title),
        (ClipStatus::Edited, None)
    );
    assert_eq!(s.llm.refused().len(), 1, "401 is not retried");
    assert_eq!(clip.attempts.edit, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcaster_that_requires_approval_gets_review_even_for_a_harmless_clip() {
    let b = TestBackend::embedded(3).await;
    // records::clip's broadcaster is "StreamerOne"; the login matches without case.
    let s = setup(
        &b,
        vec![fake_llm::verdict("low", false, "Harmless")],
        &["streamerone"],
    )
    .await;
    let id = analyzed_clip(&b, "NeedsApproval").await;
    let clip = edited(&b, &s, &id).await;

    assert_eq!(clip.status, ClipStatus::Review);
    assert!(
        clip.review_reason
            .as_deref()
            .is_some_and(|r| r.contains("approval")),
        "the record says why: {:?}",
        clip.review_reason
    );
    assert_eq!(clip.generated_title.as_deref(), Some("Harmless"));
}

#[test]
fn no_api_key_reaches_the_logs_whether_accepted_or_refused() {
    let captured = harness::logs::Captured::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(captured.subscriber(), || {
        rt.block_on(async {
            let b = TestBackend::embedded(3).await;
            let s = setup(&b, vec!["not json".into()], &[]).await;
            let id = analyzed_clip(&b, "LoggedClip").await;
            assert_eq!(edited(&b, &s, &id).await.status, ClipStatus::Edited);
            let s = setup_with_key(&b, vec!["not json".into()], &[], "sk-refused-secret-42").await;
            let id = analyzed_clip(&b, "LoggedRefused").await;
            assert_eq!(edited(&b, &s, &id).await.status, ClipStatus::Edited);
        })
    });
    let logs = captured.text();
    assert!(logs.contains("not valid"), "the give-up is logged: {logs}");
    for key in [
        fake_llm::API_KEY,
        fake_transcribe::API_KEY,
        "sk-refused-secret-42",
    ] {
        assert!(!logs.contains(key), "{key} reached the logs");
    }
}
