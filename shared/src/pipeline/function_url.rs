//! The webhook behind a Lambda Function URL: the Function URL event (payload format 2.0) in, its
//! response out. Only the translation lives here — method, body encoding, headers — so the
//! `webhook` function's `main` is wiring, and the sample events in `events/` run through exactly
//! this code in the tests. The stage itself is [`super::webhook::handle_webhook`], the same one
//! `hilite serve` mounts.

use aws_lambda_events::http::{header, HeaderValue};
use aws_lambda_events::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::Engine;

use super::webhook::{handle_webhook, not_configured, WebhookResponse, WebhookSettings};
use crate::backend::Ports;

/// Answer one Function URL request. `settings` is `None` when no EventSub secret is configured.
pub async fn handle_function_url(
    ports: &Ports,
    settings: Option<&WebhookSettings>,
    request: LambdaFunctionUrlRequest,
) -> LambdaFunctionUrlResponse {
    // Twitch only ever POSTs; anything else is a scanner or a mistake, answered before any work.
    let method = request.request_context.http.method.as_deref().unwrap_or("");
    if !method.eq_ignore_ascii_case("POST") {
        return reply(&WebhookResponse {
            status: 405,
            content_type: "text/plain; charset=utf-8",
            body: "only POST".into(),
        });
    }
    let body = match (request.body, request.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(b), false) => b.into_bytes(),
        (Some(b), true) => match base64::engine::general_purpose::STANDARD.decode(b) {
            Ok(bytes) => bytes,
            Err(_) => {
                return reply(&WebhookResponse {
                    status: 400,
                    content_type: "text/plain; charset=utf-8",
                    body: "bad body encoding".into(),
                })
            }
        },
    };
    let answer = match settings {
        Some(s) => handle_webhook(ports, s, &request.headers, &body).await,
        None => not_configured(),
    };
    reply(&answer)
}

fn reply(answer: &WebhookResponse) -> LambdaFunctionUrlResponse {
    let mut response = LambdaFunctionUrlResponse::default();
    response.status_code = i64::from(answer.status);
    response.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(answer.content_type),
    );
    response.body = Some(answer.body.clone());
    response
}
