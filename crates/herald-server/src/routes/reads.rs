//! Read state for inboxes: mark notifications read for the token's user,
//! and count what is unread for a badge.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use actix_web_lab::extract::Query;
use herald_core::ids::Seq;
use herald_core::{DomainError, limits};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::subscriber_auth::{authenticate, channels};

/// Exactly one of `ids` and `up_to`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MarkRead {
    /// These notifications (at most 1000).
    #[schema(example = json!([41, 42]))]
    pub ids: Option<Vec<Seq>>,
    /// Every notification up to and including this id ("mark all read").
    #[schema(example = 42)]
    pub up_to: Option<Seq>,
}

/// Mark notifications read for the token's user.
#[utoipa::path(
    tag = "stream",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = MarkRead,
    responses(
        (status = 204, description = "Marked"),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, expired, badly signed or wrongly keyed token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Malformed tenant id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`too-many-read-receipts`: the user already holds the most notifications marked read one by one (10,000); mark read `up_to` an id instead", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither or both of `ids` and `up_to`, too many ids, or a negative id; `unknown-notification`: an id never published", body = Problem, content_type = "application/problem+json"),
    ),
    security(("subscriber_token" = []))
)]
#[post("/v1/tenants/{tenant}/notifications/read")]
pub(crate) async fn mark_read(req: HttpRequest, app: web::Data<AppState>, body: web::Json<MarkRead>) -> ApiResult<HttpResponse> {
    let (tenant, subscriber) = authenticate(&req, &app, None).await?;
    match body.into_inner() {
        MarkRead { ids: Some(ids), up_to: None } => {
            if ids.len() > limits::MAX_READ_IDS {
                return Err(DomainError::invalid("ids", format!("at most {} per request", limits::MAX_READ_IDS)).into());
            }
            if ids.iter().any(|id| *id < 0) {
                return Err(DomainError::invalid("ids", "ids are 0 or more").into());
            }
            app.mark_read(&tenant, &subscriber.user, &ids).await?;
        }
        MarkRead { ids: None, up_to: Some(up_to) } => {
            if up_to < 0 {
                return Err(DomainError::invalid("up_to", "ids are 0 or more").into());
            }
            app.mark_read_up_to(&tenant, &subscriber.user, up_to).await?;
        }
        _ => return Err(DomainError::invalid("body", "give exactly one of `ids` and `up_to`").into()),
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UnreadQuery {
    /// Channel or pattern to count; repeat for several. Each must be
    /// covered by the token's `herald.subscribe`.
    #[serde(default)]
    #[param(required = true)]
    pub channel: Vec<String>,
    /// The subscriber token, for clients that cannot set headers.
    pub access_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UnreadCount {
    /// Unread notifications this user may see on these channels.
    #[schema(example = 3)]
    pub count: u64,
    /// The count stopped at 1000 (or after scanning 10,000 notifications): show "999+".
    pub capped: bool,
}

/// Count the token's user's unread notifications (for a badge).
#[utoipa::path(
    tag = "stream",
    params(("tenant" = String, Path, description = "Tenant id"), UnreadQuery),
    responses(
        (status = 200, description = "The count", body = UnreadCount),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, expired, badly signed or wrongly keyed token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A channel outside the token's scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Malformed tenant id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or missing channel", body = Problem, content_type = "application/problem+json"),
    ),
    security(("subscriber_token" = []), ("subscriber_token_query" = []))
)]
#[get("/v1/tenants/{tenant}/notifications/unread")]
pub(crate) async fn unread(req: HttpRequest, app: web::Data<AppState>) -> ApiResult<HttpResponse> {
    crate::auth::path_tenant(&req)?;
    let q = Query::<UnreadQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?
        .into_inner();
    let (tenant, subscriber) = authenticate(&req, &app, q.access_token).await?;
    let patterns = channels(&subscriber, q.channel)?;
    let n = app.unread_count(&tenant, &patterns, &subscriber.user, limits::MAX_UNREAD_COUNT).await?;
    Ok(HttpResponse::Ok().json(UnreadCount { count: n.count, capped: n.capped }))
}
