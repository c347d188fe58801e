//! The webhook function: Twitch EventSub behind a Lambda Function URL. This build does not
//! carry the webhook handler yet; every request is answered 503 so that Twitch retries later
//! and nothing is accepted that is not processed. Configuration and clients are still built at
//! start-up, so a misconfigured deployment fails at its first cold start.

use aws_lambda_events::http::{header, HeaderValue};
use aws_lambda_events::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use hilite::backend::Ports;
use hilite::config::Config;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let _ports = Ports::from_config(&config).await?;
    lambda_runtime::run(service_fn(
        |_: LambdaEvent<LambdaFunctionUrlRequest>| async {
            let mut response = LambdaFunctionUrlResponse::default();
            response.status_code = 503;
            response
                .headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            response.body = Some("webhook handler not in this build".into());
            Ok::<_, Error>(response)
        },
    ))
    .await
}
