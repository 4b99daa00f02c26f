//! Test logging. With `TENANTGATE_TEST_LOG=<file>` (as `.ci/run` sets it) every test process
//! appends its logs at TRACE level, all crates, to that file; `scripts/scan-test-log.sh` then
//! checks that no token, password, API key or plaintext secret appears in it.

use std::sync::{Mutex, Once};

static INIT: Once = Once::new();

pub fn init() {
    INIT.call_once(|| {
        let Ok(path) = std::env::var("TENANTGATE_TEST_LOG") else {
            return;
        };
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        else {
            return;
        };
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_ansi(false)
            .with_writer(Mutex::new(file))
            .try_init();
    });
}
