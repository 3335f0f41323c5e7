//! The delivery log: what happened to emails, and the live deliveries
//! (stream, poll) that made them unnecessary.

use actix_web::{HttpResponse, get, web};
use herald_app::records::DeliveryFilter;
use herald_core::email::{Delivery, DeliveryPath, DeliveryStatus};
use herald_core::ids::{DeliveryId, Seq};
use herald_core::names::UserId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::TenantAdmin;
use crate::pagination::{ListQuery, Page};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryView {
    #[schema(example = "dlv_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "42")]
    pub user: String,
    /// The notification id.
    #[schema(example = 17)]
    pub notification: Seq,
    #[schema(example = "orders")]
    pub channel: String,
    pub path: DeliveryPath,
    pub status: DeliveryStatus,
    /// The SMTP server's answer or the reason, for `deferred`, `failed` and
    /// `cancelled`.
    pub error: Option<String>,
    /// The email that carried (or would have carried) the notification; its
    /// `Message-ID` is `<{email}@{from domain}>`.
    #[schema(example = "eml_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub email: Option<String>,
    /// Which attempt this was (1 for the first), for sent, deferred and
    /// failed emails.
    pub attempt: Option<u32>,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id.to_string(),
            user: d.user.to_string(),
            notification: d.notification,
            channel: d.channel.to_string(),
            path: d.path,
            status: d.status,
            error: d.error,
            email: d.email.map(|e| e.to_string()),
            attempt: d.attempt,
            at: d.at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryQuery {
    /// Only this user's.
    pub user: Option<String>,
    /// Only this notification's.
    pub notification: Option<Seq>,
    /// Page size, 1 to 1000 (default 100).
    #[serde(default, deserialize_with = "crate::pagination::page_limit")]
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u64>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

/// List the delivery log, oldest first.
///
/// One entry per outcome of the email fallback: a live delivery (`stream`
/// or `poll`, `delivered`) that cancelled a pending email, and every email
/// attempt (`sent`, `deferred`, `failed`) or cancellation. Entries are kept
/// for `email.keep_records_seconds`.
#[utoipa::path(
    tag = "deliveries",
    params(("tenant" = String, Path, description = "Tenant id"), DeliveryQuery),
    responses(
        (status = 200, description = "A page of the delivery log", body = Page<DeliveryView>),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid user id or cursor", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/deliveries")]
pub(crate) async fn list_deliveries(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    q: web::Query<DeliveryQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let user = q.user.map(UserId::parse).transpose()?;
    let after = q.after.as_deref().map(DeliveryId::parse).transpose()?;
    let limit = ListQuery { limit: q.limit, after: None }.limit();
    let filter = DeliveryFilter { user: user.as_ref(), notification: q.notification };
    let items: Vec<DeliveryView> = app.list_deliveries(&tenant, filter, after.as_ref(), limit).await?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |d| d.id.clone())))
}
