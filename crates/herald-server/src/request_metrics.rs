//! The request-latency middleware: every answer is timed by method,
//! matched route pattern and status.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;

use crate::state::AppState;

/// The method as a label: the standard ones by name, any other as `other`,
/// since a client can send any token as a method.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

pub(crate) async fn observe_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<AppState>>().map(|s| s.metrics().clone());
    let method = method_label(req.method());
    let start = Instant::now();
    let res = next.call(req).await?;
    if let Some(m) = metrics {
        m.request(method, res.request().match_pattern().as_deref(), res.status().as_u16(), start.elapsed());
    }
    Ok(res)
}
