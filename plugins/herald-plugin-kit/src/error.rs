//! The error a hook may return instead of a decision; the kit turns it into
//! a dropped notification (see [`crate::run_publish`]).

use std::fmt;

/// Why a hook could not decide: bad configuration, data or claims of an
/// unexpected shape. The message becomes the drop reason, so make it say what
/// was wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    /// The message, as the drop reason will show it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::new(e.to_string())
    }
}
