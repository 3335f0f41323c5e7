//! The application: every route, the extractor configs that turn bad input
//! into problems, and the fallback for unknown paths.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, web};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::openapi::ApiDoc;
use crate::problem::{ApiError, json_error, path_error, query_error};
use crate::routes::{
    channels, deliveries, keys, origins, plugins, poll, publish, reads, recipients, session, signing_keys, system, tenants, unsubscribe,
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
        .service(channels::create_channel)
        .service(channels::list_channels)
        .service(channels::get_channel)
        .service(channels::update_channel)
        .service(channels::delete_channel)
        .service(plugins::upload_plugin)
        .service(plugins::list_plugins)
        .service(plugins::get_plugin)
        .service(plugins::delete_plugin)
        .service(plugins::test_plugin)
        .service(plugins::list_dead_letters)
        .service(origins::get_allowed_origins)
        .service(origins::put_allowed_origins)
        .service(recipients::put_recipient)
        .service(recipients::list_recipients)
        .service(recipients::get_recipient)
        .service(recipients::delete_recipient)
        .service(deliveries::list_deliveries)
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
    App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(routes).split_for_parts()
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())))
}

/// The complete application for one worker.
pub(crate) fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<ServiceRequest, Config = (), Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error, InitError = ()>,
> {
    let (app, spec) = routes_and_spec();
    let spec_json = web::Bytes::from(spec.to_json().expect("the OpenAPI document serializes"));
    let max_body = state.limits.max_body_bytes;
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
        // Interactive API docs, served from assets inside the binary.
        .route("/docs", web::get().to(|| async { HttpResponse::PermanentRedirect().insert_header(("location", "/docs/")).finish() }))
        .service(utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::from("/openapi.json")))
        .default_service(web::to(not_found))
        .wrap(actix_web::middleware::from_fn(crate::cors::cors))
        // The path only: query strings can carry subscriber tokens.
        .wrap(
            actix_web::middleware::Logger::new(r#"%a "%{request}xi" %s %b %Dms"#)
                .custom_request_replace("request", |req| format!("{} {}", req.method(), req.path())),
        )
}
