//! Subscriber tokens minted by Herald, for callers that would rather not
//! hold a signing secret: the admin console, and SaaS back ends that ask
//! Herald with their admin key instead of signing tokens themselves.
//!
//! A minted token is an ordinary subscriber token, signed with one of the
//! tenant's HS256 keys: streams, polls and the session cookie verify it like
//! any other, and deleting the key revokes it. It carries `iat`, and the
//! `iss` and `aud` its key requires; a lifetime over the tenant's
//! `max_lifetime_seconds` is refused rather than minted to fail.

use actix_web::http::header;
use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Utc};
use herald_core::claims::{HeraldClaims, SubscriberClaims};
use herald_core::ids::SigningKeyId;
use herald_core::keys::SigningAlg;
use herald_core::names::UserId;
use herald_core::pattern::ChannelPattern;
use herald_core::token::{KeyMaterial, SigningMaterial, mint};
use herald_core::{DomainError, limits};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::TenantAdmin;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// Longest lifetime of a minted token: an hour, so a leaked one is short-lived
/// and a long-lived client must come back (with its admin key) to renew.
const MAX_TTL_SECONDS: u64 = 3600;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MintToken {
    /// The subscriber's user id (the token's `sub`): what `recipients` name.
    /// At most 128 bytes, no control characters.
    #[schema(example = "console", min_length = 1, max_length = 128)]
    pub sub: String,
    /// Channel patterns the token may receive (`herald.subscribe`): `*` is one
    /// segment, `>` the rest.
    #[schema(example = json!(["orders", "user.>"]), min_items = 1, max_items = 64)]
    pub subscribe: Vec<String>,
    /// Lifetime in seconds, 1 to 3600.
    #[schema(example = 600, minimum = 1, maximum = 3600)]
    pub ttl_seconds: u64,
    /// The HS256 signing key to sign with; without it, the tenant's newest
    /// HS256 key.
    #[schema(example = "sk_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub kid: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MintedToken {
    /// The subscriber JWT: send it as `Authorization: Bearer`, `access_token`
    /// or through `POST …/session`.
    #[schema(example = "eyJhbGciOiJIUzI1NiIsImtpZCI6InNrXzAxOTMuLi4iLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiJjb25zb2xlIn0.c2lnbmF0dXJl")]
    pub token: String,
    /// When the token expires (its `exp`); streams end then with `token-expired`.
    pub expires_at: DateTime<Utc>,
    /// The signing key that signed it (the JWT header's `kid`).
    #[schema(example = "sk_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub kid: String,
}

/// The checked request: every field has passed its domain's rules.
struct Checked {
    sub: UserId,
    subscribe: Vec<ChannelPattern>,
    ttl_seconds: u64,
    kid: Option<SigningKeyId>,
}

/// Names the request's own field in a domain error (`sub` rather than
/// `user id`), with the position of a bad pattern.
fn as_field(field: &'static str, at: Option<usize>) -> impl Fn(DomainError) -> ApiError {
    move |e| match e {
        DomainError::Invalid { reason, .. } => {
            let reason = match at {
                Some(i) => format!("{reason} ({field}[{i}])"),
                None => reason,
            };
            DomainError::invalid(field, reason).into()
        }
        other => other.into(),
    }
}

fn check(body: MintToken) -> ApiResult<Checked> {
    let sub = UserId::parse(body.sub).map_err(as_field("sub", None))?;
    if body.subscribe.is_empty() {
        return Err(DomainError::invalid("subscribe", "name at least one channel pattern the token may receive").into());
    }
    if body.subscribe.len() > limits::MAX_PATTERNS {
        return Err(DomainError::invalid("subscribe", format!("at most {} patterns", limits::MAX_PATTERNS)).into());
    }
    let subscribe = body
        .subscribe
        .into_iter()
        .enumerate()
        .map(|(i, p)| ChannelPattern::parse(p).map_err(as_field("subscribe", Some(i))))
        .collect::<ApiResult<Vec<_>>>()?;
    if !(1..=MAX_TTL_SECONDS).contains(&body.ttl_seconds) {
        return Err(DomainError::invalid("ttl_seconds", format!("must be 1 to {MAX_TTL_SECONDS}")).into());
    }
    let kid = body.kid.as_deref().map(SigningKeyId::parse).transpose()?;
    Ok(Checked { sub, subscribe, ttl_seconds: body.ttl_seconds, kid })
}

/// The key to sign with and its secret.
async fn signing_key(app: &AppState, tenant: &herald_core::ids::TenantId, kid: Option<SigningKeyId>) -> ApiResult<(SigningKeyId, String)> {
    let Some(kid) = kid else {
        return app.newest_hs256_key(tenant).await?.ok_or_else(|| {
            ApiError::NoSigningKey(
                "this tenant has no HS256 signing key, so Herald holds no secret to sign with: create an HS256 signing key first (POST /v1/tenants/{tenant}/signing-keys with {\"alg\": \"HS256\"})".into(),
            )
        });
    };
    let key = app.verifying_key(tenant, kid.as_str()).await?;
    match key {
        None => Err(DomainError::invalid("kid", format!("this tenant has no signing key `{kid}`")).into()),
        Some(key) => match key.material {
            KeyMaterial::Secret(secret) if key.alg == SigningAlg::HS256 => Ok((kid, secret)),
            _ => Err(ApiError::NoSigningKey(format!(
                "signing key `{kid}` is {}: Herald holds only its public key and cannot sign with it; name an HS256 key, or create one first",
                key.alg
            ))),
        },
    }
}

/// Mint a subscriber token.
///
/// Herald signs it with the named HS256 signing key, or the tenant's newest
/// one. The token is an ordinary subscriber token: it opens streams and
/// polls on the patterns it lists until it expires, or until its signing
/// key is deleted.
#[utoipa::path(
    tag = "tokens",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = MintToken,
    responses(
        (status = 201, description = "Minted", body = MintedToken,
            headers(("Cache-Control" = String, description = "`no-store`: the answer is a credential"))),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No HS256 signing key to sign with (`no-signing-key`): create one first, or name an HS256 `kid`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `sub`, pattern, `ttl_seconds` (1 to 3600, and at most the tenant's `max_lifetime_seconds`) or `kid`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[post("/v1/tenants/{tenant}/tokens")]
pub(crate) async fn mint_token(
    TenantAdmin(tenant): TenantAdmin,
    app: web::Data<AppState>,
    body: web::Json<MintToken>,
) -> ApiResult<HttpResponse> {
    let req = check(body.into_inner())?;
    let (kid, secret) = signing_key(&app, &tenant, req.kid).await?;
    let rules = app.token_rules(&tenant, kid.as_str()).await?;
    if let Some(max) = rules.max_lifetime_seconds
        && req.ttl_seconds > max
    {
        return Err(DomainError::invalid("ttl_seconds", format!("at most the tenant's max_lifetime_seconds, {max}")).into());
    }
    let now = Utc::now().timestamp();
    let exp = now + i64::try_from(req.ttl_seconds).expect("at most 3600");
    let mut extra = serde_json::Map::new();
    extra.insert("iat".into(), now.into());
    if let Some(iss) = rules.issuer {
        extra.insert("iss".into(), iss.into());
    }
    if let Some(aud) = rules.audience {
        extra.insert("aud".into(), aud.into());
    }
    let claims = SubscriberClaims {
        sub: req.sub.to_string(),
        exp,
        herald: HeraldClaims { subscribe: req.subscribe.iter().map(ToString::to_string).collect() },
        extra,
    };
    let token = mint(kid.as_str(), SigningAlg::HS256, &SigningMaterial::Secret(secret), &claims)
        .map_err(|e| ApiError::Internal(format!("minting a token with {kid}: {e}")))?;
    let expires_at = DateTime::from_timestamp(exp, 0).ok_or_else(|| ApiError::Internal(format!("exp {exp} is out of range")))?;
    tracing::info!(tenant = %tenant, kid = %kid, sub = %req.sub, ttl_seconds = req.ttl_seconds, "subscriber token minted");
    Ok(HttpResponse::Created().insert_header((header::CACHE_CONTROL, "no-store")).json(MintedToken {
        token,
        expires_at,
        kid: kid.to_string(),
    }))
}
