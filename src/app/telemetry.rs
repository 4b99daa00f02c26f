//! Logging: `tracing` to stdout, as JSON (`LOG_FORMAT=json`, for Railway's log search) or
//! human-readable, filtered by `RUST_LOG` or `LOG_LEVEL`.
//!
//! Nothing sensitive is ever handed to a log macro: secrets are `SecretString`s (their `Debug`
//! prints a placeholder), the `Authorization`/`X-API-Key` headers are marked sensitive, and
//! request spans record method, path and request id only.
//!
//! The database driver is the exception we cannot edit: tokio-postgres logs (through the `log`
//! crate, target `tokio_postgres::query`, level DEBUG) every statement *with its bind
//! parameters* — password hashes, ciphertexts, emails, prompts, document text, as decimal byte
//! arrays. [`install_log_bridge`] drops those records before they become tracing events, and
//! [`env_filter`] turns the target off as well, so no `RUST_LOG` value brings them back. What
//! does not live here: redaction of upstream text (`redact`).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

use crate::config::{LogConfig, LogFormat};

/// `log` targets never forwarded: they print SQL bind parameters.
pub const SILENCED_LOG_TARGETS: &[&str] = &["tokio_postgres::query"];

/// Installs the global subscriber; later calls (tests) are no-ops.
pub fn init(config: &LogConfig) {
    install_log_bridge();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter(&config.filter))
        .with_writer(std::io::stdout.with_max_level(tracing::Level::TRACE));
    let _ = match config.format {
        LogFormat::Json => tracing::subscriber::set_global_default(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .finish(),
        ),
        // Colour codes only where a terminal shows them, not in a file or a pipe.
        LogFormat::Pretty => tracing::subscriber::set_global_default(
            builder
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                .finish(),
        ),
    };
}

/// Forwards `log` records (tokio-postgres, rustls) to `tracing`, except those of
/// [`SILENCED_LOG_TARGETS`]; the driver then does not even format its parameters. A no-op when
/// a `log` logger is already installed (a second call, or tests).
pub fn install_log_bridge() {
    let builder = SILENCED_LOG_TARGETS
        .iter()
        .fold(tracing_log::LogTracer::builder(), |b, target| {
            b.ignore_crate(*target)
        });
    let _ = builder
        .with_max_level(tracing_log::log::LevelFilter::Trace)
        .init();
}

/// The filter for `spec` (`RUST_LOG` syntax), with [`SILENCED_LOG_TARGETS`] off whatever it says.
pub fn env_filter(spec: &str) -> EnvFilter {
    let filter = EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("info"));
    SILENCED_LOG_TARGETS
        .iter()
        .filter_map(|target| format!("{target}=off").parse().ok())
        .fold(filter, EnvFilter::add_directive)
}
