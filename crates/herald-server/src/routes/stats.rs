//! Live stats: a tenant's own (for its admins) and every tenant's (for the
//! operator). Connections and rates are this node's, from `crate::usage`;
//! email outcomes and dead letters come from the database and so cover
//! every node.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, web};
use chrono::Utc;
use herald_core::DomainError;
use herald_core::email::DeliveryStatus;
use herald_core::ids::TenantId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Operator, TenantAdmin};
use crate::problem::{ApiResult, Problem};
use crate::routes::quotas::QuotasBody;
use crate::state::AppState;
use herald_app::{Rates, TenantSnapshot};

/// Patterns listed per tenant, most connections first.
const MAX_PATTERNS: usize = 100;
/// Plugin versions whose call counters are summed.
const MAX_PLUGINS: u64 = 1000;
/// Default and largest `top` of the operator's view.
const DEFAULT_TOP: u32 = 20;
const MAX_TOP: u32 = 1000;

/// What the in-memory figures cover.
const SCOPE: &str = "node";

/// A counter since this node started, and its recent averages.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RateView {
    /// Since this node started.
    #[schema(example = 12840)]
    pub total: u64,
    /// Per second, averaged over the last 10 seconds.
    #[schema(example = 21.5)]
    pub per_second_10s: f64,
    /// Per second, averaged over the last 60 seconds.
    #[schema(example = 18.2)]
    pub per_second_60s: f64,
}

impl From<Rates> for RateView {
    fn from(r: Rates) -> Self {
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        Self { total: r.total, per_second_10s: round(r.per_second_10s), per_second_60s: round(r.per_second_60s) }
    }
}

/// Open connections on this node.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConnectionCounts {
    /// `sse + long_poll`: what `max_connections` limits.
    #[schema(example = 3)]
    pub total: u64,
    /// Open SSE streams.
    #[schema(example = 2)]
    pub sse: u64,
    /// Long-polls waiting for a notification.
    #[schema(example = 1)]
    pub long_poll: u64,
}

impl From<&TenantSnapshot> for ConnectionCounts {
    fn from(s: &TenantSnapshot) -> Self {
        Self { total: s.connections(), sse: s.sse, long_poll: s.long_poll }
    }
}

/// Connections subscribed to one channel pattern.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PatternCount {
    #[schema(example = "orders")]
    pub pattern: String,
    #[schema(example = 2)]
    pub connections: u64,
}

/// The tenant's delivery log entries of the last 24 hours, by status (all
/// nodes). A digest email has one entry per notification it carried.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct EmailOutcomes {
    /// Accepted by the SMTP server.
    pub sent: u64,
    /// Failed for good (including emails over `emails_per_day`).
    pub failed: u64,
    /// A transient failure; retried later.
    pub deferred: u64,
    /// Not needed any more (recipient, preferences, channel or notification changed).
    pub cancelled: u64,
    /// Received live (stream or poll) before the email went out.
    pub delivered: u64,
}

/// Plugin failures.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PluginErrors {
    /// Failed hook calls (traps, timeouts, out of fuel or memory, invalid
    /// output) of the tenant's plugins on this node since it started.
    #[schema(example = 2)]
    pub call_errors_on_node: u64,
    /// Dead letters recorded in the last 24 hours (all nodes), by outcome.
    #[schema(example = json!({"dropped": 3, "failed": 1}))]
    pub dead_letters_24h: BTreeMap<String, u64>,
}

/// One tenant's live stats.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantStats {
    #[schema(example = "ten_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub tenant: String,
    /// Always `node`: connections, rates and plugin call errors are this
    /// node's, since it started; email outcomes and dead letters are read
    /// from the database and cover every node.
    #[schema(example = "node")]
    pub scope: &'static str,
    /// Seconds this node has been counting.
    #[schema(example = 3600)]
    pub uptime_seconds: u64,
    pub connections: ConnectionCounts,
    /// Open connections per subscribed pattern, most first (at most 100).
    /// A connection subscribed to several patterns counts under each.
    pub connections_by_pattern: Vec<PatternCount>,
    /// Notifications published through this node.
    pub published: RateView,
    /// Notifications handed to subscribers by this node (streams and polls).
    pub delivered: RateView,
    pub emails_24h: EmailOutcomes,
    pub plugins: PluginErrors,
    /// The tenant's quotas; null is unlimited.
    pub quotas: QuotasBody,
}

/// A tenant's live stats.
///
/// Connections, rates and plugin call errors are **this node's** (each
/// node counts its own traffic; sum over nodes for a cluster-wide view).
/// Email outcomes and dead letters come from the database.
#[utoipa::path(
    tag = "stats",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The stats", body = TenantStats),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key of another tenant or without `admin`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []), ("api_key" = []))
)]
#[get("/v1/tenants/{tenant}/stats")]
pub(crate) async fn tenant_stats(TenantAdmin(tenant): TenantAdmin, app: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let since = Utc::now() - chrono::Duration::hours(24);
    let snapshot = app.tenant_usage(&tenant);
    let mut emails = EmailOutcomes::default();
    for (status, n) in app.delivery_outcomes_since(&tenant, since).await? {
        match DeliveryStatus::parse(&status) {
            Ok(DeliveryStatus::Sent) => emails.sent += n,
            Ok(DeliveryStatus::Failed) => emails.failed += n,
            Ok(DeliveryStatus::Deferred) => emails.deferred += n,
            Ok(DeliveryStatus::Cancelled) => emails.cancelled += n,
            Ok(DeliveryStatus::Delivered) => emails.delivered += n,
            // Written only by this version's store; anything else is a
            // newer node's status, which an older node need not count.
            Err(_) => {}
        }
    }
    let dead_letters_24h = app.dead_letters_since(&tenant, since).await?.into_iter().collect();
    let call_errors_on_node = plugin_call_errors(&app, &tenant).await?;
    let quotas = app.effective_quotas(&tenant).await?;
    let stats = TenantStats {
        tenant: tenant.to_string(),
        scope: SCOPE,
        uptime_seconds: app.uptime().as_secs(),
        connections: ConnectionCounts::from(&snapshot),
        connections_by_pattern: snapshot
            .by_pattern
            .iter()
            .take(MAX_PATTERNS)
            .map(|(pattern, n)| PatternCount { pattern: pattern.clone(), connections: *n })
            .collect(),
        published: snapshot.published.into(),
        delivered: snapshot.delivered.into(),
        emails_24h: emails,
        plugins: PluginErrors { call_errors_on_node, dead_letters_24h },
        quotas: quotas.into(),
    };
    Ok(HttpResponse::Ok().json(stats))
}

/// Failed calls of the tenant's plugins on this node. The host counts per
/// component, so versions with the same bytes are counted once.
async fn plugin_call_errors(app: &AppState, tenant: &TenantId) -> ApiResult<u64> {
    Ok(app.plugin_call_errors(tenant, MAX_PLUGINS).await?)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SystemStatsQuery {
    /// How many tenants to list, by open connections (then publishes),
    /// 1 to 1000; default 20.
    #[param(minimum = 1, maximum = 1000, example = 20)]
    pub top: Option<u32>,
}

/// One tenant's row in the operator's view.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantRow {
    #[schema(example = "ten_0193a4b2c1d07e8f9a0b1c2d3e4f5a6b")]
    pub tenant: String,
    pub connections: ConnectionCounts,
    pub published: RateView,
    pub delivered: RateView,
}

/// This node's totals.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Totals {
    /// Tenants this node has seen traffic of since it started.
    #[schema(example = 12)]
    pub tenants: u64,
    pub connections: ConnectionCounts,
    pub published: RateView,
    pub delivered: RateView,
}

/// The operator's view of this node.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SystemStats {
    /// Always `node`: every figure is this node's, since it started.
    #[schema(example = "node")]
    pub scope: &'static str,
    #[schema(example = 3600)]
    pub uptime_seconds: u64,
    pub totals: Totals,
    /// The `top` tenants by open connections, then by publishes.
    pub tenants: Vec<TenantRow>,
}

/// Live stats of this node: totals and the busiest tenants (operator only).
///
/// Every figure is **this node's**, since it started; each node of a
/// cluster answers for itself.
#[utoipa::path(
    tag = "stats",
    params(SystemStatsQuery),
    responses(
        (status = 200, description = "The stats", body = SystemStats),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the operator key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`top` out of range", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator_key" = []))
)]
#[get("/v1/stats")]
pub(crate) async fn system_stats(_: Operator, app: web::Data<AppState>, q: web::Query<SystemStatsQuery>) -> ApiResult<HttpResponse> {
    let top = q.top.unwrap_or(DEFAULT_TOP);
    if !(1..=MAX_TOP).contains(&top) {
        return Err(DomainError::invalid("top", format!("must be 1 to {MAX_TOP}")).into());
    }
    let mut all = app.all_usage();
    let mut totals = TenantSnapshot::default();
    for (_, s) in &all {
        totals.sse += s.sse;
        totals.long_poll += s.long_poll;
        for (sum, r) in [(&mut totals.published, &s.published), (&mut totals.delivered, &s.delivered)] {
            sum.total += r.total;
            sum.per_second_10s += r.per_second_10s;
            sum.per_second_60s += r.per_second_60s;
        }
    }
    all.sort_by(|(a_id, a), (b_id, b)| {
        b.connections().cmp(&a.connections()).then(b.published.total.cmp(&a.published.total)).then_with(|| a_id.cmp(b_id))
    });
    let tenants = all
        .iter()
        .take(top as usize)
        .map(|(id, s)| TenantRow {
            tenant: id.to_string(),
            connections: s.into(),
            published: s.published.into(),
            delivered: s.delivered.into(),
        })
        .collect();
    let stats = SystemStats {
        scope: SCOPE,
        uptime_seconds: app.uptime().as_secs(),
        totals: Totals {
            tenants: all.len() as u64,
            connections: (&totals).into(),
            published: totals.published.into(),
            delivered: totals.delivered.into(),
        },
        tenants,
    };
    Ok(HttpResponse::Ok().json(stats))
}
