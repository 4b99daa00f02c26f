//! API key scopes (DESIGN §10): what a tenant API key may be used for.
//!
//! A key holds a subset of [`ApiScope::ALL`] (default: all of them), stored as text in
//! `api_keys.scopes` and kept in memory as a [`ScopeSet`] bit set, so the per-request check
//! in the tenant layer is one AND. Which scope each tenant route needs is declared once, in
//! `crate::http::tenant_routes::TENANT_ROUTES`; user tokens are not limited by scopes (their role is).
//!
//! Not here: admin permissions (`crate::identity::authz`), the route table itself (`crate::http::router`).

use serde::Serialize;

/// One thing a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ApiScope {
    #[serde(rename = "chat")]
    Chat,
    #[serde(rename = "search")]
    Search,
    #[serde(rename = "documents:read")]
    DocumentsRead,
    #[serde(rename = "documents:write")]
    DocumentsWrite,
    #[serde(rename = "usage:read")]
    UsageRead,
}

impl ApiScope {
    /// Every scope, in the order lists show them.
    pub const ALL: [ApiScope; 5] = [
        ApiScope::Chat,
        ApiScope::Search,
        ApiScope::DocumentsRead,
        ApiScope::DocumentsWrite,
        ApiScope::UsageRead,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Search => "search",
            Self::DocumentsRead => "documents:read",
            Self::DocumentsWrite => "documents:write",
            Self::UsageRead => "usage:read",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of scopes (a bit per scope).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopeSet(u8);

impl ScopeSet {
    pub const ALL: ScopeSet = {
        let mut bits = 0;
        let mut i = 0;
        while i < ApiScope::ALL.len() {
            bits |= ApiScope::ALL[i].bit();
            i += 1;
        }
        ScopeSet(bits)
    };

    pub const EMPTY: ScopeSet = ScopeSet(0);

    pub fn contains(self, scope: ApiScope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn insert(&mut self, scope: ApiScope) {
        self.0 |= scope.bit();
    }

    /// The scopes stored on a row. A name this build does not know (written by a newer
    /// replica during a rolling deploy) grants nothing here.
    pub fn from_stored<S: AsRef<str>>(names: &[S]) -> Self {
        let mut set = Self::EMPTY;
        for scope in names.iter().filter_map(|n| ApiScope::parse(n.as_ref())) {
            set.insert(scope);
        }
        set
    }

    /// The names, in `ApiScope::ALL` order (what the database and lists hold).
    pub fn names(self) -> Vec<String> {
        ApiScope::ALL
            .into_iter()
            .filter(|s| self.contains(*s))
            .map(|s| s.as_str().to_owned())
            .collect()
    }
}

/// The scope names, for messages and docs: `chat, search, …`.
pub fn known_names() -> String {
    ApiScope::ALL
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sets_hold_what_was_put_in() {
        for scope in ApiScope::ALL {
            assert_eq!(ApiScope::parse(scope.as_str()), Some(scope));
            assert!(ScopeSet::ALL.contains(scope));
            assert!(!ScopeSet::EMPTY.contains(scope));
        }
        let set = ScopeSet::from_stored(&["search", "usage:read", "admin:everything"]);
        assert!(set.contains(ApiScope::Search));
        assert!(set.contains(ApiScope::UsageRead));
        assert!(!set.contains(ApiScope::Chat));
        assert_eq!(set.names(), vec!["search", "usage:read"]);
        assert_eq!(ScopeSet::ALL.names().len(), ApiScope::ALL.len());
    }
}
