//! `GET /metrics`: this node's Prometheus metrics (see [`crate::metrics`]).
//!
//! Unauthenticated, like `/healthz`, because scrapers rarely carry
//! credentials: it names tenant ids (bounded by `metrics.tenant_labels`)
//! but no secret and no notification content. Operators who want it
//! private turn the tenant label off or keep the path off the public
//! listener at their proxy (docs/metrics.md).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};

use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// The OpenMetrics text format's media type, which Prometheus asks for.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The Prometheus text format, for every other client.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus metrics of this node: connections, notifications published,
/// delivered, replayed and dropped, queue overflows, plugin calls, emails, and
/// the latency of requests, SQL statements, bus announcements and plugin calls.
/// In the Prometheus text format 0.0.4, or in OpenMetrics when the `Accept`
/// header asks for `application/openmetrics-text` (as Prometheus does).
/// 404 when `metrics.enabled` is off.
#[utoipa::path(
    tag = "system",
    responses((status = 200, description = "The metrics (Prometheus text format 0.0.4)", content_type = "text/plain", body = String))
)]
#[get("/metrics")]
pub(crate) async fn metrics(req: HttpRequest, app: web::Data<AppState>) -> ApiResult<HttpResponse> {
    if !app.metrics().settings().enabled {
        return Err(ApiError::NotFound("metrics are off on this node (`metrics.enabled`)".into()));
    }
    let openmetrics = req
        .headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("application/openmetrics-text"));
    let (content_type, body) = if openmetrics { (OPENMETRICS, app.metrics_openmetrics()) } else { (PROMETHEUS_TEXT, app.metrics_text()) };
    Ok(HttpResponse::Ok().content_type(content_type).insert_header((header::CACHE_CONTROL, "no-store")).body(body))
}
