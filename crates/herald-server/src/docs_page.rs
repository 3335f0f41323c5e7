//! The interactive API docs at `/docs/`: Swagger UI's files, built into the
//! binary (`utoipa-swagger-ui`), reading `/openapi.json`.
//!
//! Every answer carries a strict Content-Security-Policy. Swagger UI's page
//! loads its scripts from files of its own (`swagger-ui-bundle.js`,
//! `swagger-initializer.js`, which holds the configuration), never inline,
//! so scripts are same-origin only, and "Try it out" may call this origin
//! only. Styles allow `'unsafe-inline'`: Swagger UI's React components write
//! `style` attributes, and a style cannot run code. The page cannot be
//! framed (a framed "Try it out" holding a key could be clickjacked).

use std::sync::{Arc, LazyLock};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use utoipa_swagger_ui::Config;

pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                              connect-src 'self'; font-src 'self' data:; object-src 'none'; frame-ancestors 'none'; \
                              base-uri 'none'; form-action 'self'";

static CONFIG: LazyLock<Arc<Config<'static>>> =
    // No validator: its badge would be an image from another origin.
    LazyLock::new(|| Arc::new(Config::from("/openapi.json").validator_url("none")));

/// Registers `/docs` and everything under it.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/docs", web::get().to(redirect)).route("/docs/{file:.*}", web::get().to(serve));
}

fn with_headers(mut res: HttpResponse) -> HttpResponse {
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

async fn redirect() -> HttpResponse {
    // Swagger UI's page loads its files relative to the directory.
    with_headers(HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/docs/")).finish())
}

async fn serve(file: web::Path<String>) -> HttpResponse {
    let res = match utoipa_swagger_ui::serve(&file, CONFIG.clone()) {
        Ok(Some(file)) => {
            let mut res = HttpResponse::Ok();
            if file.gzpipped {
                res.insert_header((header::CONTENT_ENCODING, "gzip"));
            }
            res.content_type(file.content_type).body(file.bytes.into_owned())
        }
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(e) => {
            tracing::error!(error = %e, "serving a Swagger UI file failed");
            HttpResponse::InternalServerError().finish()
        }
    };
    with_headers(res)
}
