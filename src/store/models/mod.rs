//! Rows of the database and the JSON shapes the API shows of them.
//! Secrets never reach a `*View`: tenants show `has_pinecone_api_key`, users no hash, keys no key.

pub mod api_key;
pub mod audit;
pub mod conversation;
pub mod document;
pub mod organization;
pub mod tenant;
pub mod user;

/// Times are RFC 3339 in UTC everywhere.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

diesel::define_sql_function! {
    /// SQL `lower(text)`: emails are compared case-insensitively.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}
