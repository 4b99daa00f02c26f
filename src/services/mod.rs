//! Operations shared by the admin API and the command line: validation, the write, the audit
//! entry, all in one place, so `tenantgate tenants create` and `POST /admin/tenants` cannot
//! drift apart.

pub mod api_keys;
pub mod audit;
pub mod caches;
pub mod conversations;
pub mod documents;
pub mod file_text;
pub mod orgs;
pub mod secrets;
pub mod tenants;
pub mod usage;
pub mod users;

use diesel::{OptionalExtension, QueryResult};

use crate::errors::{AppError, AppResult, FieldError};

/// A query for one row, as the services answer it: a missing row is the 404 of `what`.
trait OrNotFound<T> {
    fn or_not_found(self, what: &str) -> AppResult<T>;
}

impl<T> OrNotFound<T> for QueryResult<T> {
    fn or_not_found(self, what: &str) -> AppResult<T> {
        self.optional()?.ok_or_else(|| AppError::not_found(what))
    }
}

/// The longest name of a tenant, an organization or an API key.
const MAX_NAME: usize = 200;

/// A name (already trimmed): not empty, at most [`MAX_NAME`] characters.
fn check_name(errors: &mut Vec<FieldError>, name: &str) {
    if name.is_empty() {
        errors.push(FieldError::new("name", "must not be empty"));
    } else if name.chars().count() > MAX_NAME {
        errors.push(FieldError::new(
            "name",
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
}

/// Deserialises a field that distinguishes absent (`None`) from `null` (`Some(None)`).
pub fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
