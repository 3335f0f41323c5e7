//! Cross-origin requests refused by a tenant's allowed origins: the browser
//! only says "blocked by CORS policy", so Herald says which tenant and
//! origin, and how to allow it. The count and the rate limit are kept by
//! [`OriginRefusals`], which `emit` records into before it decides on the
//! line.

use std::time::Instant;

use herald_core::ids::TenantId;

use crate::origin_refusals::{LogDecision, OriginRefusals};

/// A cross-origin request to a subscriber endpoint (stream, poll, read
/// state, session; a preflight or the request itself) from an origin the
/// tenant, which exists, does not allow.
pub struct OriginRefused<'a> {
    pub tenant: &'a TenantId,
    pub origin: &'a str,
    pub preflight: bool,
}

impl OriginRefused<'_> {
    pub fn emit(self, refusals: &OriginRefusals) {
        let (tenant, origin) = (self.tenant, self.origin);
        match refusals.record(tenant, origin, Instant::now(), chrono::Utc::now()) {
            LogDecision::Line { repeats } => tracing::warn!(
                %tenant,
                origin,
                preflight = self.preflight,
                repeats_since_last_line = repeats,
                hint = %format_args!("add it with PUT /v1/tenants/{tenant}/allowed-origins"),
                "cross-origin request refused: the origin is not in the tenant's allowed origins, so the browser hides the answer"
            ),
            LogDecision::Suppressed { unlogged } => tracing::warn!(
                unlogged,
                "cross-origin refusals of more tenant and origin pairs than the log keeps up with; not logging new pairs for up to a minute \
                 (herald_origin_refusals_total counts them all)"
            ),
            LogDecision::Quiet | LogDecision::SuppressedQuiet => {}
        }
    }
}
