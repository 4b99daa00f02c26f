//! Logging: `tracing` to stdout, as JSON (`LOG_FORMAT=json`, for Railway's log search) or
//! human-readable, filtered by `RUST_LOG` or `LOG_LEVEL`.
//!
//! Nothing sensitive is ever handed to a log macro: secrets are `SecretString`s (their `Debug`
//! prints a placeholder), the `Authorization`/`X-API-Key` headers are marked sensitive, and
//! request spans record method, path and request id only.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber; later calls (tests) are no-ops.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout.with_max_level(tracing::Level::TRACE));
    let _ = match config.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        // Colour codes only where a terminal shows them, not in a file or a pipe.
        LogFormat::Pretty => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .try_init(),
    };
}
