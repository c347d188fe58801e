//! Logging set-up. Readable lines locally, JSON lines when asked (and in Lambda, where the
//! runtime's own subscriber honours `AWS_LAMBDA_LOG_FORMAT`). Secrets are kept out of logs by
//! construction: they are `SecretString`s, whose `Debug` prints `[REDACTED]`, and errors never
//! carry a token or a signature.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Install the global subscriber for the `hilite` binary. `RUST_LOG` wins over the config.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match config.format {
        LogFormat::Pretty => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    // A subscriber already installed (tests) is fine.
    drop(result);
}
