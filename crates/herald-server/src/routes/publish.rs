//! Publishing, the HTTP side: bodies, the `Idempotency-Key` header and the
//! answers. The pipeline (validate, quota, publish hooks, commit, usage) is
//! the application layer's (`herald_app::publish`). A 201 means the
//! notification is durably committed; it reaches live streams just after.

use actix_web::{HttpRequest, HttpResponse, post, web};
use herald_app::publish::{PublishInput, Published as Outcome};
use herald_core::ids::Seq;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::auth::TenantPublisher;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

fn null_data() -> Box<RawValue> {
    RawValue::from_string("null".into()).expect("null is JSON")
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishBody {
    /// Becomes the SSE `event:`. Letters, digits and `-_.:/`; at most 64 bytes.
    #[serde(rename = "type")]
    #[schema(example = "order.shipped")]
    pub event_type: String,
    /// Any JSON; stored and delivered verbatim.
    #[serde(default = "null_data")]
    #[schema(value_type = serde_json::Value, example = json!({"order": 1234}))]
    pub data: Box<RawValue>,
    /// Only these users' streams receive it; absent means every subscriber.
    pub recipients: Option<Vec<String>>,
    /// Retrying with the same key within 24 h returns the first id and stores nothing.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchItem {
    #[schema(example = "orders")]
    pub channel: String,
    #[serde(rename = "type")]
    #[schema(example = "order.shipped")]
    pub event_type: String,
    #[serde(default = "null_data")]
    #[schema(value_type = serde_json::Value, example = json!({"order": 1234}))]
    pub data: Box<RawValue>,
    pub recipients: Option<Vec<String>>,
    pub idempotency_key: Option<String>,
}

impl BatchItem {
    // serde's `flatten` buffers values, which `RawValue` cannot survive, so
    // the fields are spelled out and split here.
    fn input(self) -> PublishInput {
        PublishInput {
            channel: self.channel,
            event_type: self.event_type,
            data: self.data,
            recipients: self.recipients,
            idempotency_key: self.idempotency_key,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchBody {
    pub notifications: Vec<BatchItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Published {
    /// The notification's position in the tenant's log (its SSE `id`);
    /// null when a plugin withheld it.
    #[schema(example = 42)]
    pub id: Option<Seq>,
    /// Set when the channel's plugin chain withheld the notification
    /// (answered with 200 instead of 201).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withheld: Option<Withheld>,
}

/// The 201 answer, as documented: the id is always there. (`Published`
/// serializes both answers; these two types give clients exact schemas.)
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub(crate) struct Committed {
    /// The notification's position in the tenant's log (its SSE `id`).
    #[schema(example = 42)]
    pub id: Seq,
}

/// The 200 answer when the channel's plugin chain withheld the notification.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub(crate) struct WithheldAnswer {
    /// Always null: nothing was stored.
    #[schema(value_type = Option<i64>, required = true)]
    pub id: (),
    pub withheld: Withheld,
}

/// A notification a plugin kept out of storage and delivery.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Withheld {
    #[schema(example = "keyword-filter")]
    pub plugin: String,
    pub reason: String,
    /// The dead letter that records it (`GET /v1/tenants/{tenant}/dead-letters`).
    #[schema(example = "dl_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub dead_letter: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PublishedBatch {
    /// Ids in the order of the request; null where a plugin withheld the notification.
    #[schema(example = json!([42, 43]))]
    pub ids: Vec<Option<Seq>>,
    /// What plugins withheld, by position in the request.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<WithheldAt>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WithheldAt {
    /// Position in the request.
    pub index: usize,
    #[serde(flatten)]
    pub withheld: Withheld,
}

impl From<herald_app::publish::Withheld> for Withheld {
    fn from(w: herald_app::publish::Withheld) -> Self {
        Withheld { plugin: w.plugin.to_string(), reason: w.reason, dead_letter: w.dead_letter.to_string() }
    }
}

fn idempotency_header(req: &HttpRequest) -> ApiResult<Option<String>> {
    req.headers()
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned).map_err(|_| ApiError::BadRequest("Idempotency-Key is not valid text".into())))
        .transpose()
}

/// Publish a notification to a channel.
#[utoipa::path(
    tag = "publish",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("channel" = String, Path, description = "Channel name; created on first publish"),
        ("Idempotency-Key" = Option<String>, Header, description = "Same as `idempotency_key` in the body"),
    ),
    request_body = PublishBody,
    responses(
        (status = 201, description = "Durably committed", body = Committed),
        (status = 200, description = "Withheld by the channel's plugin chain (recorded as a dead letter)", body = WithheldAnswer),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `publish` (`forbidden`), or the tenant is suspended (`tenant-suspended`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body or data too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the tenant's `publishes_per_second` or `max_stored_notifications` quota; see `Retry-After`", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[post("/v1/tenants/{tenant}/channels/{channel}/notifications")]
pub(crate) async fn publish(
    TenantPublisher(tenant): TenantPublisher,
    req: HttpRequest,
    app: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<PublishBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let input = PublishInput {
        channel: path.into_inner().1,
        event_type: body.event_type,
        data: body.data,
        recipients: body.recipients,
        idempotency_key: body.idempotency_key.or(idempotency_header(&req)?),
    };
    Ok(match app.publish_one(&tenant, input).await? {
        Outcome::Committed(id) => HttpResponse::Created().json(Published { id: Some(id), withheld: None }),
        Outcome::Withheld(w) => HttpResponse::Ok().json(Published { id: None, withheld: Some(w.into()) }),
    })
}

/// Publish several notifications atomically, in one transaction.
#[utoipa::path(
    tag = "publish",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = BatchBody,
    responses(
        (status = 201, description = "All durably committed", body = PublishedBatch),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `publish` (`forbidden`), or the tenant is suspended (`tenant-suspended`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body, data or batch too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field; nothing was published", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the tenant's `publishes_per_second` (a batch counts its size) or `max_stored_notifications` quota; nothing was published; see `Retry-After`", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[post("/v1/tenants/{tenant}/notifications:batch")]
pub(crate) async fn publish_batch(
    TenantPublisher(tenant): TenantPublisher,
    app: web::Data<AppState>,
    body: web::Json<BatchBody>,
) -> ApiResult<HttpResponse> {
    let inputs = body.into_inner().notifications.into_iter().map(BatchItem::input).collect();
    let mut ids = Vec::new();
    let mut withheld = Vec::new();
    for (index, published) in app.publish_batch(&tenant, inputs).await?.into_iter().enumerate() {
        match published {
            Outcome::Committed(id) => ids.push(Some(id)),
            Outcome::Withheld(w) => {
                ids.push(None);
                withheld.push(WithheldAt { index, withheld: w.into() });
            }
        }
    }
    Ok(HttpResponse::Created().json(PublishedBatch { ids, withheld }))
}
