//! Herald's domain: the types and rules every other crate shares.
//!
//! Nothing here performs I/O. Storage, fan-out and HTTP depend on this crate;
//! this crate depends on none of them, so the rules below can be unit-tested
//! in isolation and cannot drift between layers.

#![forbid(unsafe_code)]

pub mod claims;
pub mod cluster;
pub mod cursor;
pub mod email;
pub mod error;
pub mod ids;
pub mod keys;
pub mod limits;
pub mod mercure;
pub mod model;
pub mod names;
pub mod notification;
pub mod origin;
pub mod pattern;
pub mod plugin;
pub mod plugin_output;
pub mod retention;
pub mod sealed;
pub mod secret;
pub mod token;

pub use error::DomainError;
