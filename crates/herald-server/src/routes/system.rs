//! Liveness and the API description.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
    #[schema(example = "sqlite")]
    pub database: &'static str,
}

/// Health: answers 200 when the database answers.
#[utoipa::path(
    tag = "system",
    responses(
        (status = 200, description = "Healthy", body = Health),
        (status = 500, description = "The database does not answer", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/healthz")]
pub(crate) async fn healthz(app: web::Data<AppState>) -> ApiResult<HttpResponse> {
    app.store.ping().await?;
    Ok(HttpResponse::Ok().json(Health { status: "ok", database: app.store.backend_name() }))
}
