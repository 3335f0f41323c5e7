//! The application: every route, the extractor configs that turn bad input
//! into problems, and the fallback for unknown paths.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, ResponseError, web};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::known_paths::KnownPaths;
use crate::openapi::ApiDoc;
use crate::problem::{ApiError, json_error, path_error, query_error};
use crate::routes::{
    channels, deliveries, history, keys, origins, plugins, poll, publish, reads, recipients, session, signing_keys, system, tenants,
    unsubscribe,
};
use crate::state::AppState;
use crate::stream;

fn routes(cfg: &mut ServiceConfig) {
    // The router tries routes in this order, so the hot ones come first.
    cfg.service(publish::publish)
        .service(publish::publish_batch)
        .service(stream::stream)
        .service(poll::poll)
        .service(reads::mark_read)
        .service(reads::unread)
        .service(session::create_session)
        .service(session::delete_session)
        .service(system::healthz)
        .service(system::readyz)
        .service(crate::routes::metrics::metrics)
        .service(crate::routes::whoami::whoami)
        .service(crate::routes::operator_keys::create_operator_key)
        .service(crate::routes::operator_keys::list_operator_keys)
        .service(crate::routes::operator_keys::revoke_operator_key)
        .service(crate::routes::operator_keys::rotate_operator_key)
        .service(tenants::create_tenant)
        .service(tenants::list_tenants)
        .service(tenants::get_tenant)
        .service(tenants::update_tenant)
        .service(tenants::delete_tenant)
        .service(keys::create_key)
        .service(keys::list_keys)
        .service(keys::delete_key)
        .service(signing_keys::create_signing_key)
        .service(signing_keys::list_signing_keys)
        .service(signing_keys::delete_signing_key)
        .service(signing_keys::get_token_rules)
        .service(signing_keys::put_token_rules)
        .service(crate::routes::mercure_settings::get_mercure_settings)
        .service(crate::routes::mercure_settings::put_mercure_settings)
        .service(crate::routes::tokens::mint_token)
        .service(channels::create_channel)
        .service(channels::list_channels)
        .service(channels::get_channel)
        .service(channels::update_channel)
        .service(channels::delete_channel)
        .service(history::channel_history)
        .service(plugins::upload_plugin)
        .service(plugins::list_plugins)
        .service(plugins::get_plugin)
        .service(plugins::delete_plugin)
        .service(plugins::test_plugin)
        .service(plugins::list_dead_letters)
        .service(origins::get_allowed_origins)
        .service(origins::put_allowed_origins)
        .service(origins::get_origin_refusals)
        .service(recipients::put_recipient)
        .service(recipients::list_recipients)
        .service(recipients::get_recipient)
        .service(recipients::delete_recipient)
        .service(deliveries::list_deliveries)
        .service(crate::routes::quotas::get_quotas)
        .service(crate::routes::quotas::put_quotas)
        .service(crate::routes::stats::tenant_stats)
        .service(crate::routes::stats::system_stats)
        .service(crate::routes::audit::list_tenant_audit_log)
        .service(crate::routes::audit::list_audit_log)
        .service(unsubscribe::unsubscribe_page)
        .service(unsubscribe::unsubscribe);
}

/// The routes and the OpenAPI document they describe, built together.
pub(crate) fn routes_and_spec() -> (
    App<
        impl ServiceFactory<ServiceRequest, Config = (), Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error, InitError = ()>,
    >,
    utoipa::openapi::OpenApi,
) {
    let (app, mut spec) = App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(routes).split_for_parts();
    crate::openapi::StandardResponses.modify(&mut spec);
    (app, spec)
}

/// No route took the request: a documented path with another method is a
/// 405 that lists the methods it takes; anything else is a 404.
fn not_found(known: &KnownPaths, req: &actix_web::HttpRequest) -> HttpResponse {
    let Some(allowed) = known.allowed(req.path()) else {
        return ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())).error_response();
    };
    let allow = allowed.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
    let mut res = ApiError::MethodNotAllowed(format!("{} takes {allow}, not {}", req.path(), req.method())).error_response();
    res.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_str(&allow).expect("method names are header-safe"),
    );
    res
}

/// The complete application for one worker.
pub(crate) fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<ServiceRequest, Config = (), Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error, InitError = ()>,
> {
    let (app, spec) = routes_and_spec();
    let spec_json = web::Bytes::from(spec.to_json().expect("the OpenAPI document serializes"));
    let known = std::rc::Rc::new(KnownPaths::from_spec(&spec));
    let max_body = state.settings().limits.max_body_bytes;
    app.app_data(state)
        .app_data(web::JsonConfig::default().limit(max_body).error_handler(json_error))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .route(
            "/openapi.json",
            web::get().to(move || {
                let body = spec_json.clone();
                async move { HttpResponse::Ok().content_type("application/json").body(body) }
            }),
        )
        // Interactive API docs, served from assets inside the binary, under a CSP.
        .configure(crate::docs_page::routes)
        // The web admin console: static files, not part of the API document.
        .configure(crate::admin_console::routes)
        .default_service(web::to(move |req: actix_web::HttpRequest| {
            let res = not_found(&known, &req);
            async move { res }
        }))
        // Innermost: it sees the handlers' own answers (see audit.rs).
        .wrap(crate::audit::Audit)
        .wrap(crate::idempotency::Idempotency)
        .wrap(actix_web::middleware::from_fn(crate::cors::cors))
        .wrap(actix_web::middleware::from_fn(crate::request_limits::request_limits))
        // Outside the limits, so that 414 and 431 answers are counted too.
        .wrap(actix_web::middleware::from_fn(crate::request_metrics::observe_requests))
        // Outermost: every line logged for a request names it, and the access log.
        .wrap(actix_web::middleware::from_fn(crate::request_id::request_id))
}
