//! Errors raised by domain rules (validation, scopes, tokens).

use thiserror::Error;

/// A rule of the domain was broken by the input. Every variant is the caller's
/// fault, so the HTTP layer answers all of them with a 4xx.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DomainError {
    /// A field failed validation.
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The subscriber token does not allow the requested channel.
    #[error("the token does not allow subscribing to `{0}`")]
    ScopeDenied(String),
    /// The subscriber token is unusable.
    #[error(transparent)]
    Token(#[from] crate::token::TokenError),
}

impl DomainError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid { field, reason: reason.into() }
    }
}
