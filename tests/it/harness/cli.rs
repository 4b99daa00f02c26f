//! Running the `tenantgate` binary against a test's database, as a deployer would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use super::{JWT_SECRET, SECRET_KEY};

/// `tenantgate <args>` with only the test database's configuration in its environment (never
/// the developer's own `.env`), `stdin` written to its standard input.
pub fn run(database_url: &str, args: &[&str], stdin: &str) -> Output {
    run_with_env(database_url, &[], args, stdin)
}

/// Like `run`, with `env` added to (or replacing) the test configuration.
pub fn run_with_env(
    database_url: &str,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: &str,
) -> Output {
    let mut child = command(database_url, &std::env::temp_dir())
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tenantgate");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for tenantgate")
}

/// Like `run`, in the folder `dir` (relative paths in `args` are read from there), with no input.
pub fn run_in(database_url: &str, dir: &std::path::Path, args: &[&str]) -> Output {
    command(database_url, dir)
        .args(args)
        .output()
        .expect("run tenantgate")
}

fn command(database_url: &str, dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tenantgate"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("SECRET_KEY", SECRET_KEY)
        .env("JWT_SECRET_KEY", JWT_SECRET)
        .current_dir(dir);
    command
}

/// Like `run`, and asserts success; returns standard output.
#[track_caller]
pub fn ok(database_url: &str, args: &[&str], stdin: &str) -> String {
    let output = run(database_url, args, stdin);
    assert!(
        output.status.success(),
        "tenantgate {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
