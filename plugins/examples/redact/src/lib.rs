//! `redact`, a publish hook: masks email addresses and phone numbers in a
//! notification's data before Herald stores it, so they never reach the log
//! or any subscriber.
//!
//! Configuration (every key optional; shown with its default except
//! `fields`, which defaults to the whole data):
//!
//! ```json
//! {"fields": ["body", "user.email"], "emails": true, "phones": true, "mask": "[redacted]"}
//! ```
//!
//! `fields` are dotted paths into the data (`user.email`, `lines.0.text`);
//! every string at or under each path is redacted. The result is a
//! `Replace` with the redacted data, or `Keep` when nothing matched.
//!
//! Detection is a heuristic tuned to over- rather than under-redact:
//! - an email is `local@domain.tld` with an ASCII local part and domain;
//! - a phone number is 7 to 15 digits (the E.164 maximum), optionally
//!   led by `+` and a country code, grouped by single spaces, dots or dashes,
//!   with an optional area code in parentheses, and not glued to letters or
//!   other digits. ISO dates (`2024-05-01`) are left alone, but long plain
//!   numbers such as order ids of 7+ digits are masked: point `fields` at the
//!   free text rather than at the whole data when that matters.

use herald_plugin_kit::{Decision, Error, FromConfig, Notification, PublishHook, dotted};
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

/// The plugin.
pub struct Redact;

herald_plugin_kit::export_publish_plugin!(Redact);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    fields: Option<Vec<String>>,
    #[serde(default = "yes")]
    emails: bool,
    #[serde(default = "yes")]
    phones: bool,
    #[serde(default = "default_mask")]
    mask: String,
}

fn yes() -> bool {
    true
}

fn default_mask() -> String {
    "[redacted]".to_owned()
}

/// A configuration with its patterns compiled.
pub struct Config {
    fields: Option<Vec<String>>,
    email: Option<Regex>,
    phone: Option<Regex>,
    mask: String,
}

const EMAIL: &str = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}";

/// Phone candidates, which [`mask_phones`] checks further for what a regex
/// without look-around cannot express (what surrounds the match, how many
/// digits it has). ISO dates come first so that, matching leftmost-first,
/// a date is consumed whole instead of read as the start of a number.
const PHONE: &str = r"(?P<date>\d{4}-\d{2}-\d{2}\b)|(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d(?:[ .-]?\d){5,16}";

impl FromConfig for Config {
    fn from_config(json: &str) -> Result<Self, Error> {
        let raw: RawConfig = serde_json::from_str(json)?;
        let compile = |pattern| Regex::new(pattern).expect("built-in patterns are valid");
        Ok(Self {
            fields: raw.fields,
            email: raw.emails.then(|| compile(EMAIL)),
            phone: raw.phones.then(|| compile(PHONE)),
            mask: raw.mask,
        })
    }
}

impl PublishHook for Redact {
    type Config = Config;

    fn on_publish(notification: Notification, config: &Config) -> Result<Decision, Error> {
        let mut data = notification.data_json()?;
        let mut changed = false;
        match &config.fields {
            None => changed = redact_value(&mut data, config),
            Some(fields) => {
                for field in fields {
                    if let Some(value) = dotted::get_mut(&mut data, field) {
                        changed |= redact_value(value, config);
                    }
                }
            }
        }
        Ok(if changed { Decision::Replace(notification.with_data(&data)) } else { Decision::Keep })
    }
}

/// Redacts every string in `value`; true if any changed.
fn redact_value(value: &mut Value, config: &Config) -> bool {
    let mut changed = false;
    dotted::visit_strings_mut(value, &mut |text| {
        if let Some(redacted) = redact_text(text, config) {
            *text = redacted;
            changed = true;
        }
    });
    changed
}

/// `text` with its emails and phone numbers masked, or `None` if it has none.
fn redact_text(text: &str, config: &Config) -> Option<String> {
    let mut out = std::borrow::Cow::Borrowed(text);
    if let Some(email) = &config.email
        && email.is_match(&out)
    {
        out = email.replace_all(&out, config.mask.as_str()).into_owned().into();
    }
    if let Some(phone) = &config.phone {
        let masked = mask_phones(&out, phone, &config.mask);
        if masked != *out {
            out = masked.into();
        }
    }
    match out {
        std::borrow::Cow::Borrowed(_) => None,
        std::borrow::Cow::Owned(s) => Some(s),
    }
}

fn mask_phones(text: &str, phone: &Regex, mask: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut at) = (0, 0);
    while let Some(caps) = phone.captures_at(text, at) {
        let m = caps.get(0).expect("group 0 is the whole match");
        if caps.name("date").is_some() {
            at = m.end();
        } else if is_phone(text, m.start(), m.end()) {
            out.push_str(&text[copied..m.start()]);
            out.push_str(mask);
            (copied, at) = (m.end(), m.end());
        } else {
            // The candidate may have swallowed a phone number's leading
            // group (`1234567890123456 06 12 34 56 78`): look again from
            // its next group rather than after all of it.
            at = text[m.start() + 1..m.end()].find(|c: char| !c.is_ascii_digit()).map_or(m.end(), |i| m.start() + 1 + i + 1);
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn is_phone(text: &str, start: usize, end: usize) -> bool {
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    if glued(text[..start].chars().next_back()) || glued(text[end..].chars().next()) {
        return false;
    }
    let digits = text[start..end].chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits)
}

#[cfg(test)]
mod tests {
    use herald_plugin_kit::run_publish;
    use serde_json::json;

    use super::*;

    fn run(data: Value, config: Value) -> Decision {
        run_publish::<Redact>(Notification::new("support", "ticket.created", &data), &config.to_string())
    }

    /// The data of a `Replace`, or `None` for `Keep`.
    fn redacted(data: Value, config: Value) -> Option<Value> {
        match run(data, config) {
            Decision::Keep => None,
            Decision::Replace(n) => Some(n.data_json().unwrap()),
            Decision::Drop(reason) => panic!("unexpected drop: {reason}"),
        }
    }

    #[test]
    fn emails_and_phones_in_the_chosen_fields_are_masked() {
        let data = json!({
            "body": "Mail jane.doe+work@example.co.uk or call +33 6 12 34 56 78.",
            "user": {"email": "jane@example.com", "name": "Jane"},
            "subject": "from bob@example.com",
        });
        let out = redacted(data, json!({"fields": ["body", "user.email"]})).unwrap();
        assert_eq!(
            out,
            json!({
                "body": "Mail [redacted] or call [redacted].",
                "user": {"email": "[redacted]", "name": "Jane"},
                "subject": "from bob@example.com",
            })
        );
    }

    #[test]
    fn phone_formats_are_recognised() {
        for phone in [
            "+1 (415) 555-2671",
            "(415) 555-2671",
            "415.555.2671",
            "06 12 34 56 78",
            "0612345678",
            "+442071838750",
            "555-2671 x", // seven digits, then a word
        ] {
            let text = format!("tel: {phone}");
            let out = redacted(json!({"body": text}), json!({})).unwrap_or_else(|| panic!("{phone} kept"));
            assert!(out["body"].as_str().unwrap().starts_with("tel: [redacted]"), "{phone}: {out}");
        }
    }

    #[test]
    fn numbers_that_are_not_phones_stay() {
        for text in [
            "ordered on 2024-05-01",
            "code 123456",
            "version 1.2.3",
            "ref AB1234567",
            "total 12345678901234567890 points",
            "12:30 on 3 May",
            "between 2024-05-01 and 2024-06-01 12 34",
        ] {
            assert_eq!(run(json!({"body": text}), json!({})), Decision::Keep, "{text}");
        }
    }

    #[test]
    fn a_phone_right_after_a_date_or_a_long_number_is_still_found() {
        let out = redacted(json!({"body": "2024-05-01 0612345678"}), json!({})).unwrap();
        assert_eq!(out["body"], "2024-05-01 [redacted]");
        let out = redacted(json!({"body": "id 12345678901234567890 06 12 34 56 78"}), json!({})).unwrap();
        assert_eq!(out["body"], "id 12345678901234567890 [redacted]");
    }

    #[test]
    fn without_fields_every_string_is_redacted_at_any_depth() {
        let data = json!({"lines": [{"text": "a@b.io"}, {"text": "ok"}], "n": 5551234567_u64});
        let out = redacted(data, json!({"mask": "***"})).unwrap();
        assert_eq!(out, json!({"lines": [{"text": "***"}, {"text": "ok"}], "n": 5551234567_u64}));
    }

    #[test]
    fn kinds_can_be_turned_off() {
        let data = json!({"body": "a@b.io 0612345678"});
        let out = redacted(data.clone(), json!({"phones": false})).unwrap();
        assert_eq!(out["body"], "[redacted] 0612345678");
        let out = redacted(data.clone(), json!({"emails": false})).unwrap();
        assert_eq!(out["body"], "a@b.io [redacted]");
        assert_eq!(run(data, json!({"emails": false, "phones": false})), Decision::Keep);
    }

    #[test]
    fn clean_data_is_kept_and_the_rest_of_the_notification_survives() {
        assert_eq!(run(json!({"body": "nothing to hide"}), json!({})), Decision::Keep);
        assert_eq!(run(json!({"body": "a@b.io"}), json!({"fields": ["missing.path"]})), Decision::Keep);

        let n = Notification::new("support", "ticket.created", &json!({"body": "a@b.io"})).with_recipients(["u1"]);
        let Decision::Replace(out) = run_publish::<Redact>(n, "{}") else { panic!("expected a replacement") };
        assert_eq!((out.channel.as_str(), out.event_type.as_str()), ("support", "ticket.created"));
        assert_eq!(out.recipients, Some(vec!["u1".to_owned()]));
    }

    #[test]
    fn unknown_keys_are_a_configuration_error() {
        let Decision::Drop(reason) = run(json!({}), json!({"feilds": ["body"]})) else { panic!("expected a drop") };
        assert!(reason.contains("unknown field `feilds`"), "{reason}");
    }
}
