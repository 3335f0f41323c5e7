//! Email templates: a channel's subject, text and optional HTML sources,
//! checked once when they are set and rendered for each email.
//!
//! The engine is minijinja (Jinja2 syntax). Choices, so that a template
//! author knows what to expect:
//!
//! - **Escaping.** The HTML template autoescapes everything it prints
//!   (`<`, `>`, `&`, quotes, `/`); the subject and text templates escape
//!   nothing. `|safe` opts out in HTML.
//! - **Missing values render empty.** Undefined behaviour is minijinja's
//!   `Chainable`: printing `notification.data.missing.deeper` gives an empty
//!   string and `{% if notification.data.title %}` is false, rather than the
//!   whole email failing because one publisher left a field out. The price is
//!   that a typo also renders empty.
//! - **Whitespace.** `trim_blocks` and `lstrip_blocks` are on: a line that
//!   holds only a `{% … %}` tag leaves nothing behind, which keeps text
//!   templates readable.
//! - **Limits.** Each source is at most [`MAX_TEMPLATE_BYTES`]; a render may
//!   write at most [`MAX_RENDERED_BYTES`] per part and spend at most
//!   [`RENDER_FUEL`] (a bound on loops and filters). The subject is folded
//!   onto one line, trimmed and cut to [`MAX_SUBJECT_CHARS`]; an empty one
//!   becomes "New notification in CHANNEL".
//! - **Checks at creation.** A syntax error names its template and line. The
//!   templates are also rendered once on a sample, which catches an unknown
//!   filter, test or function on the paths that sample takes.
//!
//! The default templates (in `templates/` beside this crate's sources) are
//! used when a channel sets none; they handle one notification or a digest.

use std::io;

use herald_core::names::{ChannelName, EventType, TenantName, UserId};
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, syntax::SyntaxConfig};
use serde::{Deserialize, Serialize};

use crate::context::{NotificationView, Recipient, RenderContext, TemplateRoot};
use crate::error::{TemplateError, TemplatePart};

/// Largest template source, per template, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 16 * 1024;
/// Largest rendered text or HTML body, in bytes.
pub const MAX_RENDERED_BYTES: usize = 256 * 1024;
/// Largest rendered subject before it is folded and cut, in bytes.
const MAX_RENDERED_SUBJECT_BYTES: usize = 4 * 1024;
/// Longest subject sent, in characters; longer ones end with `…`.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Work budget of one template render (minijinja fuel: about one unit per
/// instruction, plus data produced).
pub const RENDER_FUEL: u64 = 500_000;

const DEFAULT_SUBJECT: &str = include_str!("../templates/default.subject.j2");
const DEFAULT_TEXT: &str = include_str!("../templates/default.text.j2");
const DEFAULT_HTML: &str = include_str!("../templates/default.html.j2");

/// A channel's template sources, as configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailTemplates {
    pub subject: String,
    pub text: String,
    /// Without it the email is plain text only.
    #[serde(default)]
    pub html: Option<String>,
}

impl Default for EmailTemplates {
    /// Herald's own templates, for channels that set none.
    fn default() -> Self {
        EmailTemplates { subject: DEFAULT_SUBJECT.to_owned(), text: DEFAULT_TEXT.to_owned(), html: Some(DEFAULT_HTML.to_owned()) }
    }
}

impl EmailTemplates {
    /// Checks sizes and syntax and prepares the templates for rendering.
    pub fn compile(&self) -> Result<CompiledTemplates, TemplateError> {
        let parts = [
            (TemplatePart::Subject, Some(&self.subject)),
            (TemplatePart::Text, Some(&self.text)),
            (TemplatePart::Html, self.html.as_ref()),
        ];
        let mut env = environment();
        for (part, source) in parts {
            let Some(source) = source else { continue };
            if source.len() > MAX_TEMPLATE_BYTES {
                return Err(TemplateError::TooLarge { part, size: source.len(), limit: MAX_TEMPLATE_BYTES });
            }
            env.add_template_owned(part.as_str(), source.clone()).map_err(|e| TemplateError::Invalid {
                part,
                line: e.line(),
                message: describe(&e),
            })?;
        }
        let compiled = CompiledTemplates { env, has_html: self.html.is_some() };
        compiled.check_on_sample()?;
        Ok(compiled)
    }
}

/// The subject, text and HTML of one email, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedEmail {
    /// One line, at most [`MAX_SUBJECT_CHARS`] characters, never empty.
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// Templates that passed [`EmailTemplates::compile`]. Cheap to share: keep
/// one per channel and render from any thread.
#[derive(Clone, Debug)]
pub struct CompiledTemplates {
    env: Environment<'static>,
    has_html: bool,
}

impl Default for CompiledTemplates {
    fn default() -> Self {
        EmailTemplates::default().compile().expect("the default templates compile (tested)")
    }
}

impl CompiledTemplates {
    /// Renders one email: a single notification or a digest of several.
    pub fn render(&self, context: &RenderContext) -> Result<RenderedEmail, TemplateError> {
        let root = Value::from(Serde(TemplateRoot::from(context)));
        let subject = self.render_part(TemplatePart::Subject, &root, MAX_RENDERED_SUBJECT_BYTES)?;
        let text = self.render_part(TemplatePart::Text, &root, MAX_RENDERED_BYTES)?;
        let html = if self.has_html { Some(self.render_part(TemplatePart::Html, &root, MAX_RENDERED_BYTES)?) } else { None };
        Ok(RenderedEmail { subject: one_line_subject(&subject, &context.channel), text, html })
    }

    fn render_part(&self, part: TemplatePart, root: &Value, limit: usize) -> Result<String, TemplateError> {
        self.render_limited(part, root, limit).map_err(|failure| match failure {
            Failure::TooLarge => TemplateError::OutputTooLarge { part, limit },
            Failure::Engine(e) => render_error(part, &e),
        })
    }

    fn render_limited(&self, part: TemplatePart, root: &Value, limit: usize) -> Result<String, Failure> {
        let template = self.env.get_template(part.as_str()).map_err(Failure::Engine)?;
        let mut out = LimitedWriter { buf: String::new(), limit, exceeded: false };
        match template.render_captured_to(root, &mut out) {
            Ok(_) => Ok(out.buf),
            Err(_) if out.exceeded => Err(Failure::TooLarge),
            Err(e) => Err(Failure::Engine(e)),
        }
    }

    /// Renders once on a made-up notification, keeping only the errors that
    /// no data could fix: an unknown filter, test, function or method.
    fn check_on_sample(&self) -> Result<(), TemplateError> {
        let root = Value::from(Serde(TemplateRoot::from(&sample_context())));
        let parts = TemplatePart::ALL.into_iter().filter(|p| *p != TemplatePart::Html || self.has_html);
        for part in parts {
            if let Err(Failure::Engine(e)) = self.render_limited(part, &root, MAX_RENDERED_BYTES)
                && matches!(
                    e.kind(),
                    ErrorKind::UnknownFilter | ErrorKind::UnknownTest | ErrorKind::UnknownFunction | ErrorKind::UnknownMethod
                )
            {
                return Err(TemplateError::Invalid { part, line: e.line(), message: describe(&e) });
            }
        }
        Ok(())
    }
}

/// Why a render stopped, before it is told as a [`TemplateError`].
enum Failure {
    TooLarge,
    Engine(minijinja::Error),
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(|name| if name == TemplatePart::Html.as_str() { AutoEscape::Html } else { AutoEscape::None });
    env.set_fuel(Some(RENDER_FUEL));
    let syntax = SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build().expect("the default delimiters are valid");
    env.set_syntax(syntax);
    env
}

fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}

fn render_error(part: TemplatePart, e: &minijinja::Error) -> TemplateError {
    let message = match e.kind() {
        ErrorKind::OutOfFuel => format!("{} (the template does too much work; the budget is {RENDER_FUEL} fuel)", describe(e)),
        _ => describe(e),
    };
    TemplateError::Render { part, line: e.line(), message }
}

fn one_line_subject(rendered: &str, channel: &ChannelName) -> String {
    let folded = rendered.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.is_empty() {
        return format!("New notification in {channel}");
    }
    match folded.char_indices().nth(MAX_SUBJECT_CHARS - 1) {
        Some((cut, _)) => format!("{}…", folded[..cut].trim_end()),
        None => folded,
    }
}

/// Collects output up to a limit. The engine writes whole UTF-8 strings, so
/// the bytes it passes are always valid UTF-8 on their own.
struct LimitedWriter {
    buf: String,
    limit: usize,
    exceeded: bool,
}

impl io::Write for LimitedWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.buf.len() + bytes.len() > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("rendered output limit reached"));
        }
        let s = std::str::from_utf8(bytes).map_err(io::Error::other)?;
        self.buf.push_str(s);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn sample_context() -> RenderContext {
    let channel = ChannelName::parse("sample").expect("valid");
    RenderContext {
        recipient: Recipient { user: UserId::parse("sample-user").expect("valid"), email: "user@example.com".into(), locale: None },
        tenant: TenantName::parse("sample").expect("valid"),
        channel: channel.clone(),
        notifications: vec![NotificationView {
            id: 1,
            channel,
            event_type: EventType::parse("sample").expect("valid"),
            data: serde_json::json!({}),
            published_at: chrono::DateTime::UNIX_EPOCH,
        }],
        unsubscribe_url: Some("https://example.com/unsubscribe".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context(data: &[serde_json::Value]) -> RenderContext {
        let channel = ChannelName::parse("orders.eu").unwrap();
        RenderContext {
            recipient: Recipient { user: UserId::parse("ada").unwrap(), email: "ada@example.com".into(), locale: Some("en-GB".into()) },
            tenant: TenantName::parse("acme").unwrap(),
            channel: channel.clone(),
            notifications: data
                .iter()
                .enumerate()
                .map(|(i, d)| NotificationView {
                    id: 100 + i as i64,
                    channel: channel.clone(),
                    event_type: EventType::parse("order.shipped").unwrap(),
                    data: d.clone(),
                    published_at: "2026-11-25T10:00:00Z".parse().unwrap(),
                })
                .collect(),
            unsubscribe_url: Some("https://herald.example/u/TOKEN?a=1&b=2".into()),
        }
    }

    fn templates(subject: &str, text: &str, html: Option<&str>) -> EmailTemplates {
        EmailTemplates { subject: subject.into(), text: text.into(), html: html.map(Into::into) }
    }

    #[test]
    fn default_templates_one_notification() {
        let out =
            CompiledTemplates::default().render(&context(&[json!({"title": "Your order shipped", "note": "<script>x</script>"})])).unwrap();
        assert_eq!(out.subject, "Your order shipped");
        assert!(out.text.starts_with("Hello ada,\n\nYou have a new notification in orders.eu (acme).\n"), "{}", out.text);
        assert!(
            out.text.contains("order.shipped #100, 2026-11-25T10:00:00Z\n  note: <script>x</script>\n  title: Your order shipped\n"),
            "{}",
            out.text
        );
        assert!(out.text.ends_with("\n--\nTo stop these emails, open https://herald.example/u/TOKEN?a=1&b=2\n"), "{}", out.text);
        let html = out.html.unwrap();
        assert!(html.contains("&lt;script&gt;x&lt;&#x2f;script&gt;") && !html.contains("<script>"), "{html}");
        assert!(html.contains(r#"<a href="https:&#x2f;&#x2f;herald.example&#x2f;u&#x2f;TOKEN?a=1&amp;b=2">"#), "{html}");
        assert!(html.contains(r#"<html lang="en-GB">"#), "{html}");
    }

    #[test]
    fn default_templates_digest_and_odd_data() {
        let data = [json!({"a": 1, "nested": {"k": ["<v>"]}}), json!("plain string"), json!([1, 2])];
        let out = CompiledTemplates::default().render(&context(&data)).unwrap();
        assert_eq!(out.subject, "3 new notifications in orders.eu");
        assert!(out.text.contains("You have 3 new notifications"), "{}", out.text);
        for needle in ["#100", "#101", "#102", "  a: 1\n", "  nested: {\"k\": [\"\\u003cv\\u003e\"]}\n", "  plain string\n", "  [1, 2]\n"] {
            assert!(out.text.contains(needle), "{needle} in {}", out.text);
        }
        let html = out.html.unwrap();
        assert!(html.contains(r#"<td>{"k": ["\u003cv\u003e"]}</td>"#), "{html}");
        // A notification without a title: the generic subject.
        let out = CompiledTemplates::default().render(&context(&[json!(7)])).unwrap();
        assert_eq!(out.subject, "New order.shipped in orders.eu");
    }

    #[test]
    fn missing_values_render_empty_and_text_is_not_escaped() {
        let t = templates(
            "Hi {{ recipient.nope }}{{ notification.data.a.b.c }}!",
            "{{ notification.data.x }}|{{ notification.data.missing.deep }}|",
            None,
        );
        let out = t.compile().unwrap().render(&context(&[json!({"x": "<b>&"})])).unwrap();
        assert_eq!(out.subject, "Hi !");
        assert_eq!(out.text, "<b>&||");
        assert_eq!(out.html, None);
    }

    #[test]
    fn subject_is_one_line_cut_and_never_empty() {
        let t = templates("  line one\r\n  line\ttwo  ", "x", None).compile().unwrap();
        assert_eq!(t.render(&context(&[json!({})])).unwrap().subject, "line one line two");
        let t = templates("{{ 'é' * 300 }}", "x", None).compile().unwrap();
        let subject = t.render(&context(&[json!({})])).unwrap().subject;
        assert_eq!(subject.chars().count(), MAX_SUBJECT_CHARS);
        assert!(subject.ends_with("é…"));
        let t = templates("{{ notification.data.title }}", "x", None).compile().unwrap();
        assert_eq!(t.render(&context(&[json!({})])).unwrap().subject, "New notification in orders.eu");
    }

    #[test]
    fn syntax_errors_name_the_template_and_line() {
        let err = templates("ok", "line 1\nline 2\n{% if x %}\nunclosed", None).compile().unwrap_err();
        let TemplateError::Invalid { part, line, message } = &err else { panic!("{err:?}") };
        assert_eq!(*part, TemplatePart::Text);
        assert!(line.is_some(), "{err}");
        assert!(message.starts_with("syntax error"), "{err}");
        assert!(err.to_string().starts_with("text template, line "), "{err}");

        let err = templates("ok", "ok", Some("<p>{{ x }</p>")).compile().unwrap_err();
        assert!(err.to_string().starts_with("html template, line 1: syntax error"), "{err}");

        let err = templates("{{ x | nosuchfilter }}", "ok", None).compile().unwrap_err();
        assert_eq!(err.to_string(), "subject template, line 1: unknown filter: filter nosuchfilter is unknown");
    }

    #[test]
    fn size_and_work_limits() {
        let big = "x".repeat(MAX_TEMPLATE_BYTES + 1);
        let err = templates("ok", "ok", Some(&big)).compile().unwrap_err();
        assert_eq!(err, TemplateError::TooLarge { part: TemplatePart::Html, size: MAX_TEMPLATE_BYTES + 1, limit: MAX_TEMPLATE_BYTES });
        assert!(templates("ok", &"x".repeat(MAX_TEMPLATE_BYTES), None).compile().is_ok());

        // Output past the limit: a clear error, not a huge email.
        let t = templates("ok", "{% for i in range(100) %}{{ notification.data.blob }}{% endfor %}", None).compile().unwrap();
        let err = t.render(&context(&[json!({"blob": "y".repeat(10_000)})])).unwrap_err();
        assert_eq!(err, TemplateError::OutputTooLarge { part: TemplatePart::Text, limit: MAX_RENDERED_BYTES });

        // Endless work runs out of fuel.
        let t =
            templates("ok", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", None).compile().unwrap();
        let err = t.render(&context(&[json!({})])).unwrap_err();
        assert!(err.to_string().contains("fuel"), "{err}");
    }
}
