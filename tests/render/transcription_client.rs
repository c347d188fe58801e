//! The OpenAI-compatible transcription client against the strict fake: retries and secrecy.

use super::*;

#[tokio::test]
async fn the_transcription_client_retries_server_errors_and_never_shows_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("a.wav");
    let ok = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=0.5",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-c:a",
            "pcm_s16le",
        ])
        .arg(&wav)
        .status()
        .unwrap();
    assert!(ok.success());
    let fake = FakeTranscribe::start(known_words()).await;

    // 500 then 429 with a short Retry-After, then the answer.
    fake.inject(Fault::ServerError);
    fake.inject(Fault::RateLimited {
        retry_after_secs: 1,
    });
    let t = api_transcriber(&fake, Some(API_KEY))
        .transcribe(&wav, Some("fr"))
        .await
        .expect("transcribed after retries");
    assert_eq!(t.words, known_words());
    assert_eq!(fake.accepted()[0].language.as_deref(), Some("fr"));

    // A wrong or missing key fails at once, permanently, without the key in the message.
    for key in [Some("sk-wrong-key-secret-value"), None] {
        let err = api_transcriber(&fake, key)
            .transcribe(&wav, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, TranscribeError::Unauthorized) && err.is_permanent(),
            "{err}"
        );
        assert!(!format!("{err} {err:?}").contains("secret-value"));
    }
    assert_eq!(fake.refused().iter().filter(|(s, _)| *s == 401).count(), 2);
    assert_eq!(fake.accepted().len(), 1);
}
