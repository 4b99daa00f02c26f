//! Audited impersonation (DESIGN §10): the token's claims (`act.sub`) and lifetime (at most 15
//! minutes, whatever `ACCESS_TOKEN_EXPIRE_MINUTES` says), the audit entry naming both users,
//! every write made with the token audited with both ids (admin and tenant routes), and the
//! targets no one may impersonate.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::TestApp;
use crate::roles::{World, create_user_with_role, world};

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

async fn me_id(app: &TestApp, token: &str) -> String {
    let r = app.get("/auth/me").bearer(token).send().await;
    r.assert_status(200);
    r.json()["id"].as_str().expect("id").to_owned()
}

async fn impersonate(app: &TestApp, token: &str, target: Uuid) -> crate::harness::TestResponse {
    app.post(&format!("/admin/users/{target}/impersonate"))
        .bearer(token)
        .send()
        .await
}

async fn audit(app: &TestApp, admin: &str) -> Vec<Value> {
    let r = app
        .get("/admin/audit?limit=1000")
        .bearer(admin)
        .send()
        .await;
    r.assert_status(200);
    r.json().as_array().expect("entries").clone()
}

/// The entries with `action`, newest first.
fn entries<'a>(log: &'a [Value], action: &str) -> Vec<&'a Value> {
    log.iter().filter(|e| e["action"] == action).collect()
}

async fn app_and_world() -> (TestApp, World) {
    // A long ordinary lifetime, so the 15-minute cap is what limits the impersonation token.
    let app = TestApp::builder()
        .env("ACCESS_TOKEN_EXPIRE_MINUTES", "120")
        .build()
        .await;
    let w = world(&app).await;
    (app, w)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_impersonation_token_acts_as_the_user_for_at_most_15_minutes_and_is_audited() {
    let (app, w) = app_and_world().await;
    let su = me_id(&app, &w.superuser).await;
    let r = impersonate(&app, &w.superuser, w.own_user).await;
    r.assert_status(200);
    let body = r.json();
    assert_eq!(body["token_type"], "bearer");
    let expires_in = body["expires_in"].as_u64().expect("expires_in");
    assert!(0 < expires_in && expires_in <= 900, "{expires_in}");
    let token = body["access_token"].as_str().expect("token").to_owned();
    let c = claims(&token);
    assert_eq!(c["sub"], w.own_user.to_string());
    assert_eq!(c["tenant_id"], "ta1");
    assert_eq!(c["email"], "u1@a.example.com");
    assert_eq!(c["act"], json!({"sub": su}));
    let lifetime = c["exp"].as_u64().expect("exp") - c["iat"].as_u64().expect("iat");
    assert!(lifetime <= 900, "{lifetime} s");
    // An ordinary login of the same user lives ACCESS_TOKEN_EXPIRE_MINUTES.
    let ordinary = claims(&app.login_as("u1@a.example.com").await);
    assert!(ordinary.get("act").is_none());
    assert_eq!(
        ordinary["exp"].as_u64().expect("exp") - ordinary["iat"].as_u64().expect("iat"),
        7200
    );

    // The token acts as the user, and says who is behind it.
    let me = app.get("/auth/me").bearer(&token).send().await;
    me.assert_status(200);
    assert_eq!(me.json()["id"], w.own_user.to_string());
    assert_eq!(me.json()["impersonator"], su);
    app.get("/tenant")
        .bearer(&token)
        .send()
        .await
        .assert_status(200);

    // The impersonation itself: actor the impersonator, target the user.
    let log = audit(&app, &w.superuser).await;
    let issued = entries(&log, "user.impersonate");
    assert_eq!(issued.len(), 1, "{log:?}");
    assert_eq!(issued[0]["actor"], format!("user:{su}"));
    assert_eq!(issued[0]["target"], w.own_user.to_string());
    assert_eq!(issued[0]["tenant_id"], "ta1");
    assert!(
        issued[0]["request_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_write_made_with_an_impersonation_token_is_audited_with_both_ids() {
    let (app, w) = app_and_world().await;
    let su = me_id(&app, &w.superuser).await;
    let impersonator = format!("user:{su}");

    // Tenant routes: a member's conversation writes.
    let token = impersonate(&app, &w.superuser, w.own_user).await.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let created = app
        .post("/conversations")
        .bearer(&token)
        .header("x-request-id", "imp-create-1")
        .json(&json!({"title": "support session"}))
        .send()
        .await;
    created.assert_status(201);
    let conversation = created.json()["id"].as_str().expect("id").to_owned();
    app.delete(&format!("/conversations/{conversation}"))
        .bearer(&token)
        .send()
        .await
        .assert_status(204);
    // A read is not a write: no entry.
    app.get("/conversations")
        .bearer(&token)
        .send()
        .await
        .assert_status(200);
    // Impersonating grants nothing the user lacks: a member may not write documents.
    app.post("/documents")
        .bearer(&token)
        .json(&json!({"documents": [{"text": "planted"}]}))
        .send()
        .await
        .assert_error(403, "forbidden");

    // Admin routes: an org admin impersonated by the superuser renames a tenant.
    let oa_id = me_id(&app, &w.org_admin).await;
    let oa_token = impersonate(&app, &w.superuser, oa_id.parse().expect("uuid"))
        .await
        .json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    app.patch("/admin/tenants/ta1")
        .bearer(&oa_token)
        .json(&json!({"name": "Renamed while impersonating"}))
        .send()
        .await
        .assert_status(200);
    // An impersonation token cannot impersonate again.
    impersonate(&app, &oa_token, w.own_user)
        .await
        .assert_error(403, "forbidden");

    let log = audit(&app, &w.superuser).await;
    let member = format!("user:{}", w.own_user);
    for (action, actor, target) in [
        (
            "conversation.create",
            &member,
            "POST /conversations".to_owned(),
        ),
        (
            "conversation.delete",
            &member,
            format!("DELETE /conversations/{conversation}"),
        ),
        ("tenant.update", &format!("user:{oa_id}"), "ta1".to_owned()),
    ] {
        let found = entries(&log, action);
        assert_eq!(found.len(), 1, "{action}: {log:?}");
        let entry = found[0];
        assert_eq!(entry["actor"], *actor, "{action}");
        assert_eq!(entry["impersonator"], impersonator, "{action}");
        assert_eq!(entry["target"], target, "{action}");
        assert_eq!(entry["tenant_id"], "ta1", "{action}");
    }
    assert_eq!(
        entries(&log, "conversation.create")[0]["request_id"],
        "imp-create-1"
    );
    // Only what the impersonation tokens wrote carries an impersonator.
    let marked: Vec<&str> = log
        .iter()
        .filter(|e| !e["impersonator"].is_null())
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(marked.len(), 3, "{marked:?}");

    // Writes with the user's own token are not marked (and tenant-route writes not audited).
    let own = app.login_as("u1@a.example.com").await;
    app.post("/conversations")
        .bearer(&own)
        .json(&json!({}))
        .send()
        .await
        .assert_status(201);
    let log = audit(&app, &w.superuser).await;
    assert_eq!(entries(&log, "conversation.create").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_one_impersonates_a_superuser_or_a_user_out_of_reach() {
    let (app, w) = app_and_world().await;
    let other_su = app.create_user("root2@example.com", None, true).await;
    let oa_b =
        create_user_with_role(&app, "oa@b.example.com", None, "org_admin", Some("org-b")).await;
    let oa_b_token = app.login_as("oa@b.example.com").await;
    // A superuser target: 403 for a superuser (who can see it), 404 for an org admin (who
    // cannot: out of reach reads as absent).
    impersonate(&app, &w.superuser, other_su)
        .await
        .assert_error(403, "forbidden");
    impersonate(&app, &w.org_admin, other_su)
        .await
        .assert_error(404, "not_found");
    // Another organization's user, or its org admin: 404.
    impersonate(&app, &w.org_admin, w.other_user)
        .await
        .assert_error(404, "not_found");
    impersonate(&app, &w.org_admin, oa_b)
        .await
        .assert_error(404, "not_found");
    // An org admin impersonates its own org's users, the other org's admin its own.
    impersonate(&app, &w.org_admin, w.own_user)
        .await
        .assert_status(200);
    impersonate(&app, &oa_b_token, w.other_user)
        .await
        .assert_status(200);
    // Tenant admins and members may not impersonate at all.
    impersonate(&app, &w.tenant_admin, w.own_user)
        .await
        .assert_error(403, "forbidden");
    impersonate(&app, &w.member, w.own_user)
        .await
        .assert_error(403, "forbidden");
    // Unknown and malformed ids read as absent.
    impersonate(&app, &w.superuser, Uuid::new_v4())
        .await
        .assert_error(404, "not_found");
    app.post("/admin/users/not-a-uuid/impersonate")
        .bearer(&w.superuser)
        .send()
        .await
        .assert_error(404, "not_found");
    // An inactive user: refused.
    app.delete(&format!("/admin/users/{}", w.own_doomed_user))
        .bearer(&w.superuser)
        .send()
        .await
        .assert_status(200);
    impersonate(&app, &w.superuser, w.own_doomed_user)
        .await
        .assert_error(403, "forbidden");
    // Refusals issue nothing and audit nothing.
    let log = audit(&app, &w.superuser).await;
    assert_eq!(entries(&log, "user.impersonate").len(), 2, "{log:?}");
}
