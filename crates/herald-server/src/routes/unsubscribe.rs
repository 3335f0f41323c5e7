//! One-click unsubscribe (RFC 8058). Every email carries
//! `List-Unsubscribe: <{public_url}/v1/unsubscribe/{token}>` and
//! `List-Unsubscribe-Post: List-Unsubscribe=One-Click`; the token is signed
//! by the server and names the tenant, the user and the channel.
//!
//! `POST` (what a mail client's "unsubscribe" button sends) turns that
//! channel's email off for that recipient at once and answers `200`. `GET`
//! (someone opening the link) only shows a page with a button that posts:
//! link scanners and prefetchers fetch URLs in emails, and must not
//! unsubscribe anyone by doing so.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use herald_app::records::UnsubscribeScope;

use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

fn verify(app: &AppState, token: &str) -> ApiResult<UnsubscribeScope> {
    app.verify_unsubscribe(token).map_err(|_| ApiError::NotFound("this unsubscribe link is not valid".into()))
}

/// Escapes text for HTML content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn what(scope: &UnsubscribeScope) -> String {
    match &scope.channel {
        Some(c) => format!("emails about <strong>{}</strong>", escape(c.as_str())),
        None => "all emails".to_owned(),
    }
}

fn page(title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width\">\n\
         <meta name=\"robots\" content=\"noindex\">\n<title>{title}</title>\n</head>\n\
         <body style=\"font-family: sans-serif; max-width: 32em; margin: 3em auto; line-height: 1.4\">\n<h1>{title}</h1>\n{body}\n</body>\n</html>\n"
    );
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        // The token is a credential of sorts: keep it out of caches and referrers.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(html)
}

/// Show the unsubscribe page.
///
/// A page with a button that posts to the same URL. Opening the link does
/// not unsubscribe by itself.
#[utoipa::path(
    tag = "unsubscribe",
    params(("token" = String, Path, description = "The signed token from the email's `List-Unsubscribe` link")),
    responses(
        (status = 200, description = "A confirmation page", body = String, content_type = "text/html"),
        (status = 404, description = "Invalid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/unsubscribe/{token}")]
pub(crate) async fn unsubscribe_page(app: web::Data<AppState>, token: web::Path<String>) -> ApiResult<HttpResponse> {
    let scope = verify(&app, &token)?;
    let body = format!(
        "<p>Stop {} to <strong>{}</strong>?</p>\n<form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>",
        what(&scope),
        escape(scope.user.as_str())
    );
    Ok(page("Unsubscribe", &body))
}

/// Unsubscribe (one click).
///
/// Turns the channel's email off for the recipient the token names (all
/// their email, for a token without a channel): the channel joins their
/// `preferences.email.unsubscribed`. Repeating it changes nothing. The body
/// (`List-Unsubscribe=One-Click`, RFC 8058) is not read.
#[utoipa::path(
    tag = "unsubscribe",
    params(("token" = String, Path, description = "The signed token from the email's `List-Unsubscribe` link")),
    responses(
        (status = 200, description = "Unsubscribed (or nothing left to unsubscribe from)", body = String, content_type = "text/html"),
        (status = 404, description = "Invalid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/unsubscribe/{token}")]
pub(crate) async fn unsubscribe(app: web::Data<AppState>, token: web::Path<String>) -> ApiResult<HttpResponse> {
    let scope = verify(&app, &token)?;
    let changed = app.unsubscribe_recipient(&scope.tenant, &scope.user, scope.channel.as_ref()).await?;
    tracing::info!(tenant = %scope.tenant, user = %scope.user, channel = ?scope.channel.as_ref().map(|c| c.as_str()), found = changed.is_some(), "unsubscribed");
    Ok(page("Unsubscribed", &format!("<p>You will no longer receive {}.</p>", what(&scope))))
}
