//! The webhook function: Twitch EventSub behind a Lambda Function URL (`AuthType: NONE`: the
//! HMAC signature is the authentication). Wiring only; the stage is
//! `hilite::pipeline::webhook::handle_webhook`, the same one `hilite serve` mounts.

use aws_lambda_events::http::{header, HeaderValue};
use aws_lambda_events::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::Engine;
use hilite::backend::Ports;
use hilite::config::Config;
use hilite::pipeline::webhook::{handle_webhook, not_configured, WebhookResponse, WebhookSettings};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let ports = &Ports::from_config(&config).await?;
    let settings = &WebhookSettings::from_config(&config);
    if settings.is_none() {
        tracing::error!(
            "HILITE_TWITCH__EVENTSUB_SECRET is not set: every delivery is answered 503"
        );
    }
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<LambdaFunctionUrlRequest>| async move {
            let request = event.payload;
            let body = match (request.body, request.is_base64_encoded) {
                (None, _) => Vec::new(),
                (Some(b), false) => b.into_bytes(),
                (Some(b), true) => match base64::engine::general_purpose::STANDARD.decode(b) {
                    Ok(bytes) => bytes,
                    Err(_) => {
                        return Ok::<_, Error>(reply(&WebhookResponse {
                            status: 400,
                            content_type: "text/plain",
                            body: "bad body encoding".into(),
                        }))
                    }
                },
            };
            let answer = match settings {
                Some(s) => handle_webhook(ports, s, &request.headers, &body).await,
                None => not_configured(),
            };
            Ok(reply(&answer))
        },
    ))
    .await
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
