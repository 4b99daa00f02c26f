//! A real browser for tests: Debian's `/usr/bin/chromium`, headless, driven by
//! `/usr/bin/chromedriver` over WebDriver (the `fantoccini` client).
//!
//! `Browser::start()` starts a chromedriver of its own on a free port with a fresh profile
//! directory, opens one session and returns helpers named for what a person does (`fill`,
//! `click`, `wait_text`, `screenshot`). Dropping it ends the session's driver process (and
//! with it the browser). `.ci/run` installs `chromium` and `chromium-driver` when missing;
//! on a machine without them, `start` returns `None` (the test says so and passes) unless
//! `CI` is set, where a missing browser fails the test.
//!
//! Screenshots go to `target/screenshots/<name>.png`. The few the README shows are taken with
//! `screenshot_for_docs`, which also writes `docs/img/<name>.png` when
//! `UPDATE_DOCS_SCREENSHOTS=1` is set (how the committed pictures are made; never in CI, so a
//! test run does not change the work tree).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use serde_json::{Value, json};

use super::{PASSWORD, TestApp};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long an element or a text may take to appear.
const WAIT: Duration = Duration::from_secs(15);

pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// A headless Chromium session, or `None` when the browser is not installed (outside CI).
    pub async fn start() -> Option<Self> {
        let installed =
            std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
        if !installed {
            assert!(
                std::env::var_os("CI").is_none(),
                "{CHROMIUM} and {CHROMEDRIVER} are needed in CI (apt-get install chromium chromium-driver)"
            );
            eprintln!("browser test skipped: install chromium and chromium-driver to run it");
            return None;
        }
        let port = free_port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let ready = http
                .get(format!("{url}/status"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if ready.is_some() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not answer on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a WebDriver session");
        Some(Self {
            client,
            driver,
            _profile: profile,
        })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// The element for `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Whether an element for `css` is there now (no waiting).
    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Types `value` into the (cleared) input for `css`.
    pub async fn fill(&self, css: &str, value: &str) {
        let input = self.find(css).await;
        input.clear().await.expect("clear");
        input.send_keys(value).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    /// Waits until the text of the element for `css` contains `needle`; returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < WAIT {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = el.text().await
            {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{css} never showed {needle:?}; last text: {last:?}");
    }

    /// The `value` property of an input.
    pub async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    pub async fn execute(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .expect("script runs")
    }

    /// Saves a PNG of the window as `target/screenshots/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Like `screenshot`; with `UPDATE_DOCS_SCREENSHOTS=1`, also replaces `docs/img/<name>.png`.
    pub async fn screenshot_for_docs(&self, name: &str) -> PathBuf {
        let path = self.screenshot(name).await;
        if std::env::var("UPDATE_DOCS_SCREENSHOTS").as_deref() == Ok("1") {
            let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/img");
            std::fs::create_dir_all(&docs).expect("docs/img");
            std::fs::copy(&path, docs.join(format!("{name}.png"))).expect("copy screenshot");
        }
        path
    }

    /// Fills the console's login form with these credentials and submits it (no waiting).
    pub async fn submit_login(&self, email: &str, password: &str) {
        self.fill("#login-form input[name=email]", email).await;
        self.fill("#login-form input[name=password]", password)
            .await;
        self.click("#login-form button[type=submit]").await;
    }

    /// Opens the console at `base` and logs in as `email` (the test password); waits until the
    /// page names the user.
    pub async fn log_in(&self, base: &str, email: &str) {
        self.goto(&format!("{base}/console")).await;
        self.submit_login(email, PASSWORD).await;
        self.wait_text("#who", email).await;
    }

    /// Logs out of the console; waits for the login form.
    pub async fn log_out(&self) {
        self.click("#logout").await;
        self.find("#login-form").await;
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

/// Serves `app` over TCP and runs `flow` with a browser and the server's base URL
/// (`http://127.0.0.1:<port>`); the browser is closed whether `flow` passes or panics. Without
/// a browser installed (outside CI) it returns without running `flow`, as `Browser::start` says.
pub async fn in_browser(app: &mut TestApp, flow: impl AsyncFnOnce(&TestApp, &Browser, &str)) {
    let addr = app.spawn_server().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = format!("http://{addr}");
    let outcome = std::panic::AssertUnwindSafe(flow(app, &browser, &base))
        .catch_unwind()
        .await;
    browser.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
