//! Validated newtypes. Once built, the type says the value is valid; code that holds one never
//! checks it again. Raw strings are parsed where they enter:
//! - a tenant id of a request (path, token, API key) in `TenantCache::get` (checked without
//!   building one, so a cache hit allocates nothing; built on a miss) and `announce`;
//! - a row's id where it is read as a `TenantId` (diesel `FromSql`: `Tenant::id`, the id
//!   `services::api_keys`'s `require_tenant` returns, the retention task's tenants);
//! - a new tenant's id in `services::tenants::create`, carried on in `NewTenant`; an email in
//!   `services::users`. An organization id follows the tenant id rules, checked there once.
//!
//! Not parsed: an id that is only looked up (`services::tenants::get`, `api_keys::list`, the
//! CLI's arguments). It is compared with stored ids, which all parsed, so one that would not
//! parse finds nothing: the same 404 as a missing one.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use axum::http::HeaderValue;
use serde::{Deserialize, Serialize};

/// A tenant id: 1–64 of `A-Z a-z 0-9 _ - .`, starting with a letter or digit.
/// Cheap to clone (`Arc<str>`), and borrowable as `&str` so caches can be queried without
/// allocating. A `Text` value to diesel: bound as the string, and parsed when read from a row.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct TenantId(Arc<str>);

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if Self::is_valid(raw) {
            Ok(Self(Arc::from(raw)))
        } else {
            Err(
                "must be 1-64 characters of A-Z a-z 0-9 _ - . starting with a letter or digit"
                    .into(),
            )
        }
    }

    pub fn is_valid(raw: &str) -> bool {
        let bytes = raw.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= 64
            && bytes[0].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TenantId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for TenantId {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
    ) -> diesel::serialize::Result {
        <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
            &self.0, out,
        )
    }
}

/// A row is where an id enters too: `tenants_id_format` holds every stored id to the same
/// rule, so this parse fails only on a database that lost its constraint.
impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for TenantId {
    fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
        let raw = <String as diesel::deserialize::FromSql<
            diesel::sql_types::Text,
            diesel::pg::Pg,
        >>::from_sql(value)?;
        Self::parse(&raw).map_err(|message| format!("tenant id {raw:?} {message}").into())
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", &self.0)
    }
}

/// An email address, trimmed, kept as written (that is what the API shows). Comparisons use
/// [`Email::key`], never Postgres `lower()`: the two lowercase non-ASCII letters differently
/// (U+0130 `İ`), which once let one address log in through a second throttle bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

/// The one normalisation of emails for storage (`users.email_key`), lookup and login
/// throttling: NFKC, Unicode lowercase, NFKC again (lowercasing may undo the normal form).
/// Applies to any input, valid or not, so a login with a malformed email still has a key.
pub fn email_key(raw: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = raw.trim().nfkc().collect::<String>().to_lowercase();
    folded.nfkc().collect()
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim();
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !email.chars().any(char::is_whitespace)
                    && !domain.contains('@')
            });
        if valid {
            Ok(Self(email.to_owned()))
        } else {
            Err("must be an email address such as admin@example.com".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What `users.email_key` holds for this address (see [`email_key`]).
    pub fn key(&self) -> String {
        email_key(&self.0)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Origins allowed by CORS, from `BACKEND_CORS_ORIGINS` (a comma list or a JSON array).
#[derive(Clone, Debug, Default)]
pub struct CorsOrigins(Vec<HeaderValue>);

impl CorsOrigins {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let items: Vec<String> = if raw.starts_with('[') {
            match serde_json::from_str(raw) {
                Ok(items) => items,
                // An unquoted `["https://a.com","https://b.com"]` in `.env` (as a Python
                // deployer writes it) reaches us without its inner quotes: dotenvy reads each
                // "…" as a quoted part of the value. Take the bracketed comma list as meant.
                Err(_) if raw.ends_with(']') && !raw.contains('"') => raw[1..raw.len() - 1]
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect(),
                Err(e) => {
                    return Err(format!(
                        "is not a valid JSON array of strings ({e}); write a comma list \
                         (https://a.com,https://b.com) or, in .env, quote the array: \
                         BACKEND_CORS_ORIGINS='[\"https://a.com\",\"https://b.com\"]'"
                    ));
                }
            }
        } else {
            raw.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let mut origins = Vec::with_capacity(items.len());
        for item in items {
            // Browsers send origins without a trailing slash; accept configs written with one.
            let origin = item.trim().trim_end_matches('/');
            let url = url::Url::parse(origin).map_err(|_| {
                format!(
                    "contains {origin:?}, which is not an origin such as https://app.example.com"
                )
            })?;
            if !matches!(url.scheme(), "http" | "https")
                || url.host_str().is_none()
                || url.path() != "/"
            {
                return Err(format!(
                    "contains {origin:?}, which is not an origin such as https://app.example.com"
                ));
            }
            let value = HeaderValue::from_str(origin)
                .map_err(|_| format!("contains {origin:?}, which is not a valid header value"))?;
            origins.push(value);
        }
        Ok(Self(origins))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[HeaderValue] {
        &self.0
    }
}

/// A user's role (`users.role`).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    // Declared from least to most powerful: `Ord` compares privilege.
    Member,
    TenantAdmin,
    OrgAdmin,
    Superuser,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Superuser,
        Role::OrgAdmin,
        Role::TenantAdmin,
        Role::Member,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Superuser => "superuser",
            Self::OrgAdmin => "org_admin",
            Self::TenantAdmin => "tenant_admin",
            Self::Member => "member",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        for ok in ["a", "acme", "Acme-1.eu_west", &"x".repeat(64)] {
            assert!(TenantId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", ".a", "a b", "a/b", &"x".repeat(65), "é"] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cors_origins_accept_both_forms() {
        let comma = CorsOrigins::parse("http://localhost:3000, https://app.example.com/")
            .expect("comma list");
        let json = CorsOrigins::parse(r#"["http://localhost:3000","https://app.example.com"]"#)
            .expect("json");
        assert_eq!(comma.as_slice(), json.as_slice());
        assert!(CorsOrigins::parse("localhost:3000").is_err());
        assert!(CorsOrigins::parse("[\"http://a.com\"").is_err());
        // What dotenvy makes of an unquoted JSON array in `.env`.
        let unquoted = CorsOrigins::parse("[http://localhost:3000,https://app.example.com]")
            .expect("unquoted array");
        assert_eq!(unquoted.as_slice(), json.as_slice());
    }

    #[test]
    fn emails() {
        assert!(Email::parse(" Admin@Example.com ").is_ok());
        assert!(Email::parse("no-at-sign").is_err());
        assert!(Email::parse("a@").is_err());
    }

    #[test]
    fn email_keys_fold_case_and_compatibility_forms() {
        for (raw, key) in [
            (" Admin@Example.COM ", "admin@example.com"),
            ("ｖictim@example.com", "victim@example.com"), // fullwidth v (NFKC)
            ("ÉLODIE@example.com", "élodie@example.com"),
            ("e\u{301}lodie@example.com", "élodie@example.com"), // decomposed é
        ] {
            assert_eq!(email_key(raw), key, "{raw}");
        }
        // U+0130 lowercases to "i" + U+0307 in Rust: not the ASCII address.
        assert_ne!(email_key("vİctim@example.com"), "victim@example.com");
    }
}
