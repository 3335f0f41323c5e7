//! Recipients: the email address, locale and email preferences of a
//! tenant's users, for the email fallback. A direct notification on a
//! channel with an email policy is emailed to a listed user who has a
//! recipient record and did not receive it live in time.

use actix_web::{HttpResponse, delete, get, put, web};
use herald_app::records::RecipientUpdate;
use herald_core::email::{EmailAddress, Locale, Preferences, Recipient};
use herald_core::names::UserId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::TenantAdmin;
use crate::pagination::{ListQuery, Page};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutRecipient {
    /// One bare address (no display name), at most 254 bytes.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// A BCP 47 language tag for templates (`recipient.locale`).
    #[schema(example = "en-GB")]
    pub locale: Option<String>,
    /// Replaces the preferences. Omit it to keep the current ones (the
    /// defaults, every channel, for a new recipient), so that syncing
    /// addresses never undoes what a user unsubscribed from.
    pub preferences: Option<Preferences>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecipientView {
    #[schema(example = "42")]
    pub user: String,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "en-GB")]
    pub locale: Option<String>,
    pub preferences: Preferences,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Recipient> for RecipientView {
    fn from(r: Recipient) -> Self {
        Self {
            user: r.user.to_string(),
            email: r.email.to_string(),
            locale: r.locale.map(|l| l.to_string()),
            preferences: r.preferences,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A user id from the path of a route that reads or deletes: one that
/// cannot be valid cannot exist.
fn existing_user(raw: &str) -> ApiResult<UserId> {
    UserId::parse(raw).map_err(|_| ApiError::NotFound("recipient not found".into()))
}

fn email_address(raw: String) -> ApiResult<EmailAddress> {
    Ok(herald_app::admin::email_address(raw)?)
}

/// Create or replace a recipient.
///
/// Answers 201 when the recipient is new, 200 when it replaced one.
#[utoipa::path(
    tag = "recipients",
    params(("tenant" = String, Path, description = "Tenant id"), ("user" = String, Path, description = "User id (the token's `sub`), percent-encoded")),
    request_body = PutRecipient,
    responses(
        (status = 200, description = "Replaced", body = RecipientView),
        (status = 201, description = "Created", body = RecipientView),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid user id, address, locale or preferences", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[put("/v1/tenants/{tenant}/recipients/{user}")]
pub(crate) async fn put_recipient(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<PutRecipient>,
) -> ApiResult<HttpResponse> {
    let user = UserId::parse(path.into_inner().1)?;
    let body = body.into_inner();
    let email = email_address(body.email)?;
    let locale = body.locale.map(Locale::parse).transpose()?;
    let mut preferences = body.preferences;
    if let Some(p) = &mut preferences {
        p.email.validate()?;
        p.email.normalize();
    }
    let update = RecipientUpdate { email: &email, locale: locale.as_ref(), preferences: preferences.as_ref() };
    let (recipient, created) = app.put_recipient(&tenant, &user, update).await?;
    let view = RecipientView::from(recipient);
    Ok(if created { HttpResponse::Created().json(view) } else { HttpResponse::Ok().json(view) })
}

/// List recipients in user id order.
#[utoipa::path(
    tag = "recipients",
    params(("tenant" = String, Path, description = "Tenant id"), ListQuery),
    responses(
        (status = 200, description = "A page of recipients", body = Page<RecipientView>),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid cursor", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/recipients")]
pub(crate) async fn list_recipients(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let after = q.after.clone().map(UserId::parse).transpose()?;
    let limit = q.limit();
    let items: Vec<RecipientView> = app.list_recipients(&tenant, after.as_ref(), limit).await?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |r| r.user.clone())))
}

/// Get a recipient.
#[utoipa::path(
    tag = "recipients",
    params(("tenant" = String, Path, description = "Tenant id"), ("user" = String, Path, description = "User id, percent-encoded")),
    responses(
        (status = 200, description = "The recipient", body = RecipientView),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such recipient", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/recipients/{user}")]
pub(crate) async fn get_recipient(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let recipient = app.get_recipient(&tenant, &existing_user(&path.1)?).await?;
    Ok(HttpResponse::Ok().json(RecipientView::from(recipient)))
}

/// Delete a recipient. Emails waiting for them are cancelled when they
/// come due (the delivery log says so).
#[utoipa::path(
    tag = "recipients",
    params(("tenant" = String, Path, description = "Tenant id"), ("user" = String, Path, description = "User id, percent-encoded")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such recipient", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[delete("/v1/tenants/{tenant}/recipients/{user}")]
pub(crate) async fn delete_recipient(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    app.delete_recipient(&tenant, &existing_user(&path.1)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
