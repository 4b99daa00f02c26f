//! Documents: ingestion, listing and deletion per tenant; who may write; body limits.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::api_key_for;
use crate::harness::{TestApp, cli, now};

/// A token of an active superuser that also names `tenant_id` (superusers may write documents).
pub async fn superuser_token_for(app: &TestApp, tenant_id: &str) -> String {
    let id = app
        .create_user(
            &format!("root-{}@example.com", Uuid::new_v4().simple()),
            None,
            true,
        )
        .await;
    app.token_with_claims(
        json!({"sub": id.to_string(), "tenant_id": tenant_id, "exp": now() + 600}),
    )
}

/// Posts documents with the tenant's API key; returns the 201 body.
pub async fn ingest(app: &TestApp, key: &str, documents: Value) -> Value {
    let response = app
        .post("/documents")
        .api_key(key)
        .json(&json!({"documents": documents}))
        .send()
        .await;
    response.assert_status(201);
    response.json()
}

fn ids_of(list: &Value) -> Vec<String> {
    list["documents"]
        .as_array()
        .expect("documents array")
        .iter()
        .map(|d| d["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_list_replace_delete() {
    let app = TestApp::new().await;
    let key = app.tenant_with_key("acme").await;
    let long = "Anvils are heavy. Rockets are fast. ".repeat(100);
    let created = ingest(
        &app,
        &key,
        json!([
            {"id": "guide", "title": "Guide", "text": long, "source": "guide.md", "metadata": {"lang": "en"}},
            {"text": "A note without an id."},
        ]),
    )
    .await;
    let ids: Vec<&str> = created["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], "guide");
    assert!(Uuid::parse_str(ids[1]).is_ok(), "generated id {}", ids[1]);
    let chunks = created["chunks"].as_u64().expect("chunks");
    assert!(
        chunks >= 5,
        "a 3600-character text makes several chunks: {chunks}"
    );

    let reader = app.tenant_token("acme");
    let list = app.get("/documents").bearer(&reader).send().await;
    list.assert_status(200);
    let list = list.json();
    let mut listed = ids_of(&list);
    listed.sort();
    let mut expected = vec!["guide".to_owned(), ids[1].to_owned()];
    expected.sort();
    assert_eq!(listed, expected);
    let guide = list["documents"]
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["id"] == "guide")
        .expect("guide");
    assert_eq!(guide["title"], "Guide");
    assert_eq!(guide["source"], "guide.md");
    assert_eq!(guide["chunks"].as_u64(), Some(chunks - 1));
    assert!(
        chrono::DateTime::parse_from_rfc3339(guide["created_at"].as_str().expect("time")).is_ok()
    );

    // Posting the id again replaces the document: one chunk now, the old text gone.
    let replaced = ingest(
        &app,
        &key,
        json!([{"id": "guide", "title": "Guide v2", "text": "Short and new."}]),
    )
    .await;
    assert_eq!(replaced, json!({"ids": ["guide"], "chunks": 1}));
    let list = app.get("/documents").bearer(&reader).send().await.json();
    let guide = list["documents"]
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["id"] == "guide")
        .expect("guide");
    assert_eq!(guide["chunks"], 1);
    assert_eq!(guide["title"], "Guide v2");
    let old = app
        .post("/search")
        .bearer(&reader)
        .json(&json!({"query": "anvils"}))
        .send()
        .await
        .json();
    assert_eq!(
        old["matches"],
        json!([]),
        "replaced text is no longer searchable"
    );

    app.delete("/documents/guide")
        .api_key(&key)
        .send()
        .await
        .assert_status(204);
    app.delete("/documents/guide")
        .api_key(&key)
        .send()
        .await
        .assert_error(404, "not_found");
    let list = app.get("/documents").bearer(&reader).send().await.json();
    assert_eq!(ids_of(&list), vec![ids[1].to_owned()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_are_scoped_to_their_tenant() {
    let app = TestApp::new().await;
    app.seed_tenant("acme", None).await;
    app.seed_tenant("globex", None).await;
    let acme = api_key_for(&app, "acme").await;
    let globex = api_key_for(&app, "globex").await;
    ingest(&app, &acme, json!([{"id": "faq", "text": "Acme sells anvils."}, {"id": "acme-only", "text": "Secret anvil plans."}])).await;
    ingest(
        &app,
        &globex,
        json!([{"id": "faq", "text": "Globex sells hammocks."}]),
    )
    .await;

    // Another tenant's document answers exactly like a missing one.
    let foreign = app
        .delete("/documents/acme-only")
        .api_key(&globex)
        .send()
        .await;
    foreign.assert_error(404, "not_found");
    let missing = app.delete("/documents/nope").api_key(&globex).send().await;
    assert_eq!(foreign.json(), missing.json());
    // The same id in two tenants: globex deletes its own faq only.
    app.delete("/documents/faq")
        .api_key(&globex)
        .send()
        .await
        .assert_status(204);
    app.delete("/documents/faq")
        .api_key(&globex)
        .send()
        .await
        .assert_error(404, "not_found");

    // acme's faq survived globex's delete.
    let list = app.get("/documents").api_key(&acme).send().await.json();
    assert_eq!(
        ids_of(&list),
        vec!["acme-only".to_owned(), "faq".to_owned()]
    );
    let hits = app
        .post("/search")
        .api_key(&acme)
        .json(&json!({"query": "sells"}))
        .send()
        .await
        .json();
    assert_eq!(hits["matches"][0]["id"], "faq");
    let globex_list = app.get("/documents").api_key(&globex).send().await.json();
    assert_eq!(globex_list["documents"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn writing_needs_an_api_key_or_a_superuser() {
    let app = TestApp::new().await;
    app.seed_tenant("acme", None).await;
    let doc = json!({"documents": [{"id": "d1", "text": "Writers only."}]});

    // A plain tenant user (from an identity provider, or a user row) may read, not write.
    let user = app.tenant_token("acme");
    app.post("/documents")
        .bearer(&user)
        .json(&doc)
        .send()
        .await
        .assert_error(403, "forbidden");
    let member = format!("member-{}@example.com", Uuid::new_v4().simple());
    app.create_user(&member, Some("acme"), false).await;
    let member_token = app.login_as(&member).await;
    app.post("/documents")
        .bearer(&member_token)
        .json(&doc)
        .send()
        .await
        .assert_error(403, "forbidden");
    app.delete("/documents/d1")
        .bearer(&member_token)
        .send()
        .await
        .assert_error(403, "forbidden");
    app.get("/documents")
        .bearer(&member_token)
        .send()
        .await
        .assert_status(200);

    // A superuser's token naming the tenant may.
    let root = superuser_token_for(&app, "acme").await;
    app.post("/documents")
        .bearer(&root)
        .json(&doc)
        .send()
        .await
        .assert_status(201);
    app.delete("/documents/d1")
        .bearer(&root)
        .send()
        .await
        .assert_status(204);

    // A key of another tenant writes to its own tenant, never to acme.
    let globex = app.tenant_with_key("globex").await;
    app.post("/documents")
        .api_key(&globex)
        .json(&doc)
        .send()
        .await
        .assert_status(201);
    let acme_list = app.get("/documents").bearer(&user).send().await.json();
    assert_eq!(acme_list["documents"], json!([]));

    // No credential at all.
    app.post("/documents")
        .json(&doc)
        .send()
        .await
        .assert_error(401, "missing_token");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_documents_are_422_with_fields() {
    let app = TestApp::new().await;
    let key = app.tenant_with_key("acme").await;
    let empty = app
        .post("/documents")
        .api_key(&key)
        .json(&json!({"documents": []}))
        .send()
        .await;
    empty.assert_error(422, "validation_error");
    assert_eq!(empty.json()["errors"][0]["field"], "documents");
    let blank = app
        .post("/documents")
        .api_key(&key)
        .json(&json!({"documents": [{"text": "ok"}, {"text": "   "}]}))
        .send()
        .await;
    blank.assert_error(422, "validation_error");
    assert_eq!(blank.json()["errors"][0]["field"], "documents[1].text");
    let missing = app
        .post("/documents")
        .api_key(&key)
        .json(&json!({"documents": [{"title": "t"}]}))
        .send()
        .await;
    missing.assert_error(422, "validation_error");
    let metadata = app
        .post("/documents")
        .api_key(&key)
        .json(&json!({"documents": [{"text": "x", "metadata": "not an object"}]}))
        .send()
        .await;
    metadata.assert_error(422, "validation_error");
    assert_eq!(
        metadata.json()["errors"][0]["field"],
        "documents[0].metadata"
    );
    // Nothing was stored by the failed requests.
    let list = app.get("/documents").api_key(&key).send().await.json();
    assert_eq!(list["documents"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_ingestion_is_413() {
    let app = TestApp::builder()
        .env("MAX_BODY_BYTES", "4096")
        .build()
        .await;
    let key = app.tenant_with_key("acme").await;
    let big = json!({"documents": [{"text": "word ".repeat(2000)}]});
    app.post("/documents")
        .api_key(&key)
        .json(&big)
        .send()
        .await
        .assert_error(413, "payload_too_large");
    let small = json!({"documents": [{"text": "word ".repeat(100)}]});
    app.post("/documents")
        .api_key(&key)
        .json(&small)
        .send()
        .await
        .assert_status(201);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ingest_command_stores_files_and_folders() {
    let app = TestApp::new().await;
    app.seed_tenant("acme", None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("docs/deeper")).expect("mkdir");
    std::fs::write(
        dir.path().join("docs/guide.md"),
        "# Launch guide\n\nCount down from ten, then ignite.",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("docs/deeper/notes.txt"),
        "Zeppelin storage notes.",
    )
    .expect("write");
    std::fs::write(dir.path().join("docs/picture.png"), [0u8, 159, 146, 150]).expect("write");
    std::fs::write(
        dir.path().join("single.txt"),
        "A lone file about gyroscopes.",
    )
    .expect("write");
    let run = || {
        cli::run_in(
            &app.db.url,
            dir.path(),
            &["ingest", "--tenant", "acme", "docs", "single.txt"],
        )
    };
    let output = run();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("stored 3 document(s), 3 chunk(s) for tenant acme"),
        "{stdout}"
    );
    // Again: the same ids, so the documents are replaced, not doubled.
    assert!(run().status.success());

    let token = app.tenant_token("acme");
    let list = app.get("/documents").bearer(&token).send().await.json();
    // Ids are relative to the folder given (a file by itself: its name).
    assert_eq!(
        ids_of(&list),
        vec!["deeper/notes.txt", "guide.md", "single.txt"]
    );
    let guide = &list["documents"][1];
    assert_eq!(guide["title"], "Launch guide");
    assert_eq!(guide["source"], "guide.md");
    // Ids with slashes delete as they are, or percent-encoded.
    let root = superuser_token_for(&app, "acme").await;
    app.delete("/documents/single.txt")
        .bearer(&root)
        .send()
        .await
        .assert_status(204);
    app.delete("/documents/deeper%2Fnotes.txt")
        .bearer(&root)
        .send()
        .await
        .assert_status(204);
    app.delete("/documents/deeper/notes.txt")
        .bearer(&root)
        .send()
        .await
        .assert_error(404, "not_found");
    let found = app
        .post("/search")
        .bearer(&token)
        .json(&json!({"query": "ignite"}))
        .send()
        .await
        .json();
    assert_eq!(found["matches"][0]["id"], "guide.md");

    let unknown = cli::run_in(
        &app.db.url,
        dir.path(),
        &["ingest", "--tenant", "nobody", "single.txt"],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("tenant nobody"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

/// A one-page PDF whose text layer holds `text` (Helvetica, WinAnsi), written with lopdf as a
/// word processor would write it.
pub fn pdf_with_text(text: &str) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("Td", vec![72.into(), 720.into()]),
            Operation::new("Tj", vec![Object::string_literal(text)]),
            Operation::new("ET", vec![]),
        ],
    };
    let mut stream = Stream::new(dictionary! {}, content.encode().expect("encode"));
    stream.compress().expect("compress");
    let content_id = doc.add_object(stream);
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "Resources" => resources_id, "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).expect("save pdf");
    bytes
}

pub const TEA_PAGE: &str = "<!doctype html><html><head><title>Tea &amp; biscuits</title>\
    <style>p { color: crimson }</style><script>var trackingPixel = 1;</script></head>\
    <body><h1>Brewing</h1><p>Steep the <b>oolong</b> for three minutes.</p></body></html>";

/// A `multipart/form-data` body as a browser's file input sends it: (content type, body).
pub fn multipart_body(files: &[(&str, &str, &[u8])], fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "----tenantgateFormBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (file_name, content_type, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn first_match(app: &TestApp, token: &str, query: &str) -> Value {
    let found = app
        .post("/search")
        .bearer(token)
        .json(&json!({"query": query}))
        .send()
        .await;
    found.assert_status(200);
    found.json()["matches"][0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn html_and_pdf_files_are_ingested_by_the_cli_and_found() {
    let app = TestApp::new().await;
    app.seed_tenant("acme", None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("docs")).expect("mkdir");
    std::fs::write(dir.path().join("docs/tea.html"), TEA_PAGE).expect("write");
    std::fs::write(
        dir.path().join("docs/manual.pdf"),
        pdf_with_text("Calibrate the gyroscope before every flight."),
    )
    .expect("write");
    // A PDF as a browser prints it (CID fonts with a ToUnicode map, ligature glyphs).
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/ferry-timetable.pdf"
        ),
        dir.path().join("docs/ferry-timetable.pdf"),
    )
    .expect("copy fixture");
    std::fs::write(dir.path().join("docs/scan.pdf"), b"%PDF-1.4 not really").expect("write");
    let output = cli::run_in(
        &app.db.url,
        dir.path(),
        &["ingest", "--tenant", "acme", "docs"],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    // The unreadable PDF is named and makes the run fail; the others are stored.
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("docs/scan.pdf: not a readable PDF"),
        "{stderr}"
    );
    assert!(stdout.contains("stored 3 document(s)"), "{stdout}");

    let token = app.tenant_token("acme");
    let tea = first_match(&app, &token, "oolong").await;
    assert_eq!(tea["id"], "tea.html");
    assert_eq!(tea["title"], "Tea & biscuits");
    let text = tea["text"].as_str().expect("text");
    assert!(
        text.contains("Steep the oolong for three minutes."),
        "{text}"
    );
    for markup in ["<", "crimson", "trackingPixel"] {
        assert!(!text.contains(markup), "{markup} in {text}");
    }
    // "office" is typeset with the ﬃ ligature: spelled out, it is found as typed.
    let ferry = first_match(&app, &token, "fluffy office").await;
    assert_eq!(ferry["id"], "ferry-timetable.pdf");
    assert!(
        ferry["text"]
            .as_str()
            .is_some_and(|t| t.contains("The first boat leaves at dawn")),
        "{ferry}"
    );
    let manual = first_match(&app, &token, "gyroscope").await;
    assert_eq!(manual["id"], "manual.pdf");
    assert_eq!(manual["title"], "manual");
    assert!(
        manual["text"]
            .as_str()
            .is_some_and(|t| t.contains("Calibrate the gyroscope before every flight.")),
        "{manual}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn files_uploaded_as_a_form_are_ingested_and_found() {
    let app = TestApp::builder()
        .env("MAX_BODY_BYTES", "65536")
        .build()
        .await;
    app.seed_tenant("acme", None).await;
    app.seed_tenant("globex", None).await;
    let key = api_key_for(&app, "acme").await;
    let pdf = pdf_with_text("Calibrate the gyroscope before every flight.");
    let (content_type, body) = multipart_body(
        &[
            // Old browsers send the full path; only the name is kept.
            ("C:\\fakepath\\tea.html", "text/html", TEA_PAGE.as_bytes()),
            ("manual.pdf", "application/pdf", &pdf),
            (
                "notes.md",
                "text/markdown",
                b"# Field notes\n\nZeppelins moor at dawn.",
            ),
        ],
        &[("id_prefix", "uploads/")],
    );
    let created = app
        .post("/documents")
        .api_key(&key)
        .raw_body(&content_type, body)
        .send()
        .await;
    created.assert_status(201);
    assert_eq!(
        created.json()["ids"],
        json!(["uploads/tea.html", "uploads/manual.pdf", "uploads/notes.md"])
    );

    let token = app.tenant_token("acme");
    let tea = first_match(&app, &token, "oolong").await;
    assert_eq!(tea["id"], "uploads/tea.html");
    assert_eq!(tea["source"], "uploads/tea.html");
    assert!(!tea["text"].as_str().unwrap_or("<").contains('<'), "{tea}");
    assert_eq!(
        first_match(&app, &token, "gyroscope").await["id"],
        "uploads/manual.pdf"
    );
    assert_eq!(
        first_match(&app, &token, "zeppelins").await["title"],
        "Field notes"
    );
    // Another tenant sees none of it.
    let other = app.tenant_token("globex");
    assert_eq!(first_match(&app, &other, "gyroscope").await, Value::Null);

    // An unreadable file: 422 naming it, and nothing of the request is stored.
    let (content_type, body) = multipart_body(
        &[
            ("good.txt", "text/plain", b"Harmless lighthouse text."),
            ("broken.pdf", "application/pdf", b"%PDF-1.7 truncated"),
        ],
        &[],
    );
    let refused = app
        .post("/documents")
        .api_key(&key)
        .raw_body(&content_type, body)
        .send()
        .await;
    refused.assert_error(422, "validation_error");
    let detail = refused.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        detail.contains("broken.pdf: not a readable PDF"),
        "{detail}"
    );
    assert_eq!(refused.json()["errors"][0]["field"], "file");
    assert_eq!(first_match(&app, &token, "lighthouse").await, Value::Null);

    // Same limits as JSON: too large is 413; a file of another type or none at all is 422.
    let big = "word ".repeat(20_000);
    let (content_type, body) = multipart_body(&[("big.txt", "text/plain", big.as_bytes())], &[]);
    app.post("/documents")
        .api_key(&key)
        .raw_body(&content_type, body)
        .send()
        .await
        .assert_error(413, "payload_too_large");
    let (content_type, body) =
        multipart_body(&[("photo.png", "image/png", &[137, 80, 78, 71])], &[]);
    let png = app
        .post("/documents")
        .api_key(&key)
        .raw_body(&content_type, body)
        .send()
        .await;
    png.assert_error(422, "validation_error");
    assert!(
        png.text()
            .contains("photo.png: not a .txt, .md, .html or .pdf file"),
        "{}",
        png.text()
    );
    let (content_type, body) = multipart_body(&[], &[("id_prefix", "x/")]);
    app.post("/documents")
        .api_key(&key)
        .raw_body(&content_type, body)
        .send()
        .await
        .assert_error(422, "validation_error");
    // A frontend user's token may search, not upload.
    let (content_type, body) = multipart_body(&[("x.txt", "text/plain", b"text")], &[]);
    app.post("/documents")
        .bearer(&token)
        .raw_body(&content_type, body)
        .send()
        .await
        .assert_error(403, "forbidden");
}
