//! Positions that clients hand back to Herald: a stream's resume id
//! (`Last-Event-ID`, or `last_event_id` in the query) and the `after`
//! cursor of a channel's history pages.
//!
//! Both are notification ids in decimal, as Herald wrote them on the
//! stream's `id:` lines and in a page's `next` ([`format`]). Whatever text
//! one of these parsers accepts, [`format`] turns back into text it accepts
//! with the same value; the fuzz target `cursor` checks that.

use thiserror::Error;

use crate::ids::Seq;

/// A resume id that is not a notification id; holds the text as read,
/// without surrounding whitespace, for the error message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("`{0}` is not a notification id")]
pub struct NotAnId(pub String);

/// Parses a resume id. Surrounding whitespace is ignored, and a blank value
/// means "no resume point" (a browser's first connection); otherwise it must
/// be an id of 0 or more in plain decimal digits, as Herald writes them (no
/// sign), `0` asking for all retained history.
pub fn resume_id(raw: &str) -> Result<Option<Seq>, NotAnId> {
    match raw.trim() {
        "" => Ok(None),
        s => digits(s).ok_or_else(|| NotAnId(s.to_owned())).map(Some),
    }
}

/// Parses a history page's `after`: the id a previous page's `next` named,
/// so always positive (the oldest page ends before id 1).
pub fn history_after(raw: &str) -> Option<Seq> {
    digits(raw).filter(|id| *id > 0)
}

/// Parses a poll's `after`: an id of 0 or more, as a stream's `id:` line or
/// a previous poll's `next` wrote it (`0` asks for all retained history).
pub fn poll_after(raw: &str) -> Option<Seq> {
    digits(raw)
}

/// `Seq::from_str` also takes a sign (`+7`, `-0`), which Herald never
/// writes; an id is read back only in the form it was handed out.
fn digits(s: &str) -> Option<Seq> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The text of an id as Herald writes it for a client to hand back.
pub fn format(id: Seq) -> String {
    id.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_ids() {
        let cases: &[(&str, Result<Option<Seq>, &str>)] = &[
            ("", Ok(None)),
            ("  ", Ok(None)),
            ("0", Ok(Some(0))),
            ("42", Ok(Some(42))),
            (" 42\t", Ok(Some(42))),
            ("007", Ok(Some(7))),
            ("+7", Err("+7")),
            ("-0", Err("-0")),
            ("9223372036854775807", Ok(Some(Seq::MAX))),
            ("9223372036854775808", Err("9223372036854775808")),
            ("-1", Err("-1")),
            ("4 2", Err("4 2")),
            ("abc ", Err("abc")),
        ];
        for (raw, want) in cases {
            let want = want.map_err(|s| NotAnId(s.to_owned()));
            assert_eq!(resume_id(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn history_cursors_are_positive_ids() {
        assert_eq!(history_after("42"), Some(42));
        for bad in ["0", "-3", "+5", "", " 42", "x", "99999999999999999999"] {
            assert_eq!(history_after(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn poll_cursors_are_ids_from_zero_in_plain_digits() {
        assert_eq!(poll_after("0"), Some(0));
        assert_eq!(poll_after("42"), Some(42));
        for bad in ["-1", "+5", "-0", "", " 42", "x", "1e3", "99999999999999999999"] {
            assert_eq!(poll_after(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formatted_ids_parse_back() {
        for id in [0, 1, 42, Seq::MAX] {
            assert_eq!(resume_id(&format(id)), Ok(Some(id)));
            assert_eq!(poll_after(&format(id)), Some(id));
        }
        assert_eq!(history_after(&format(7)), Some(7));
    }
}
