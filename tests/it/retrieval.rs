//! The built-in retriever: tenant isolation (through the API and under row-level security
//! directly), ranking, `top_k`, and `/search` validation.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

use crate::documents::ingest;
use crate::harness::TestApp;
use crate::harness::api_key_for;
use tenantgate::domain::TenantId;
use tenantgate::store::scope_to_tenant;

fn match_ids(body: &Value) -> Vec<String> {
    body["matches"]
        .as_array()
        .expect("matches array")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn search(app: &TestApp, token: &str, query: &str, top_k: Option<u64>) -> Value {
    let mut body = json!({"query": query});
    if let Some(k) = top_k {
        body["top_k"] = json!(k);
    }
    let response = app.post("/search").bearer(token).json(&body).send().await;
    response.assert_status(200);
    response.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_tenant_finds_only_its_own_passages() {
    const TENANTS: usize = 6;
    let app = TestApp::new().await;
    let mut tokens = Vec::new();
    for t in 0..TENANTS {
        let id = format!("tenant{t}");
        app.seed_tenant(&id, None).await;
        let key = api_key_for(&app, &id).await;
        // Each tenant: a word of its own, and words every tenant shares.
        let docs: Vec<Value> = (0..3)
            .map(|d| {
                json!({
                    "id": format!("doc{d}"),
                    "title": format!("Shared handbook {d}"),
                    "text": format!("Common warehouse policy. The secret word is uniqueword{t} for this tenant. Item {d}."),
                    "metadata": {"tenant": id},
                })
            })
            .collect();
        ingest(&app, &key, Value::Array(docs)).await;
        tokens.push(app.tenant_token(&id));
    }
    for (t, token) in tokens.iter().enumerate() {
        let own_tenant = format!("tenant{t}");
        // The shared words: three matches, all of this tenant.
        let shared = search(&app, token, "warehouse policy handbook", Some(50)).await;
        let matches = shared["matches"].as_array().expect("array");
        assert_eq!(matches.len(), 3, "tenant{t}: {shared}");
        for m in matches {
            assert_eq!(
                m["metadata"]["tenant"],
                own_tenant.as_str(),
                "tenant{t} saw {m}"
            );
            assert!(
                m["text"]
                    .as_str()
                    .expect("text")
                    .contains(&format!("uniqueword{t} "))
            );
        }
        for other in 0..TENANTS {
            let found = search(&app, token, &format!("uniqueword{other}"), Some(50)).await;
            if other == t {
                assert_eq!(match_ids(&found).len(), 3, "own word: {found}");
            } else {
                assert_eq!(
                    found["matches"],
                    json!([]),
                    "tenant{t} found tenant{other}'s word"
                );
            }
        }
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn row_level_security_hides_other_tenants_from_unfiltered_queries() {
    let app = TestApp::new().await;
    for (tenant, docs) in [("acme", 2), ("globex", 3)] {
        app.seed_tenant(tenant, None).await;
        let key = api_key_for(&app, tenant).await;
        let docs: Vec<Value> = (0..docs)
            .map(|d| json!({"id": format!("d{d}"), "text": format!("{tenant} text {d}")}))
            .collect();
        ingest(&app, &key, Value::Array(docs)).await;
    }
    let mut pooled = app.conn().await;
    let conn: &mut AsyncPgConnection = &mut pooled;
    let acme = TenantId::parse("acme").expect("tenant id");

    // As the gateway's own (super)user, outside a tenant scope, every row is there.
    let all: Count = diesel::sql_query("SELECT count(*) AS n FROM documents")
        .get_result(conn)
        .await
        .expect("count");
    assert_eq!(all.n, 5);

    // Under acme's scope, queries that forget `WHERE tenant_id` still see acme only.
    let (count, tenants, globex_rows) = conn
        .transaction(async |c| {
            scope_to_tenant(c, &acme).await?;
            let count: Count = diesel::sql_query("SELECT count(*) AS n FROM documents")
                .get_result(c)
                .await?;
            let tenants: Vec<Name> =
                diesel::sql_query("SELECT DISTINCT tenant_id AS name FROM documents")
                    .load(c)
                    .await?;
            let globex: Count =
                diesel::sql_query("SELECT count(*) AS n FROM documents WHERE tenant_id = 'globex'")
                    .get_result(c)
                    .await?;
            Ok::<_, diesel::result::Error>((count.n, tenants, globex.n))
        })
        .await
        .expect("scoped queries");
    assert_eq!(count, 2);
    assert_eq!(
        tenants.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        vec!["acme"]
    );
    assert_eq!(
        globex_rows, 0,
        "asking for globex by name finds nothing either"
    );

    // Writing another tenant's row under acme's scope is refused by the policy.
    let write = conn
        .transaction(async |c| {
            scope_to_tenant(c, &acme).await?;
            diesel::sql_query(
                "INSERT INTO documents (tenant_id, id, content) VALUES ('globex', 'planted', 'x')",
            )
            .execute(c)
            .await
        })
        .await;
    let error = write
        .expect_err("insert into another tenant must fail")
        .to_string();
    assert!(error.contains("row-level security"), "{error}");
    let deleted = conn
        .transaction(async |c| {
            scope_to_tenant(c, &acme).await?;
            diesel::sql_query("DELETE FROM documents").execute(c).await
        })
        .await
        .expect("delete");
    assert_eq!(
        deleted, 2,
        "an unfiltered DELETE under acme removes acme's rows only"
    );

    // The scope ended with its transaction: the pooled connection is itself again.
    let role: Name = diesel::sql_query("SELECT current_user::text AS name")
        .get_result(conn)
        .await
        .expect("role");
    assert_ne!(role.name, "tenantgate_tenant");
    let left: Count = diesel::sql_query("SELECT count(*) AS n FROM documents")
        .get_result(conn)
        .await
        .expect("count");
    assert_eq!(left.n, 3, "globex's rows are untouched");

    // A scoped transaction without any tenant id set sees nothing at all.
    let none: i64 = conn
        .transaction(async |c| {
            diesel::sql_query("SET LOCAL ROLE tenantgate_tenant")
                .execute(c)
                .await?;
            let n: Count = diesel::sql_query("SELECT count(*) AS n FROM documents")
                .get_result(c)
                .await?;
            Ok::<_, diesel::result::Error>(n.n)
        })
        .await
        .expect("count");
    assert_eq!(none, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn results_are_ranked_and_limited() {
    let app = TestApp::new().await;
    let key = app.tenant_with_key("acme").await;
    ingest(
        &app,
        &key,
        json!([
            {"id": "passing", "text": "Among many other things, the catalogue mentions a rocket once."},
            {"id": "focused", "title": "Rocket skates", "text": "Rocket skates: rocket-powered, rocket fast. Every rocket tested.", "source": "https://acme.example/skates"},
            {"id": "unrelated", "text": "Bird seed in bulk."},
            {"id": "also", "text": "Another rocket, and one more rocket."},
        ]),
    )
    .await;
    let token = app.tenant_token("acme");
    let all = search(&app, &token, "rocket", None).await;
    let ids = match_ids(&all);
    assert_eq!(ids.len(), 3, "{all}");
    assert_eq!(
        ids[0], "focused",
        "title and repeated term rank first: {all}"
    );
    assert!(!ids.contains(&"unrelated".to_owned()));
    let scores: Vec<f64> = all["matches"]
        .as_array()
        .expect("array")
        .iter()
        .map(|m| m["score"].as_f64().expect("score"))
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );
    assert!(scores.iter().all(|s| *s > 0.0 && *s < 1.0), "{scores:?}");
    let first = &all["matches"][0];
    assert_eq!(first["title"], "Rocket skates");
    assert_eq!(first["source"], "https://acme.example/skates");
    assert!(
        first["text"]
            .as_str()
            .expect("text")
            .starts_with("Rocket skates")
    );
    assert_eq!(first["metadata"], json!({}));

    let top1 = search(&app, &token, "rocket", Some(1)).await;
    assert_eq!(match_ids(&top1), vec!["focused"]);
    // Web-search syntax: a quoted phrase, and a word excluded.
    let phrase = search(&app, &token, "\"bird seed\"", None).await;
    assert_eq!(match_ids(&phrase), vec!["unrelated"]);
    let excluded = search(&app, &token, "rocket -skates", None).await;
    assert!(
        !match_ids(&excluded).contains(&"focused".to_owned()),
        "{excluded}"
    );
    // A plain question: passages with some of its words count, below those with all of them.
    let question = search(&app, &token, "How fast are the rocket skates?", None).await;
    let ids = match_ids(&question);
    assert_eq!(ids[0], "focused", "{question}");
    assert!(
        ids.contains(&"also".to_owned()) && !ids.contains(&"unrelated".to_owned()),
        "{question}"
    );
    let both = search(&app, &token, "rocket catalogue", None).await;
    assert_eq!(
        match_ids(&both)[0],
        "passing",
        "the passage with every word comes first: {both}"
    );
    assert!(both["matches"][0]["score"].as_f64().expect("score") >= 0.5);
    assert!(both["matches"][1]["score"].as_f64().expect("score") < 0.5);
    // Query syntax the parser does not like is not an error.
    let odd = search(&app, &token, "rocket & | ! (( :*", None).await;
    assert!(odd["matches"].is_array());
}

#[tokio::test(flavor = "multi_thread")]
async fn search_requests_are_validated() {
    let app = TestApp::new().await;
    app.seed_tenant("acme", None).await;
    let token = app.tenant_token("acme");
    for (body, field) in [
        (json!({"query": ""}), "query"),
        (json!({"query": "   "}), "query"),
        (json!({"query": "x", "top_k": 0}), "top_k"),
        (json!({"query": "x", "top_k": 51}), "top_k"),
        (json!({"query": "x", "top_k": -3}), "top_k"),
        (json!({"query": "x", "top_k": "five"}), "top_k"),
        (json!({"top_k": 5}), "query"),
    ] {
        let response = app.post("/search").bearer(&token).json(&body).send().await;
        response.assert_error(422, "validation_error");
        assert_eq!(response.json()["errors"][0]["field"], field, "{body}");
    }
    let ok = app
        .post("/search")
        .bearer(&token)
        .json(&json!({"query": "x", "top_k": 50}))
        .send()
        .await;
    ok.assert_status(200);
    assert_eq!(ok.json(), json!({"matches": []}));
    app.post("/search")
        .json(&json!({"query": "x"}))
        .send()
        .await
        .assert_error(401, "missing_token");
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_without_retrieval_find_nothing_but_keep_documents() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    app.create_tenant(&admin, "quiet", json!({"retriever": "none"}))
        .await;
    let key = api_key_for(&app, "quiet").await;
    ingest(
        &app,
        &key,
        json!([{"id": "kept", "text": "Stored for later."}]),
    )
    .await;
    let token = app.tenant_token("quiet");
    assert_eq!(
        search(&app, &token, "stored", None).await,
        json!({"matches": []})
    );
    let list = app.get("/documents").bearer(&token).send().await.json();
    assert_eq!(list["documents"][0]["id"], "kept");
    // Switched to the built-in retriever, the same documents become searchable.
    app.put("/admin/tenants/quiet")
        .bearer(&admin)
        .json(&json!({"retriever": "builtin"}))
        .send()
        .await
        .assert_status(200);
    let found = search(&app, &token, "stored", None).await;
    assert_eq!(match_ids(&found), vec!["kept"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_describes_retrieval_routes() {
    let app = TestApp::new().await;
    let doc = app.get("/openapi.json").send().await.json();
    for (path, method) in [
        ("/search", "post"),
        ("/documents", "post"),
        ("/documents", "get"),
        ("/documents/{id}", "delete"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    for schema in [
        "SearchRequest",
        "Passage",
        "IngestRequest",
        "IngestOutcome",
        "DocumentList",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
}
