//! The web admin console at `/admin/`: its files as they are in `web-admin/`
//! (a debug build reads them from disk), the browser client at
//! `/admin/herald.js`, the security headers on every answer, the fallback
//! to `index.html` for the console's own routes, and that none of it
//! disturbs the API's 404 and 405 answers.

use std::path::{Path, PathBuf};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::*;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[track_caller]
fn assert_console_headers(h: &HeaderMap, what: &str) {
    assert_eq!(h["content-security-policy"], CSP, "{what}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
    assert_eq!(h["cache-control"], "no-cache", "{what}");
}

async fn get(s: &Server, path: &str) -> reqwest::Response {
    s.client.get(s.url(path)).send().await.unwrap()
}

/// Every file of the console a browser may load, relative to `web-admin/`
/// (the console's tests are not served).
fn console_files(dir: &Path, rel: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        if entry.file_type().unwrap().is_dir() {
            if !["test", "tests", "node_modules"].contains(&name.as_str()) {
                console_files(&entry.path(), &path, out);
            }
        } else if ["html", "js", "css", "svg"].iter().any(|e| name.ends_with(&format!(".{e}"))) && !name.starts_with('.') {
            out.push(path);
        }
    }
}

fn expected_type(path: &str) -> &'static str {
    match path.rsplit_once('.').unwrap().1 {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        other => panic!("no expectation for .{other}"),
    }
}

e2e! {
    async fn the_console_is_served_with_its_content_types_and_a_strict_csp(b) {
        let s = Server::start(b).await;

        // `/admin` → `/admin/`, so relative imports resolve.
        let res = get(&s, "/admin").await;
        assert_eq!((res.status(), res.url().path()), (StatusCode::OK, "/admin/"), "followed to the console");
        let no_follow = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let res = no_follow.get(s.url("/admin")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(res.headers()["location"], "/admin/");
        assert_console_headers(res.headers(), "redirect");

        let index = std::fs::read(repo().join("web-admin/index.html")).unwrap();
        let res = get(&s, "/admin/").await;
        assert_eq!(res.status(), 200);
        assert_console_headers(res.headers(), "/admin/");
        assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(res.bytes().await.unwrap(), index);

        // Every file, byte for byte, with its type.
        let mut files = Vec::new();
        console_files(&repo().join("web-admin"), "", &mut files);
        assert!(files.iter().any(|f| f.ends_with(".js")) && files.contains(&"index.html".to_owned()), "{files:?}");
        for file in &files {
            let res = get(&s, &format!("/admin/{file}")).await;
            assert_eq!(res.status(), 200, "{file}");
            assert_console_headers(res.headers(), file);
            assert_eq!(res.headers()["content-type"], expected_type(file), "{file}");
            assert!(res.headers().contains_key("etag"), "{file}");
            assert_eq!(res.bytes().await.unwrap(), std::fs::read(repo().join("web-admin").join(file)).unwrap(), "{file}");
        }

        // The browser client, next to the console.
        let res = get(&s, "/admin/herald.js").await;
        assert_eq!(res.status(), 200);
        assert_console_headers(res.headers(), "herald.js");
        assert_eq!(res.headers()["content-type"], "text/javascript; charset=utf-8");
        assert_eq!(res.bytes().await.unwrap(), std::fs::read(repo().join("clients/js/herald.js")).unwrap());

        // HEAD answers without a body.
        let res = s.client.head(s.url("/admin/herald.js")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/javascript; charset=utf-8");
        assert!(res.bytes().await.unwrap().is_empty());

        // Revalidation: the ETag gives a 304 with no body, still with the headers.
        let res = get(&s, "/admin/herald.js").await;
        let etag = res.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34, "{etag}");
        for if_none_match in [etag.clone(), format!("W/{etag}"), format!("\"other\", {etag}"), "*".to_owned()] {
            let res = s.client.get(s.url("/admin/herald.js")).header("if-none-match", &if_none_match).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{if_none_match}");
            assert_eq!(res.headers()["etag"], etag.as_str());
            assert_console_headers(res.headers(), "304");
            assert!(res.bytes().await.unwrap().is_empty());
        }
        let res = s.client.get(s.url("/admin/herald.js")).header("if-none-match", "\"stale\"").send().await.unwrap();
        assert_eq!(res.status(), 200);
        // Another file has another ETag.
        let res = get(&s, "/admin/").await;
        assert_ne!(res.headers()["etag"].to_str().unwrap(), etag);
    }
}

e2e! {
    async fn console_routes_fall_back_to_the_index_and_missing_files_are_404(b) {
        let s = Server::start(b).await;
        let index = std::fs::read(repo().join("web-admin/index.html")).unwrap();

        // Client-side routes (no extension) get the console itself.
        for route in ["/admin/tenants", "/admin/t/ten_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b/channels", "/admin/login?next=x"] {
            let res = get(&s, route).await;
            assert_eq!(res.status(), 200, "{route}");
            assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8", "{route}");
            assert_console_headers(res.headers(), route);
            assert_eq!(res.bytes().await.unwrap(), index, "{route}");
        }

        // Missing files, hidden files, the console's tests, and anything that
        // tries to leave the folder: 404 problems, with the console's headers.
        for path in [
            "/admin/nope.js",
            "/admin/screens/nope.css",
            "/admin/.gitignore",
            "/admin/test/console.test.js",
            "/admin/..%2fCargo.toml",
            "/admin/components/..%2f..%2fCargo.toml",
            "/admin/package.json",
        ] {
            let res = get(&s, path).await;
            assert_eq!(res.status(), 404, "{path}");
            assert_eq!(res.headers()["content-type"], "application/problem+json", "{path}");
            assert_console_headers(res.headers(), path);
            let p: Value = res.json().await.unwrap();
            assert_eq!(p["type"], "urn:herald:problem:not-found", "{path}");
        }

        // Dot segments that a client would resolve away (reqwest does), sent
        // as they are: never a file outside the folder.
        for path in ["/admin/../Cargo.toml", "/admin/%2e%2e/%2e%2e/Cargo.toml", "/admin/components/../../README.md", "/admin/.."] {
            let head = raw_get(&s, path).await;
            assert!(head.starts_with("HTTP/1.1 404"), "{path}: {head}");
            assert!(head.to_ascii_lowercase().contains("content-security-policy:"), "{path}: {head}");
        }

        // Only GET and HEAD.
        for (method, path) in [(Method::POST, "/admin/"), (Method::DELETE, "/admin/app.js"), (Method::PUT, "/admin")] {
            let res = s.client.request(method.clone(), s.url(path)).send().await.unwrap();
            assert_eq!(res.status(), 405, "{method} {path}");
            assert_eq!(res.headers()["allow"], "GET, HEAD", "{method} {path}");
            assert_eq!(res.headers()["content-type"], "application/problem+json");
            assert_console_headers(res.headers(), path);
        }
    }
}

e2e! {
    async fn the_console_is_not_part_of_the_api(b) {
        let s = Server::start(b).await;
        let (st, spec) = s.get("/openapi.json", "").await;
        assert_eq!(st, 200);
        let paths: Vec<&String> = spec["paths"].as_object().unwrap().keys().collect();
        assert!(!paths.iter().any(|p| p.starts_with("/admin")), "{paths:?}");
        assert!(paths.iter().any(|p| p.as_str() == "/v1/tenants/{tenant}/tokens"), "{paths:?}");

        // The API's own fallback is unchanged around it.
        for path in ["/adminx", "/admin.js", "/v1/nope"] {
            let res = get(&s, path).await;
            assert_eq!(res.status(), 404, "{path}");
            assert_eq!(res.headers()["content-type"], "application/problem+json", "{path}");
            assert!(!res.headers().contains_key("content-security-policy"), "{path}");
        }
        let res = s.client.delete(s.url("/v1/tenants")).bearer_auth(&s.operator_key).send().await.unwrap();
        assert_eq!(res.status(), 405);
        assert_eq!(res.headers()["allow"], "GET, POST");
        // The API does not carry the console's CSP.
        let res = s.client.get(s.url("/v1/tenants")).bearer_auth(&s.operator_key).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(!res.headers().contains_key("content-security-policy"));
    }
}

/// Sends `GET path` as written, without a client's URL normalization;
/// returns the answer's status line and headers.
async fn raw_get(s: &Server, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    answer.split("\r\n\r\n").next().unwrap().to_owned()
}
