//! The OpenAPI document's frame: info, security schemes, tags. Paths and
//! schemas are collected from the routes themselves (see `app.rs`).

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::path::ParameterBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, Response, ResponseBuilder};

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
        (name = "operator-keys", description = "The operator's own keys: create, list, revoke, rotate"),
        (name = "keys", description = "Tenant API keys"),
        (name = "signing-keys", description = "Keys that verify subscriber tokens"),
        (name = "mercure", description = "Each tenant's Mercure hub: its key, issuer, audience, anonymous subscribers, CORS origins and 0.x compatibility"),
        (name = "tokens", description = "Subscriber tokens minted by Herald with a tenant's HS256 signing key"),
        (name = "channels", description = "Channels and retention"),
        (name = "publish", description = "Publishing notifications"),
        (name = "stream", description = "Subscribing: Server-Sent Events, polling and long-polling, read state, browser sessions"),
        (name = "plugins", description = "WebAssembly filter and transform plugins, their tests and dead letters"),
        (name = "recipients", description = "Recipients' email addresses and preferences, for the email fallback"),
        (name = "deliveries", description = "The delivery log: live deliveries that cancel emails, and every email attempt"),
        (name = "unsubscribe", description = "One-click unsubscribe links in emails (RFC 8058)"),
        (name = "audit", description = "The audit log: every admin change, who made it and from where"),
        (name = "stats", description = "Live figures: connections, rates, email outcomes, plugin errors"),
        (name = "system", description = "Liveness (`/healthz`) and readiness (`/readyz`)"),
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
                    .description(Some("An operator key (`hop_…`): the first is written to the operator-key file at first start; more with `POST /v1/operator-keys` or `herald operator-key create`; or HERALD_OPERATOR_KEY."))
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

/// Completes every operation with the problem responses that the shared
/// machinery can give, so that no route can forget one: malformed input
/// (400, from the JSON, query and path extractors), credentials (401, 403)
/// on secured routes, 404 wherever the path names something, body limits
/// and media type (413, 415) and validation (422) wherever there is a body,
/// and 503 while the server shuts down; and every response with its
/// `X-Request-Id`. Applied after the routes have added their operations; a
/// route's own description of a status wins.
pub(crate) struct StandardResponses;

/// The name of the `X-Request-Id` header in `components.headers`.
const REQUEST_ID_HEADER: &str = "X-Request-Id";

impl Modify for StandardResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::HttpMethod;
        let request_id = utoipa::openapi::HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(crate::request_id::MAX_LEN))))
            .description(Some(
                "The request's id: the `X-Request-Id` the client sent, when it is 1 to 128 visible ASCII characters, else one \
                 Herald made (a UUID). Every line Herald logs while handling the request names it.",
            ))
            .build();
        openapi.components.get_or_insert_with(Default::default).headers.insert(REQUEST_ID_HEADER.to_owned(), RefOr::T(request_id));
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Post, &mut item.post),
                (HttpMethod::Put, &mut item.put),
                (HttpMethod::Patch, &mut item.patch),
                (HttpMethod::Delete, &mut item.delete),
            ];
            for (method, op) in ops {
                if let Some(op) = op.as_mut() {
                    complete(path, method, op);
                }
            }
        }
    }
}

fn complete(path: &str, method: utoipa::openapi::HttpMethod, op: &mut utoipa::openapi::path::Operation) {
    add_problems(path, method, op);
    let request_id = Ref::new(format!("#/components/headers/{REQUEST_ID_HEADER}"));
    for response in op.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            response.headers.insert(REQUEST_ID_HEADER.to_owned(), RefOr::Ref(request_id.clone()));
        }
    }
}

fn add_problems(path: &str, method: utoipa::openapi::HttpMethod, op: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::HttpMethod;
    use utoipa::openapi::path::ParameterIn;
    let has_body = op.request_body.is_some();
    let has_query = op.parameters.iter().flatten().any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let idempotent_create = method == HttpMethod::Post && crate::idempotency::CREATE_PATHS.contains(&path);
    if idempotent_create {
        let header = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Makes a retry safe: a repeat with the same key and request gets the first 2xx answer again (with \
                 `Idempotent-Replayed: true`) for 24 hours, instead of creating a second resource. 1 to 255 visible ASCII \
                 characters; use a random UUID. Keys are scoped to the caller's credential.",
            ))
            .schema(Some(
                ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(crate::idempotency::MAX_KEY_LEN)),
            ))
            .build();
        op.parameters.get_or_insert_with(Vec::new).push(RefOr::T(header));
    }
    let mut add = |status: &str, description: &str| {
        op.responses.responses.entry(status.to_owned()).or_insert_with(|| problem(description));
    };
    if has_body || has_query || idempotent_create {
        add("400", "Malformed request: body or query string that does not parse, or a bad header");
    }
    if has_query {
        add("422", "A query parameter's value is invalid (an id, a name or a cursor)");
    }
    if secured {
        add("401", "No credentials, or credentials that match nothing");
        add("403", "Credentials without the right to do this");
    }
    if path.contains('{') {
        add("404", "Nothing at this path (an unknown or malformed id or name)");
    }
    if idempotent_create {
        add("409", "A request with this Idempotency-Key is still running (`idempotency-in-progress`); retry after `Retry-After`");
        add("422", "Invalid input, or an Idempotency-Key reused for a different request (`idempotency-key-reused`)");
    }
    if has_body {
        add("413", "The body is larger than the server's limit");
        add("415", "The body is not of the documented media type");
        add("422", "Invalid input");
    }
    if path != "/healthz" && path != "/readyz" {
        add("503", "The server is shutting down; retry on another node or later");
    }
}

fn problem(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content("application/problem+json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
            .build(),
    )
}
