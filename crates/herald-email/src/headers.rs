//! Header types lettre does not ship: one-click unsubscribe (RFC 2369 and
//! RFC 8058) and `Auto-Submitted` (RFC 3834), which asks mail systems not to
//! answer a notification with an out-of-office reply.

use lettre::message::header::{Header, HeaderName, HeaderValue};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `List-Unsubscribe: <https://…>`. The URL is checked by the message
/// builder: absolute http(s), printable ASCII, no spaces or angle brackets,
/// so it is written as is and never folded or encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListUnsubscribe(pub String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, BoxError> {
        let url = s.trim().strip_prefix('<').and_then(|s| s.strip_suffix('>')).ok_or("expected `<URL>`")?;
        Ok(ListUnsubscribe(url.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`: the link works with
/// a single POST, so a mail client may offer an "unsubscribe" button.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListUnsubscribePost;

const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(s: &str) -> Result<Self, BoxError> {
        if s.trim() == ONE_CLICK { Ok(ListUnsubscribePost) } else { Err(format!("expected `{ONE_CLICK}`").into()) }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), ONE_CLICK.to_owned())
    }
}

/// `Auto-Submitted: auto-generated`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, BoxError> {
        if s.trim().eq_ignore_ascii_case("auto-generated") { Ok(AutoSubmitted) } else { Err("expected `auto-generated`".into()) }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}
