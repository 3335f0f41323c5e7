//! `template`, a deliver hook: writes a `title` and `body` into each
//! delivery's data, in the subscriber's language.
//!
//! Configuration:
//!
//! ```json
//! {
//!   "default_locale": "en",
//!   "templates": {
//!     "en": {"title": "Order {order} shipped", "body": "Hi {customer.name}, it is on its way."},
//!     "fr": {"title": "Commande {order} expédiée", "body": "Bonjour {customer.name}, elle arrive."}
//!   }
//! }
//! ```
//!
//! The locale is the subscriber's `locale` claim: an exact template (`fr-CA`)
//! wins, then its language (`fr`), then `default_locale`, which must have a
//! template. `title` and `body` are each optional; only the ones a template
//! has are written, over any the data already had.
//!
//! `{field}` and `{a.b.0}` are dotted paths into the data. Strings render as
//! they are, other values as JSON, and a missing field or `null` as nothing
//! (logged at debug). `{{` and `}}` stand for literal braces. The output is
//! JSON, so nothing is HTML-escaped. Templates are parsed once per
//! configuration; a malformed one (an unclosed `{`) drops with the reason.
//! Data that is not a JSON object cannot take the fields: it is delivered
//! unchanged, with a warning.

use std::collections::BTreeMap;

use herald_plugin_kit::{DeliverHook, Delivery, DeliveryDecision, Error, FromConfig, Subscriber, dotted};
use serde::Deserialize;
use serde_json::Value;

/// The plugin.
pub struct Template;

herald_plugin_kit::export_deliver_plugin!(Template);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    default_locale: String,
    templates: BTreeMap<String, RawTemplate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    title: Option<String>,
    body: Option<String>,
}

/// A configuration with its templates parsed.
pub struct Config {
    default_locale: String,
    templates: BTreeMap<String, Localized>,
}

struct Localized {
    title: Option<Text>,
    body: Option<Text>,
}

/// A parsed template: literal text and placeholders, in order.
#[derive(Debug, PartialEq)]
struct Text(Vec<Piece>);

#[derive(Debug, PartialEq)]
enum Piece {
    Literal(String),
    Field(String),
}

impl FromConfig for Config {
    fn from_config(json: &str) -> Result<Self, Error> {
        let raw: RawConfig = serde_json::from_str(json)?;
        if !raw.templates.contains_key(&raw.default_locale) {
            return Err(Error::new(format!("no template for the default locale `{}`", raw.default_locale)));
        }
        let mut templates = BTreeMap::new();
        for (locale, t) in raw.templates {
            let parse = |part: &str, text: Option<String>| {
                text.map(|text| Text::parse(&text)).transpose().map_err(|e| Error::new(format!("templates.{locale}.{part}: {e}")))
            };
            let localized = Localized { title: parse("title", t.title)?, body: parse("body", t.body)? };
            templates.insert(locale, localized);
        }
        Ok(Self { default_locale: raw.default_locale, templates })
    }
}

impl Text {
    fn parse(template: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = template.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.next_if(|&(_, c)| c == '{').is_some() => literal.push('{'),
                '}' if chars.next_if(|&(_, c)| c == '}').is_some() => literal.push('}'),
                '{' => {
                    let rest = &template[at + 1..];
                    let end = rest.find('}').ok_or_else(|| format!("unclosed `{{` at byte {at}"))?;
                    let field = rest[..end].trim();
                    if field.is_empty() || field.contains('{') {
                        return Err(format!("bad placeholder `{{{}}}` at byte {at}", &rest[..end]));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Field(field.to_owned()));
                    // Skip the placeholder's characters and its closing brace.
                    while chars.next_if(|&(i, _)| i <= at + 1 + end).is_some() {}
                }
                '}' => return Err(format!("lone `}}` at byte {at} (write `}}}}` for a brace)")),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Self(pieces))
    }

    /// Renders against `data`, naming each missing field in `missing`.
    fn render(&self, data: &Value, missing: &mut Vec<String>) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Field(path) => match dotted::get(data, path) {
                    Some(Value::String(s)) => out.push_str(s),
                    None | Some(Value::Null) => missing.push(path.clone()),
                    Some(other) => out.push_str(&other.to_string()),
                },
            }
        }
        out
    }
}

impl Config {
    /// The template for `locale`: exact, then by language, then the default.
    fn localized(&self, locale: Option<&str>) -> (&str, &Localized) {
        let candidates = locale.into_iter().flat_map(|l| [l, l.split(['-', '_']).next().unwrap_or(l)]);
        candidates
            .chain([self.default_locale.as_str()])
            .find_map(|l| self.templates.get_key_value(l))
            .map(|(l, t)| (l.as_str(), t))
            .expect("the default locale's template is checked when the configuration is built")
    }
}

impl DeliverHook for Template {
    type Config = Config;

    fn on_deliver(delivery: Delivery, subscriber: Subscriber, config: &Config) -> Result<DeliveryDecision, Error> {
        // A malformed locale claim should not cost the subscriber the
        // notification: fall back to the default language instead.
        let locale = subscriber.claim::<String>("locale").unwrap_or_else(|e| {
            herald_plugin_kit::debug!("{e}; using the default locale");
            None
        });
        let (chosen, template) = config.localized(locale.as_deref());

        let mut data = delivery.data_json()?;
        if !data.is_object() {
            herald_plugin_kit::warn!("data is not a JSON object; delivered without title and body");
            return Ok(DeliveryDecision::Keep);
        }
        let mut missing = Vec::new();
        let title = template.title.as_ref().map(|t| t.render(&data, &mut missing));
        let body = template.body.as_ref().map(|t| t.render(&data, &mut missing));
        if !missing.is_empty() {
            herald_plugin_kit::debug!("template `{chosen}`: no value for {}", missing.join(", "));
        }
        for (key, text) in [("title", title), ("body", body)] {
            if let Some(text) = text {
                data[key] = Value::String(text);
            }
        }
        Ok(delivery.replace_data(&data))
    }
}

#[cfg(test)]
mod tests {
    use herald_plugin_kit::testing::take_logs;
    use herald_plugin_kit::{Level, run_deliver};
    use serde_json::json;

    use super::*;

    fn config() -> Value {
        json!({
            "default_locale": "en",
            "templates": {
                "en": {"title": "Order {order} shipped", "body": "Hi {customer.name}, {count} items on their way."},
                "fr": {"title": "Commande {order} expédiée", "body": "Bonjour {customer.name} !"},
                "fr-CA": {"title": "Commande {order} en route"},
            }
        })
    }

    fn deliver(data: Value, claims: Value, config: &Value) -> DeliveryDecision {
        run_deliver::<Template>(Delivery::new("orders", "order.shipped", &data), Subscriber::new("u1", &claims), &config.to_string())
    }

    fn rendered(claims: Value) -> Value {
        let data = json!({"order": "A-17", "customer": {"name": "Léa"}, "count": 3});
        match deliver(data, claims, &config()) {
            DeliveryDecision::Replace { data, .. } => serde_json::from_str(&data).unwrap(),
            other => panic!("expected a replacement, got {other:?}"),
        }
    }

    #[test]
    fn renders_in_the_subscribers_locale() {
        let out = rendered(json!({"locale": "fr"}));
        assert_eq!(out["title"], "Commande A-17 expédiée");
        assert_eq!(out["body"], "Bonjour Léa !");
        assert_eq!(out["order"], "A-17", "the original data stays");
    }

    #[test]
    fn falls_back_from_region_to_language_to_default() {
        assert_eq!(rendered(json!({"locale": "fr-CA"}))["title"], "Commande A-17 en route");
        assert_eq!(rendered(json!({"locale": "fr-BE"}))["title"], "Commande A-17 expédiée");
        let out = rendered(json!({"locale": "de"}));
        assert_eq!(out["title"], "Order A-17 shipped");
        assert_eq!(out["body"], "Hi Léa, 3 items on their way.", "numbers render as JSON");
        assert_eq!(rendered(json!({}))["title"], "Order A-17 shipped");
        assert_eq!(rendered(json!({"locale": 42}))["title"], "Order A-17 shipped");
    }

    #[test]
    fn a_template_without_a_body_leaves_the_datas_body() {
        let data = json!({"order": 1, "body": "kept"});
        let DeliveryDecision::Replace { data: out, .. } = deliver(data, json!({"locale": "fr-CA"}), &config()) else {
            panic!("expected a replacement")
        };
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!({"order": 1, "body": "kept", "title": "Commande 1 en route"}));
    }

    #[test]
    fn missing_fields_render_empty_and_are_logged_at_debug() {
        let DeliveryDecision::Replace { data: out, .. } = deliver(json!({"count": null}), json!({}), &config()) else {
            panic!("expected a replacement")
        };
        let out: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(out["title"], "Order  shipped");
        assert_eq!(out["body"], "Hi ,  items on their way.");
        assert_eq!(take_logs(), vec![(Level::Debug, "template `en`: no value for order, customer.name, count".to_owned())]);
    }

    #[test]
    fn data_that_is_not_an_object_is_kept_with_a_warning() {
        assert_eq!(deliver(json!([1, 2]), json!({}), &config()), DeliveryDecision::Keep);
        assert_eq!(take_logs()[0].0, Level::Warn);
    }

    #[test]
    fn braces_escape_and_malformed_templates_are_refused() {
        assert_eq!(
            Text::parse("{{x}} {a.b}}}").unwrap(),
            Text(vec![Piece::Literal("{x} ".into()), Piece::Field("a.b".into()), Piece::Literal("}".into())])
        );
        for (bad, why) in [("Hi {name", "unclosed"), ("Hi {}", "bad placeholder"), ("a } b", "lone")] {
            let err = Text::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let cfg = json!({"default_locale": "en", "templates": {"en": {"body": "Hi {name"}}});
        let DeliveryDecision::Drop(reason) = deliver(json!({}), json!({}), &cfg) else { panic!("expected a drop") };
        assert!(reason.starts_with("invalid config: templates.en.body: unclosed"), "{reason}");
    }

    #[test]
    fn the_default_locale_must_have_a_template() {
        let cfg = json!({"default_locale": "de", "templates": {"en": {"title": "x"}}});
        let DeliveryDecision::Drop(reason) = deliver(json!({}), json!({}), &cfg) else { panic!("expected a drop") };
        assert_eq!(reason, "invalid config: no template for the default locale `de`");
    }
}
