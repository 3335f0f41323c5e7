//! Who a credential is: lets a client that holds only a key (the web
//! console, a script) find out whether it is the operator's or which
//! tenant's, with which scopes, without trying routes until one works.

use actix_web::{HttpResponse, get};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{AnyCaller, Caller};
use crate::problem::Problem;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CallerKind {
    Operator,
    ApiKey,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WhoAmI {
    pub kind: CallerKind,
    /// The key's tenant; null for the operator.
    #[schema(example = "ten_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub tenant: Option<String>,
    /// The key's id: an API key's, or a stored operator key's (`op_…`);
    /// null for the operator key configured in the environment.
    #[schema(example = "key_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub key_id: Option<String>,
    /// The API key's scopes (`admin` implies `publish`); empty for the operator, who may do everything.
    #[schema(example = json!(["admin"]))]
    pub scopes: Vec<String>,
}

/// Describe the credential of this request.
#[utoipa::path(
    tag = "system",
    responses(
        (status = 200, description = "The caller", body = WhoAmI),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/whoami")]
pub(crate) async fn whoami(AnyCaller(caller): AnyCaller) -> HttpResponse {
    let body = match caller {
        Caller::Operator(id) => {
            WhoAmI { kind: CallerKind::Operator, tenant: None, key_id: id.map(|id| id.to_string()), scopes: Vec::new() }
        }
        Caller::Key { id, tenant, scopes } => WhoAmI {
            kind: CallerKind::ApiKey,
            tenant: Some(tenant.to_string()),
            key_id: Some(id.to_string()),
            scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        },
    };
    HttpResponse::Ok().json(body)
}
