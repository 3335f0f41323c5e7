//! What every handler shares: the application layer. Handlers reach the
//! store, the hub and the plugin sandbox only through its use cases.

/// The application layer, as handlers get it from `web::Data`.
pub type AppState = herald_app::App;
