//! `tenantgate demo`: the binary starts on a database, prints working credentials, serves,
//! stops on SIGTERM, and starts again cleanly on the same database.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::TestDb;

struct Demo {
    child: Child,
    base: String,
    exports: HashMap<String, String>,
    admin: (String, String),
    /// Everything the banner printed.
    banner: Vec<String>,
}

impl Drop for Demo {
    /// A failing assertion must not leave the demo running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn start_demo(db: &TestDb) -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenantgate"))
        .arg("demo")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("PORT", "0")
        .env("LOG_LEVEL", "warn")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the demo");
    // Drained on a thread for the whole run, so the demo never blocks on a full pipe.
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let (mut base, mut exports, mut admin, mut seen) = (None, HashMap::new(), None, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    // The last line of the banner is the admin curl line.
    while !seen
        .last()
        .is_some_and(|l: &String| l.starts_with("curl -s $TG/admin/tenants"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = received.recv_timeout(left) else {
            let _ = child.kill();
            let mut stderr = String::new();
            let _ = std::io::Read::read_to_string(
                &mut child.stderr.take().expect("stderr"),
                &mut stderr,
            );
            panic!("demo did not print its banner; stdout: {seen:#?}\nstderr: {stderr}");
        };
        if let Some(url) = line.strip_prefix("tenantgate demo: serving on ") {
            base = Some(url.trim().to_owned());
        }
        if let Some((name, value)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            exports.insert(name.to_owned(), value.to_owned());
        }
        if let Some(rest) = line.strip_prefix("superuser: ") {
            let (email, password) = rest.split_once("  password: ").expect("credentials line");
            admin = Some((email.trim().to_owned(), password.trim().to_owned()));
        }
        seen.push(line);
    }
    assert!(
        seen.iter()
            .any(|l| l.starts_with("note: SECRET_KEY is not set")),
        "{seen:#?}"
    );
    assert!(
        seen.iter().any(|l| l.starts_with("curl -s $TG/search")),
        "{seen:#?}"
    );
    Demo {
        child,
        base: base.expect("base"),
        exports,
        admin: admin.expect("admin"),
        banner: seen,
    }
}

async fn get_json(client: &reqwest::Client, url: &str, auth: (&str, &str)) -> (u16, Value) {
    let response = client
        .get(url)
        .header(auth.0, auth.1)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_json(
    client: &reqwest::Client,
    url: &str,
    auth: (&str, &str),
    body: &Value,
) -> (u16, Value) {
    let response = client
        .post(url)
        .header(auth.0, auth.1)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The banner's `export` and `curl` lines, pasted into a shell as they are, all succeed.
fn pasted_lines_run(demo: &Demo, db: &TestDb) {
    let banner = &demo.banner;
    let database = url::Url::parse(&db.url).expect("db url");
    assert!(
        banner
            .iter()
            .any(|l| l.starts_with("database:") && l.ends_with(database.path())),
        "the banner says which database it used: {banner:#?}"
    );
    assert!(
        banner
            .iter()
            .any(|l| l.starts_with("chat:      off") && l.contains("OPENAI_API_KEY")),
        "the banner says how to turn chat on: {banner:#?}"
    );
    let exports: Vec<&String> = banner.iter().filter(|l| l.starts_with("export ")).collect();
    assert!(exports.iter().any(|l| l.starts_with("export ADMIN_TOKEN=")));
    let curls: Vec<&String> = banner.iter().filter(|l| l.starts_with("curl ")).collect();
    assert!(curls.len() >= 6, "{banner:#?}");
    for line in curls {
        let script = format!(
            "set -e\n{}\n{line} -o /dev/null -w '%{{http_code}}'\n",
            exports
                .iter()
                .map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
        let output = Command::new("bash")
            .args(["-c", &script])
            .output()
            .expect("bash");
        let status = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            status == "200" || status == "201",
            "pasted as printed, `{line}` answered {status}; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_serves_what_it_prints_and_starts_again() {
    let db = TestDb::new().await;
    let client = reqwest::Client::new();
    for run in 0..2 {
        let mut demo = start_demo(&db);
        let base = demo.base.clone();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        let ready = client
            .get(format!("{base}/ready"))
            .send()
            .await
            .expect("ready");
        assert_eq!(ready.status().as_u16(), 200);

        let acme = format!("Bearer {}", demo.exports["ACME_TOKEN"]);
        let globex = format!("Bearer {}", demo.exports["GLOBEX_TOKEN"]);
        let (status, tenant) =
            get_json(&client, &format!("{base}/tenant"), ("authorization", &acme)).await;
        assert_eq!(status, 200);
        assert_eq!(tenant["id"], "acme");
        assert_eq!(tenant["retriever"], "builtin");
        let (_, other) = get_json(
            &client,
            &format!("{base}/tenant"),
            ("authorization", &globex),
        )
        .await;
        assert_eq!(other["id"], "globex");
        assert_ne!(tenant["system_prompt"], other["system_prompt"]);

        let (status, found) = post_json(
            &client,
            &format!("{base}/search"),
            ("authorization", &acme),
            &json!({"query": "rocket skates"}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(found["matches"][0]["id"], "rocket-skates");
        let (_, none) = post_json(
            &client,
            &format!("{base}/search"),
            ("authorization", &globex),
            &json!({"query": "rocket skates"}),
        )
        .await;
        assert_eq!(
            none["matches"],
            json!([]),
            "globex does not see acme's documents"
        );

        // The printed API key writes; a second run replaces the demo documents, keeps ours.
        let key = demo.exports["ACME_KEY"].clone();
        let (status, _) = post_json(
            &client,
            &format!("{base}/documents"),
            ("x-api-key", &key),
            &json!({"documents": [{"id": format!("ours-{run}"), "text": "Added by the test."}]}),
        )
        .await;
        assert_eq!(status, 201);
        let (_, list) = get_json(&client, &format!("{base}/documents"), ("x-api-key", &key)).await;
        assert_eq!(
            list["documents"].as_array().expect("documents").len(),
            4 + 1 + run,
            "run {run}: {list}"
        );

        let (email, password) = &demo.admin;
        let login = client
            .post(format!("{base}/auth/token"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(login.status().as_u16(), 200);

        if run == 1 {
            pasted_lines_run(&demo, &db);
        }

        let pid = demo.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill")
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = demo.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "demo did not stop after SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(status.code(), Some(0), "run {run}: exit after SIGTERM");
    }
}

/// A newcomer who set `DATABASE_URL` to a database that does not exist yet gets it created, as
/// `tenantgate migrate` does, instead of "database … does not exist".
#[tokio::test(flavor = "multi_thread")]
async fn demo_creates_the_database_its_url_names() {
    let name = format!("tenantgate_test_{}", uuid::Uuid::new_v4().simple());
    // Dropped (with the database the demo made) when the test ends.
    let db = TestDb {
        url: crate::harness::db::with_database(&crate::harness::db::server_url(), &name),
        name,
    };
    let demo = start_demo(&db);
    assert!(
        demo.banner
            .iter()
            .any(|l| l == &format!("demo: created database {}", db.name)),
        "{:#?}",
        demo.banner
    );
    let ready = reqwest::get(format!("{}/ready", demo.base))
        .await
        .expect("ready");
    assert_eq!(ready.status().as_u16(), 200);
}
