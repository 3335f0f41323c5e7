//! `/docs/`: Swagger UI under a strict Content-Security-Policy.

use reqwest::StatusCode;

use crate::harness::*;

e2e! {
    async fn the_docs_page_runs_only_its_own_scripts(b) {
        let s = Server::start(b).await;
        let res = s.client.get(s.url("/docs/")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
        let directive = |name: &str| {
            csp.split(';').map(str::trim).find(|d| d.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no {name}: {csp}")).to_owned()
        };
        assert_eq!(directive("script-src"), "script-src 'self'", "{csp}");
        assert_eq!(directive("default-src"), "default-src 'self'");
        assert_eq!(directive("connect-src"), "connect-src 'self'");
        assert_eq!(directive("frame-ancestors"), "frame-ancestors 'none'");
        let page = res.text().await.unwrap();

        // Every script is a same-origin file, none inline, and each is served
        // (with the same policy).
        let mut scripts = 0;
        for tag in page.split("<script").skip(1) {
            let tag = &tag[..tag.find("</script>").unwrap()];
            let (attrs, inline) = tag.split_once('>').unwrap();
            assert!(inline.trim().is_empty(), "an inline script: {tag}");
            let src = attrs.split("src=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_else(|| panic!("a script without src: {tag}"));
            assert!(!src.contains("//") && !src.starts_with("data:"), "a script from elsewhere: {src}");
            let file = s.client.get(s.url(&format!("/docs/{}", src.trim_start_matches("./")))).send().await.unwrap();
            assert_eq!(file.status(), StatusCode::OK, "{src}");
            assert!(file.headers().contains_key("content-security-policy"), "{src}");
            scripts += 1;
        }
        assert!(scripts >= 2, "{page}");
        assert!(!page.contains("onload=") && !page.contains("javascript:"), "no inline handlers: {page}");

        // The configuration reads this server's document.
        let init = s.client.get(s.url("/docs/swagger-initializer.js")).send().await.unwrap().text().await.unwrap();
        assert!(init.contains("/openapi.json"), "{init}");
        let redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let res = redirect.get(s.url("/docs")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
        assert!(res.headers().contains_key("content-security-policy"));
        assert_eq!(s.client.get(s.url("/docs/nothing.js")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    }
}
