//! `/console`: the administrators' web page (DESIGN §12), its files embedded in the binary
//! from `console/` at build time (`include_dir`), so a deploy needs no CDN, no Node and no
//! files beside the binary.
//!
//! The page is plain HTML, CSS and JavaScript modules (no framework, no build step; see
//! `docs/console.md` for why). It calls only the public admin API, with the token in the
//! page's memory. This module only serves the files, with headers that make the browser
//! strict:
//! - `Content-Security-Policy`: scripts, styles, images and fetches from this origin only; no
//!   inline script or style, no plugins, no `<base>`, forms post here only, and no framing
//!   (`frame-ancestors 'none'`, plus `X-Frame-Options` for older browsers);
//! - `X-Content-Type-Options: nosniff` with an exact `Content-Type` per file;
//! - `Cache-Control: no-cache` with a strong `ETag`: the file names carry no version, so a
//!   browser revalidates each file (a 304 when unchanged) and never mixes modules of two
//!   releases.
//!
//! What does not live here: the API the page calls (`routes/admin`), and whether the console
//! is served at all (`CONSOLE_ENABLED`, read in `config`, applied in `router`).
//! These are pages for people, not API operations: they are not in `router::ROUTES` or the
//! OpenAPI document.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256};

use crate::errors::AppError;

static FILES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/console");

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file, ready to serve.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: HeaderValue,
}

/// Every embedded file by its path under `console/` (`app.js`, `pages/tenants.js`), built once.
/// The map's keys come from the build, never from a request.
static ASSETS: LazyLock<HashMap<String, Asset>> = LazyLock::new(|| {
    let mut map = HashMap::new();
    collect(&FILES, &mut map);
    map
});

fn collect(dir: &'static Dir<'static>, map: &mut HashMap<String, Asset>) {
    for file in dir.files() {
        let Some(path) = file.path().to_str() else {
            continue;
        };
        let digest = Sha256::digest(file.contents());
        let etag = HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..12])))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        map.insert(
            path.to_owned(),
            Asset {
                body: file.contents(),
                content_type: content_type(path),
                etag,
            },
        );
    }
    for sub in dir.dirs() {
        collect(sub, map);
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// The console's routes; `router` merges them when `CONSOLE_ENABLED` is true (`/console/`
/// reaches `/console` through the router's trailing-slash trim).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console", get(index))
        .route("/console/{*path}", get(asset))
}

/// `GET /docs` (DESIGN §13): the OpenAPI document rendered for people by `docs.js`, served
/// from the same embedded folder with the same strict headers, whatever `CONSOLE_ENABLED` says.
pub fn docs_router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/docs", get(docs_index))
        .route("/docs/{file}", get(docs_asset))
}

async fn docs_index(headers: HeaderMap) -> Response {
    serve("docs.html", &headers)
}

async fn docs_asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    // Only the page's own two files: the console's modules stay under `/console`.
    match file.as_str() {
        "docs.js" | "style.css" => serve(&file, &headers),
        _ => AppError::not_found("file").into_response(),
    }
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    // The page's own links are `/console/…`; `index.html` is also reachable by name.
    serve(&path, &headers)
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.get(path) else {
        return AppError::not_found("file").into_response();
    };
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tags| etag_matches(tags.as_bytes(), asset.etag.as_bytes()));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = asset.body.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        r
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, asset.etag.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// `If-None-Match` as a comma list of tags (weak ones compared weakly, as RFC 9110 says for
/// this header), or `*`.
fn etag_matches(header: &[u8], etag: &[u8]) -> bool {
    let Ok(header) = std::str::from_utf8(header) else {
        return false;
    };
    let Ok(etag) = std::str::from_utf8(etag) else {
        return false;
    };
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}
