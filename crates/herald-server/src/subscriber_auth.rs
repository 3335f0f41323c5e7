//! Authenticating a subscriber (a browser or app holding a JWT the tenant
//! signed) on every subscriber endpoint: the stream, polling, read state
//! and the session cookie. One path, so the endpoints cannot disagree.

use actix_web::HttpRequest;
use actix_web::http::header;
use herald_core::DomainError;
use herald_core::claims::Subscriber;
use herald_core::ids::TenantId;
use herald_core::pattern::ChannelPattern;
use herald_core::token::TokenError;

use crate::auth::{bearer, path_tenant};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// Cookie that may carry the subscriber token (set by `POST …/session`).
pub(crate) const TOKEN_COOKIE: &str = "herald_token";

/// Where the token came from: a cookie is ambient authority, so it is only
/// honoured on requests from an allowed origin (see [`authenticate`]).
enum Source {
    Explicit(String),
    Cookie(String),
}

fn token(req: &HttpRequest, query_token: Option<String>) -> ApiResult<Source> {
    if let Some(t) = bearer(req)? {
        return Ok(Source::Explicit(t));
    }
    if let Some(t) = query_token {
        return Ok(Source::Explicit(t));
    }
    if let Some(c) = req.cookie(TOKEN_COOKIE) {
        return Ok(Source::Cookie(c.value().to_owned()));
    }
    Err(DomainError::Token(TokenError::Missing).into())
}

/// The tenant in the path and the verified subscriber. The token is taken
/// from `Authorization: Bearer`, then `access_token`, then the cookie.
///
/// The cookie counts only on a request from the same origin
/// (`Sec-Fetch-Site: same-origin`) or one carrying an `Origin` the tenant
/// allows: browsers send cookies with requests any page can trigger (an
/// image, a form), and such a request must not mark notifications delivered
/// or read on the user's behalf.
pub(crate) async fn authenticate(req: &HttpRequest, app: &AppState, query_token: Option<String>) -> ApiResult<(TenantId, Subscriber)> {
    let tenant = path_tenant(req)?;
    let token = match token(req, query_token)? {
        Source::Explicit(t) => t,
        Source::Cookie(t) => {
            let same_origin = req.headers().get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"same-origin");
            let origin = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok());
            match origin {
                _ if same_origin => t,
                Some(o) if app.origin_allowed(&tenant, o).await? => t,
                _ => {
                    return Err(ApiError::Unauthorized(
                        "the herald_token cookie is accepted only from the same origin or an allowed origin; send the token as `Authorization: Bearer`".into(),
                    ));
                }
            }
        }
    };
    let subscriber = app.verify_subscriber(&tenant, &token).await?;
    Ok((tenant, subscriber))
}

/// The `channel` query values as patterns the subscriber may receive.
pub(crate) fn channels(subscriber: &Subscriber, raw: Vec<String>) -> ApiResult<Vec<ChannelPattern>> {
    Ok(herald_app::delivery::subscriber::subscriber_patterns(subscriber, raw)?)
}
