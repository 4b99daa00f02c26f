//! Test logging. With `TENANTGATE_TEST_LOG=<file>` (as `.ci/run` sets it) every test process
//! appends its logs at TRACE level, all crates, to that file; `scripts/scan-test-log.sh` then
//! checks that no token, password, API key or plaintext secret appears in it.
//!
//! [`capture`] records, for one test, every event at TRACE level in memory (and in the file
//! above when set), so the test can assert what the gateway did or did not log.

use std::io::Write;
use std::sync::{Arc, Mutex, Once};

use tracing_subscriber::layer::SubscriberExt;

static INIT: Once = Once::new();

pub fn init() {
    INIT.call_once(|| {
        // As the server does (telemetry::init): `log` records reach tracing through the
        // gateway's bridge, which drops the driver's SQL-parameter lines.
        tenantgate::app::telemetry::install_log_bridge();
        let Some(file) = log_file() else {
            return;
        };
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_ansi(false)
            .with_writer(Mutex::new(file))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

fn log_file() -> Option<std::fs::File> {
    let path = std::env::var("TENANTGATE_TEST_LOG").ok()?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

/// Everything logged on this thread while it lives. Use it in a current-thread
/// `#[tokio::test]`: the gateway, its stand-ins and their spawned tasks then all log here.
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

#[derive(Clone)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn capture() -> LogCapture {
    init();
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let memory = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer({
            let buffer = SharedBuffer(buffer.clone());
            move || buffer.clone()
        });
    let file = log_file().map(|file| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(Mutex::new(file))
    });
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("trace"))
        .with(memory)
        .with(file);
    LogCapture {
        buffer,
        _guard: tracing::subscriber::set_default(subscriber),
    }
}

impl LogCapture {
    /// The log so far, with every decimal byte array (`[116, 103, 95]`, as drivers print bind
    /// parameters) followed by its text, so a search finds secrets in either form.
    pub fn text(&self) -> String {
        let raw = self.buffer.lock().map(|b| b.clone()).unwrap_or_default();
        decode_byte_arrays(&String::from_utf8_lossy(&raw))
    }

    #[track_caller]
    pub fn assert_lacks(&self, secrets: &[&str]) {
        let text = self.text();
        for secret in secrets {
            if let Some(at) = text.find(secret) {
                let start = text[..at]
                    .char_indices()
                    .rev()
                    .nth(200)
                    .map_or(0, |(i, _)| i);
                panic!(
                    "the log holds {secret:?}: …{}…",
                    &text[start..(at + secret.len()).min(text.len())]
                );
            }
        }
    }
}

/// `text` with each run of comma-separated decimal bytes in brackets followed by ` /*text*/`.
pub fn decode_byte_arrays(text: &str) -> String {
    static ARRAY: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\[(\d{1,3}(?:, ?\d{1,3}){2,})\]").expect("regex")
    });
    ARRAY
        .replace_all(text, |caps: &regex::Captures| {
            let bytes: Vec<u8> = caps[1]
                .split(',')
                .filter_map(|n| n.trim().parse::<u8>().ok())
                .collect();
            format!("{} /*{}*/", &caps[0], String::from_utf8_lossy(&bytes))
        })
        .into_owned()
}
