//! The OpenAPI document's frame: info, security schemes, tags. Paths and
//! schemas are collected from the routes themselves (see `app.rs`).

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::problem::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald",
        description = "Multi-tenant notification server: publish over HTTP, subscribe over Server-Sent Events with gapless replay.\n\nErrors are `application/problem+json` (RFC 9457) with a stable `type` of the form `urn:herald:problem:<code>`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&SecuritySchemes),
    components(schemas(Problem)),
    tags(
        (name = "tenants", description = "Tenants, managed by the operator"),
        (name = "keys", description = "Tenant API keys"),
        (name = "signing-keys", description = "Keys that verify subscriber tokens"),
        (name = "channels", description = "Channels and retention"),
        (name = "publish", description = "Publishing notifications"),
        (name = "stream", description = "Subscribing over Server-Sent Events"),
        (name = "recipients", description = "Recipients' email addresses and preferences, for the email fallback"),
        (name = "deliveries", description = "The delivery log: live deliveries that cancel emails, and every email attempt"),
        (name = "unsubscribe", description = "One-click unsubscribe links in emails (RFC 8058)"),
        (name = "system", description = "Health"),
    )
)]
pub(crate) struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The operator key (`hop_…`), printed once at first start or set with HERALD_OPERATOR_KEY."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A tenant API key (`hk_…`) with the `publish` or `admin` scope."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "subscriber_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT signed by one of the tenant's signing keys (header `kid`), with claims `sub`, `exp` and `herald.subscribe`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "subscriber_token_query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "access_token",
                "The subscriber JWT as a query parameter, for EventSource (which cannot set headers). The `herald_token` cookie also works.",
            ))),
        );
    }
}

/// The OpenAPI document, pretty-printed, as `herald openapi` prints it and
/// `openapi/openapi.json` holds it.
pub fn openapi_json() -> String {
    let (_, spec) = crate::app::routes_and_spec();
    let mut s = spec.to_pretty_json().expect("the OpenAPI document serializes");
    s.push('\n');
    s
}
