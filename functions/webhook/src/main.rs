//! The webhook function: Twitch EventSub behind a Lambda Function URL (`AuthType: NONE`: the
//! HMAC signature is the authentication). Wiring only; the request translation is
//! `hilite::pipeline::function_url` and the stage `hilite::pipeline::webhook::handle_webhook`,
//! the same one `hilite serve` mounts.

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use hilite::backend::Ports;
use hilite::pipeline::function_url::handle_function_url;
use hilite::pipeline::webhook::WebhookSettings;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // The environment, then the EventSub secret from Secrets Manager (aws.secrets.eventsub_secret).
    let config = hilite::secrets::config_from_env().await?;
    let ports = &Ports::from_config(&config).await?;
    let settings = &WebhookSettings::from_config(&config);
    if settings.is_none() {
        tracing::error!(
            "no EventSub secret (aws.secrets.eventsub_secret or twitch.eventsub_secret): every delivery is answered 503"
        );
    }
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<LambdaFunctionUrlRequest>| async move {
            Ok::<_, Error>(handle_function_url(ports, settings.as_ref(), event.payload).await)
        },
    ))
    .await
}
