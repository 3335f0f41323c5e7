//! The web admin console at `/admin/`: the static files of `web-admin/`
//! (plain ES modules, no build step) and the browser client
//! `clients/js/herald.js`, served as `/admin/herald.js` so the console can
//! import it from its own origin.
//!
//! Files come from `rust-embed`: a release build carries them inside the
//! binary; a debug build reads them from the source tree on every request,
//! so editing the console needs no rebuild. The console is a client of the
//! public API like any other, so none of this is in the OpenAPI document.
//!
//! Every answer carries a strict Content-Security-Policy: the console runs
//! only its own scripts and styles (no inline code), talks only to this
//! origin, and cannot be framed. It holds API keys, so this matters.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError, web};
use rust_embed::{EmbeddedFile, RustEmbed};

use crate::problem::ApiError;

/// The console's files. Only what a browser loads is embedded: the
/// console's tests (and any `node_modules`) stay out of the binary.
#[derive(RustEmbed)]
#[folder = "../../web-admin/"]
#[include = "*.html"]
#[include = "*.js"]
#[include = "*.mjs"]
#[include = "*.css"]
#[include = "*.svg"]
#[include = "*.png"]
#[include = "*.ico"]
#[include = "*.webp"]
#[include = "*.woff2"]
#[exclude = "test/*"]
#[exclude = "tests/*"]
#[exclude = "node_modules/*"]
struct Console;

/// The browser client, the one file of its folder a browser needs.
#[derive(RustEmbed)]
#[folder = "../../clients/js/"]
#[include = "herald.js"]
struct Client;

/// Where the client module is served, relative to `/admin/`.
const CLIENT_PATH: &str = "herald.js";

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Registers `/admin` and everything under it.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::to(redirect)).route("/admin/{path:.*}", web::to(serve));
}

/// The headers every console answer carries, errors and redirects included.
fn with_console_headers(mut res: HttpResponse) -> HttpResponse {
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Revalidate every time (cheap, with the ETag): a new console version
    // must never run against stale modules from the browser's cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// Only GET and HEAD: anything else is a 405 that says so.
fn refuse_method(req: &HttpRequest) -> Option<HttpResponse> {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    let mut res = ApiError::MethodNotAllowed(format!("{} takes GET, HEAD, not {}", req.path(), req.method())).error_response();
    res.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    Some(with_console_headers(res))
}

async fn redirect(req: HttpRequest) -> HttpResponse {
    if let Some(res) = refuse_method(&req) {
        return res;
    }
    // Relative module imports resolve against the directory, so the console
    // must be loaded as `/admin/`, not `/admin`.
    with_console_headers(HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/admin/")).finish())
}

/// What a path under `/admin/` names.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    /// A file of the console (or the client module), by its relative path.
    File(&'a str),
    /// Something that cannot be a console file: 404.
    Invalid,
}

/// Refuses paths that could step outside the folder or name hidden files,
/// before any lookup: a debug build reads the disk.
fn target(path: &str) -> Target<'_> {
    if path.is_empty() {
        return Target::File("index.html");
    }
    let bad_segment = |s: &str| s.is_empty() || s.starts_with('.') || s.contains(['\\', '\0', ':']);
    if path.split('/').any(bad_segment) {
        return Target::Invalid;
    }
    Target::File(path)
}

/// Whether the path's last segment has a file extension. Paths without one
/// are the console's own routes and get `index.html`; a missing file with
/// one is a 404, so a broken `<script src>` fails loudly.
fn has_extension(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|last| last.contains('.'))
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn lookup(path: &str) -> Option<EmbeddedFile> {
    if path == CLIENT_PATH {
        return Client::get(CLIENT_PATH);
    }
    Console::get(path)
}

fn not_found(req: &HttpRequest) -> HttpResponse {
    with_console_headers(ApiError::NotFound(format!("the admin console has no file {}", req.path())).error_response())
}

/// A strong ETag from the content's SHA-256 (its first 128 bits).
fn etag(file: &EmbeddedFile) -> String {
    let hash = file.metadata.sha256_hash();
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether `If-None-Match` lists this ETag (or `*`). Weak comparison, as
/// RFC 9110 asks for this header.
fn matches_etag(req: &HttpRequest, tag: &str) -> bool {
    let Some(value) = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else { return false };
    value.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

async fn serve(req: HttpRequest) -> HttpResponse {
    if let Some(res) = refuse_method(&req) {
        return res;
    }
    let path = req.match_info().query("path");
    let Target::File(path) = target(path) else { return not_found(&req) };
    let (path, file) = match lookup(path) {
        Some(file) => (path, file),
        None if has_extension(path) => return not_found(&req),
        None => match Console::get("index.html") {
            Some(file) => ("index.html", file),
            None => return not_found(&req),
        },
    };
    let tag = etag(&file);
    if matches_etag(&req, &tag) {
        return with_console_headers(HttpResponseBuilder::new(StatusCode::NOT_MODIFIED).insert_header((header::ETAG, tag)).finish());
    }
    with_console_headers(
        HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, content_type(path)))
            .insert_header((header::ETAG, tag))
            .body(file.data.into_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_escape_or_hide_are_refused() {
        assert_eq!(target(""), Target::File("index.html"));
        assert_eq!(target("screens/tail.js"), Target::File("screens/tail.js"));
        for bad in ["../Cargo.toml", "a/../../x", "./index.html", ".env", "a//b", "a\\b", "c:x", "a/"] {
            assert_eq!(target(bad), Target::Invalid, "{bad}");
        }
    }

    #[test]
    fn only_paths_with_an_extension_are_files() {
        assert!(has_extension("app.js"));
        assert!(has_extension("screens/tail.js"));
        assert!(!has_extension("tenants"));
        assert!(!has_extension("t.x/channels"));
    }

    #[test]
    fn the_console_and_the_client_are_embedded_without_tests() {
        assert!(Console::get("index.html").is_some());
        assert!(lookup(CLIENT_PATH).is_some());
        let files: Vec<_> = Console::iter().collect();
        assert!(files.iter().any(|f| f.ends_with(".js")), "{files:?}");
        assert!(files.iter().all(|f| !f.starts_with("test/") && !f.contains("node_modules/")), "{files:?}");
        assert_eq!(Client::iter().collect::<Vec<_>>(), [CLIENT_PATH]);
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("styles.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("logo.svg"), "image/svg+xml");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }
}
