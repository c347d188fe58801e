//! What the OpenAI-compatible fakes (`fake_llm.rs`, `fake_transcribe.rs`) share: one endpoint
//! served on a free loopback port next to the fake's own state, the `/v1` base URL to
//! configure, the bearer-key check and refusals in the API's error shape, each one recorded for
//! the test to read. It is not either fake's rules about bodies: those stay with the endpoint
//! they belong to.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Json, Router};
use serde_json::json;

/// The status and reason of every request a fake refused, in order.
pub(crate) type Refused = Arc<Mutex<Vec<(u16, String)>>>;

/// What an endpoint is given: the fake's own state and where to record refusals.
pub(crate) type Shared<I> = (Arc<Mutex<I>>, Refused);

/// A started fake: where it listens, its state, and what it refused.
pub(crate) struct Server<I> {
    pub addr: SocketAddr,
    state: Arc<Mutex<I>>,
    refused: Refused,
}

// By hand: a derive would want `I: Clone`, and clones share the state.
impl<I> Clone for Server<I> {
    fn clone(&self) -> Self {
        Self {
            addr: self.addr,
            state: self.state.clone(),
            refused: self.refused.clone(),
        }
    }
}

impl<I: Send + 'static> Server<I> {
    /// Serve `endpoint` at `path` on a free loopback port for the rest of the test; `what`
    /// names the fake in a failed start.
    pub(crate) async fn start(
        state: I,
        path: &str,
        endpoint: MethodRouter<Shared<I>>,
        what: &str,
    ) -> Self {
        let state = Arc::new(Mutex::new(state));
        let refused = Refused::default();
        let app = Router::new()
            .route(path, endpoint)
            .with_state((state.clone(), refused.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind the fake {what} server: {e}"));
        let addr = listener.local_addr().expect("its address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            state,
            refused,
        }
    }

    /// The `api_base` a client is configured with (ends in `/v1`, like OpenAI's).
    pub(crate) fn api_base(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/v1", self.addr)).expect("a URL")
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, I> {
        self.state.lock().expect("lock")
    }

    /// Status and reason of each refused request.
    pub(crate) fn refused(&self) -> Vec<(u16, String)> {
        self.refused.lock().expect("lock").clone()
    }
}

/// Refuse with OpenAI's error body, and record it.
/// <https://platform.openai.com/docs/guides/error-codes/api-errors>
pub(crate) fn refuse(refused: &Refused, status: StatusCode, why: String) -> Response {
    refused
        .lock()
        .expect("lock")
        .push((status.as_u16(), why.clone()));
    (
        status,
        Json(json!({"error": {"message": why, "type": "invalid_request_error"}})),
    )
        .into_response()
}

/// 401 unless the request carries `Authorization: Bearer <key>`, as the API answers a missing
/// or wrong key.
// The `Err` is the answer itself, sent at once: boxing it would buy nothing in a test fake.
#[allow(clippy::result_large_err)]
pub(crate) fn check_key(refused: &Refused, headers: &HeaderMap, key: &str) -> Result<(), Response> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth == Some(&format!("Bearer {key}")) {
        Ok(())
    } else {
        Err(refuse(
            refused,
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided".into(),
        ))
    }
}
