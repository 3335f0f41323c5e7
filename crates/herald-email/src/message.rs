//! Turns a rendered email into an RFC 5322 message: From, To, Subject,
//! Date, a stable Message-ID, the one-click unsubscribe headers and a
//! multipart/alternative body (plain text first, then HTML), or plain text
//! alone when there is no HTML.

use lettre::Message;
use lettre::message::header::MessageId;
use lettre::message::{Mailbox, MultiPart, SinglePart};

use crate::error::MessageError;
use crate::headers::{AutoSubmitted, ListUnsubscribe, ListUnsubscribePost};
use crate::templates::RenderedEmail;

/// Longest unsubscribe URL accepted, in bytes.
pub const MAX_UNSUBSCRIBE_URL: usize = 2048;
/// Longest caller-chosen message id, in bytes.
pub const MAX_MESSAGE_ID: usize = 128;

/// One email to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// `ada@example.com` or `Ada Lovelace <ada@example.com>`.
    pub to: String,
    pub content: RenderedEmail,
    /// A stable id, such as the outbox row's: the Message-ID becomes
    /// `<ID@FROM-DOMAIN>`, the same on every retry, so a receiving system
    /// can drop a duplicate. Letters, digits, `-`, `_` and `.` only.
    /// Without one, a fresh random Message-ID is used.
    pub message_id: Option<String>,
    /// The one-click unsubscribe link (absolute http or https; RFC 8058 asks
    /// for https). Adds `List-Unsubscribe` and `List-Unsubscribe-Post`.
    pub unsubscribe_url: Option<String>,
}

/// Builds the message `from` sends. The envelope follows the headers.
pub fn build_message(from: &Mailbox, email: &OutgoingEmail) -> Result<Message, MessageError> {
    let to = email
        .to
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| MessageError::InvalidRecipient { value: email.to.clone(), reason: e.to_string() })?;
    let message_id = match &email.message_id {
        Some(id) => message_id(from, id)?,
        None => message_id(from, &uuid::Uuid::now_v7().simple().to_string())?,
    };
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.content.subject.clone())
        .date_now()
        .header(MessageId::from(message_id))
        .header(AutoSubmitted);
    if let Some(url) = &email.unsubscribe_url {
        check_unsubscribe_url(url)?;
        builder = builder.header(ListUnsubscribe(url.clone())).header(ListUnsubscribePost);
    }
    let text = SinglePart::plain(email.content.text.clone());
    let built = match &email.content.html {
        Some(html) => builder.multipart(MultiPart::alternative().singlepart(text).singlepart(SinglePart::html(html.clone()))),
        None => builder.singlepart(text),
    };
    built.map_err(|e| MessageError::Build(e.to_string()))
}

/// `<id@domain>`, with the domain of the `From` address.
pub fn message_id(from: &Mailbox, id: &str) -> Result<String, MessageError> {
    let well_formed = !id.is_empty()
        && id.len() <= MAX_MESSAGE_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !id.starts_with('.')
        && !id.ends_with('.')
        && !id.contains("..");
    if !well_formed {
        return Err(MessageError::InvalidMessageId(id.to_owned()));
    }
    Ok(format!("<{id}@{}>", from.email.domain()))
}

fn check_unsubscribe_url(url: &str) -> Result<(), MessageError> {
    let printable = url.len() <= MAX_UNSUBSCRIBE_URL && url.bytes().all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
    let parsed = url::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if printable && parsed.is_some() { Ok(()) } else { Err(MessageError::InvalidUnsubscribeUrl(url.to_owned())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> Mailbox {
        "Herald <noreply@herald.example>".parse().unwrap()
    }

    fn email(html: Option<&str>) -> OutgoingEmail {
        OutgoingEmail {
            to: "Ada <ada@example.com>".into(),
            content: RenderedEmail { subject: "Héllo".into(), text: "plain body".into(), html: html.map(Into::into) },
            message_id: Some("out_42".into()),
            unsubscribe_url: Some("https://herald.example/u/abc?x=1".into()),
        }
    }

    fn formatted(e: &OutgoingEmail) -> String {
        String::from_utf8(build_message(&from(), e).unwrap().formatted()).unwrap()
    }

    #[test]
    fn headers_and_alternative_body() {
        let raw = formatted(&email(Some("<p>html body</p>")));
        for needle in [
            "From: Herald <noreply@herald.example>\r\n",
            "To: Ada <ada@example.com>\r\n",
            "Subject: =?utf-8?b?SMOpbGxv?=\r\n",
            "Message-ID: <out_42@herald.example>\r\n",
            "Auto-Submitted: auto-generated\r\n",
            "List-Unsubscribe: <https://herald.example/u/abc?x=1>\r\n",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            "MIME-Version: 1.0\r\n",
            "Content-Type: multipart/alternative;",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Type: text/html; charset=utf-8",
            "Date: ",
        ] {
            assert!(raw.contains(needle), "{needle:?} missing in\n{raw}");
        }
        assert!(raw.find("text/plain").unwrap() < raw.find("text/html").unwrap(), "plain text comes first");
    }

    #[test]
    fn text_only_and_no_unsubscribe() {
        let mut e = email(None);
        e.unsubscribe_url = None;
        let raw = formatted(&e);
        assert!(raw.contains("Content-Type: text/plain; charset=utf-8\r\n"), "{raw}");
        assert!(!raw.contains("multipart") && !raw.contains("List-Unsubscribe"), "{raw}");
    }

    #[test]
    fn message_id_is_stable_or_fresh() {
        assert_eq!(formatted(&email(None)).lines().find(|l| l.starts_with("Message-ID")), Some("Message-ID: <out_42@herald.example>"));
        let mut e = email(None);
        e.message_id = None;
        let a = formatted(&e).lines().find(|l| l.starts_with("Message-ID")).unwrap().to_owned();
        let b = formatted(&e).lines().find(|l| l.starts_with("Message-ID")).unwrap().to_owned();
        assert_ne!(a, b);
        assert!(a.ends_with("@herald.example>"), "{a}");
    }

    #[test]
    fn bad_parts_are_refused() {
        let check = |mutate: &dyn Fn(&mut OutgoingEmail), expected: &str| {
            let mut e = email(None);
            mutate(&mut e);
            let err = build_message(&from(), &e).unwrap_err();
            assert!(err.to_string().starts_with(expected), "{err}");
        };
        check(&|e| e.to = "not-an-address".into(), "recipient `not-an-address` is not a valid email address");
        check(&|e| e.to = "a@b.example, c@d.example".into(), "recipient");
        for id in ["", "a b", "<x>", "x@y", ".x", "x.", "a..b", &"x".repeat(129)] {
            check(&|e| e.message_id = Some(id.into()), "message id");
        }
        for url in [
            "ftp://x.example/u",
            "/relative",
            "https://x.example/a b",
            "https://x.example/<a>",
            "mailto:u@x.example",
            "https://x.example/é",
        ] {
            check(&|e| e.unsubscribe_url = Some(url.into()), "unsubscribe URL");
        }
    }
}
