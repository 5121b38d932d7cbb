//! The dashboard's static files, embedded in the binary. Pages link them as `/assets/<name>?v=<content hash>`,
//! so a response for the current hash may be cached for a year; any other request gets an `ETag` to revalidate.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// The first 16 hex digits of the body's SHA-256.
    hash: String,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        ("app.css", "text/css; charset=utf-8", include_bytes!("../../assets/app.css").as_slice()),
        ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/app.js").as_slice()),
        ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/htmx.min.js").as_slice()),
        ("favicon.svg", "image/svg+xml", include_bytes!("../../assets/favicon.svg").as_slice()),
    ]
    .into_iter()
    .map(|(name, content_type, body)| Asset { name, content_type, body, hash: hex::encode(&Sha256::digest(body)[..8]) })
    .collect()
});

/// The versioned URL of every asset, for templates.
pub struct AssetUrls {
    pub css: String,
    pub app_js: String,
    pub htmx_js: String,
    pub favicon: String,
}

static URLS: LazyLock<AssetUrls> = LazyLock::new(|| {
    let url = |name: &str| {
        ASSETS.iter().find(|a| a.name == name).map(|a| format!("/assets/{}?v={}", a.name, a.hash)).unwrap_or_default()
    };
    AssetUrls { css: url("app.css"), app_js: url("app.js"), htmx_js: url("htmx.min.js"), favicon: url("favicon.svg") }
});

pub fn urls() -> &'static AssetUrls {
    &URLS
}

pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", asset.hash);
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    let matches = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == etag);
    let etag = HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    if matches {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), (header::CACHE_CONTROL, cache)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
        ],
        asset.body,
    )
        .into_response()
}
