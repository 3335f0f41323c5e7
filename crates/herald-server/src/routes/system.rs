//! Liveness and readiness, for load balancers and orchestrators.
//!
//! `/healthz` says the process answers HTTP and touches nothing else, so a
//! slow database does not get a healthy process restarted. `/readyz` says
//! whether this node should get traffic: its database answers, carries
//! every migration this binary knows, and (with a bus) the node hears the
//! other nodes.

use actix_web::{HttpResponse, get, web};
use herald_app::records::BusStatus;
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
    #[schema(example = "sqlite")]
    pub database: &'static str,
    /// Herald's version.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    /// The commit the binary was built from (short hash), or `unknown` for
    /// a build from sources outside the repository.
    #[schema(example = "26635b6")]
    pub commit: &'static str,
}

/// Liveness: the process answers, and which build it runs.
#[utoipa::path(tag = "system", responses((status = 200, description = "Alive", body = Health)))]
#[get("/healthz")]
pub(crate) async fn healthz(app: web::Data<AppState>) -> HttpResponse {
    let build = app.settings().build;
    HttpResponse::Ok().json(Health { status: "ok", database: app.backend_name(), version: build.version, commit: build.commit })
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Ready {
    #[schema(example = "ready")]
    pub status: &'static str,
    #[schema(example = "postgres")]
    pub database: &'static str,
    /// `none` (a single node) or `connected`.
    #[schema(example = "connected")]
    pub bus: &'static str,
}

/// Readiness: the database answers with every migration applied, and the
/// bus (if any) is connected.
#[utoipa::path(
    tag = "system",
    responses(
        (status = 200, description = "Ready for traffic", body = Ready),
        (status = 503, description = "Not ready (`not-ready`): the detail names what is missing", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub(crate) async fn readyz(app: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let mut missing = Vec::new();
    match app.ping().await {
        Err(e) => missing.push(format!("the database does not answer ({e})")),
        Ok(()) => match app.pending_migrations().await {
            Ok(0) => {}
            Ok(n) => missing.push(format!("{n} database migrations are not applied (run `herald migrate`)")),
            Err(e) => missing.push(format!("the migrations could not be read ({e})")),
        },
    }
    let bus = match app.bus_status() {
        BusStatus::None => "none",
        BusStatus::Connected => "connected",
        BusStatus::Connecting => {
            missing.push("the bus is not connected yet".into());
            "connecting"
        }
        BusStatus::Lost => {
            missing.push("the bus connection is lost (reconnecting)".into());
            "lost"
        }
    };
    if !missing.is_empty() {
        return Err(ApiError::NotReady(missing.join("; ")));
    }
    Ok(HttpResponse::Ok().json(Ready { status: "ready", database: app.backend_name(), bus }))
}
