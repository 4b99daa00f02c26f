//! The official OpenAI Python SDK (tests/sdk/chat_sdk.py) against a running gateway, with a
//! tenant's JWT and then a tenant API key as its `api_key`: models, a completion, a stream.
//!
//! The interpreter comes from `TENANTGATE_TEST_PYTHON` (CI's `.ci/run` makes a virtual
//! environment with tests/sdk/requirements.txt and sets it). Without it the test says so and
//! passes, so `cargo test` works on a machine without that environment.

use std::process::Stdio;
use std::time::Duration;

use crate::harness::TestApp;
use crate::harness::api_key_for;
use crate::harness::chat::{FakeLlm, REPLY, Script, UPSTREAM_KEY};

#[tokio::test(flavor = "multi_thread")]
async fn the_openai_python_sdk_talks_to_the_gateway() {
    let Ok(python) = std::env::var("TENANTGATE_TEST_PYTHON") else {
        eprintln!(
            "sdk test skipped: set TENANTGATE_TEST_PYTHON to a Python with tests/sdk/requirements.txt installed"
        );
        return;
    };
    let fake = FakeLlm::start(Script::Reply).await;
    let mut app = TestApp::builder()
        .openai(&fake)
        .env("CHAT_MODEL", "gpt-test-mini")
        .build()
        .await;
    app.seed_tenant("acme", Some("You are the Acme SDK bot."))
        .await;
    let addr = app.spawn_server().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/chat_sdk.py");
    let credentials = [
        ("JWT", app.tenant_token("acme")),
        ("API key", api_key_for(&app, "acme").await),
    ];
    for (kind, credential) in credentials {
        let before = fake.requests().len();
        let run = tokio::process::Command::new(&python)
            .arg(script)
            .env("TENANTGATE_URL", format!("http://{addr}"))
            .env("TENANTGATE_API_KEY", &credential)
            .env("EXPECTED_REPLY", REPLY)
            .env("EXPECTED_MODEL", "gpt-test-mini")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("the SDK script finishes within a minute")
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "SDK script failed with the {kind}:\n{stdout}\n{stderr}"
        );
        assert!(stdout.contains("completion and stream OK"), "{stdout}");
        // Both SDK calls reached the upstream, with the tenant's prompt and the server's key.
        let seen = fake.requests();
        assert_eq!(seen.len(), before + 2, "{kind}");
        for request in &seen[before..] {
            assert_eq!(
                request.messages()[0]["content"],
                "You are the Acme SDK bot."
            );
            assert_eq!(
                request.headers["authorization"],
                format!("Bearer {UPSTREAM_KEY}")
            );
            assert!(!request.header_text().contains(&credential));
        }
    }
}
