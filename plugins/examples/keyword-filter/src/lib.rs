//! `keyword-filter`, a publish hook: rejects notifications whose text
//! contains a blocked word or matches a blocked pattern.
//!
//! Configuration:
//!
//! ```json
//! {"block": ["casino", "free money"], "regex": ["(?i)bit\\.ly/\\w+"], "fields": ["title", "body"]}
//! ```
//!
//! - `block`: words or phrases, matched case-insensitively and as whole
//!   words (`ass` does not block `class`);
//! - `regex`: patterns in the syntax of the `regex` crate, matched as
//!   written (add `(?i)` for case-insensitive);
//! - `fields`: dotted paths into the data (`user.bio`, `items.0.name`);
//!   every string at or under each path is checked. Absent: every string
//!   in the data. Keys are not checked, nor are numbers.
//!
//! The drop reason names the word or pattern and the field it matched in.
//! Patterns are compiled once per configuration, when the channel's
//! configuration is first used, and an invalid one drops with its error.

use std::ops::ControlFlow;

use herald_plugin_kit::{Decision, Error, FromConfig, Notification, PublishHook, dotted};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;

/// The plugin.
pub struct KeywordFilter;

herald_plugin_kit::export_publish_plugin!(KeywordFilter);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    block: Vec<String>,
    #[serde(default)]
    regex: Vec<String>,
    fields: Option<Vec<String>>,
}

/// A compiled configuration.
pub struct Config {
    rules: Vec<Rule>,
    fields: Option<Vec<String>>,
}

struct Rule {
    regex: Regex,
    /// How the drop reason names this rule.
    name: String,
}

/// Plugins have 16 MiB in all; a pattern that compiles to more than this is
/// a mistake, and refusing it beats running out of memory on every call.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

impl FromConfig for Config {
    fn from_config(json: &str) -> Result<Self, Error> {
        let raw: RawConfig = serde_json::from_str(json)?;
        let mut rules = Vec::with_capacity(raw.block.len() + raw.regex.len());
        for word in raw.block {
            let word = word.trim();
            if word.is_empty() {
                return Err(Error::new("`block` has an empty word"));
            }
            rules.push(Rule { regex: compile(&word_pattern(word))?, name: format!("word `{word}`") });
        }
        for pattern in raw.regex {
            let regex = compile(&pattern).map_err(|e| Error::new(format!("`regex` {e}")))?;
            rules.push(Rule { regex, name: format!("pattern `{pattern}`") });
        }
        Ok(Self { rules, fields: raw.fields })
    }
}

/// A whole-word, case-insensitive pattern for `word`. `\b` only makes sense
/// next to a word character, so a word like `c++` gets no boundary at its end.
fn word_pattern(word: &str) -> String {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let start = if is_word(word.chars().next()) { r"\b" } else { "" };
    let end = if is_word(word.chars().next_back()) { r"\b" } else { "" };
    format!("(?i){start}{}{end}", regex::escape(word))
}

fn compile(pattern: &str) -> Result<Regex, Error> {
    // regex's syntax errors draw a caret under the pattern over several
    // lines; a drop reason reads better on one.
    let one_line = |e: regex::Error| e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
    RegexBuilder::new(pattern).size_limit(PATTERN_SIZE_LIMIT).build().map_err(|e| Error::new(format!("`{pattern}`: {}", one_line(e))))
}

impl PublishHook for KeywordFilter {
    type Config = Config;

    fn on_publish(notification: Notification, config: &Config) -> Result<Decision, Error> {
        if config.rules.is_empty() {
            return Ok(Decision::Keep);
        }
        let data = notification.data_json()?;
        let whole = [String::new()];
        let fields = config.fields.as_deref().unwrap_or(&whole);
        for field in fields {
            let Some(value) = dotted::get(&data, field) else { continue };
            let found =
                dotted::visit_strings(value, field, &mut |path, text| match config.rules.iter().find(|rule| rule.regex.is_match(text)) {
                    Some(rule) => ControlFlow::Break(format!("{} matched in `{path}`", rule.name)),
                    None => ControlFlow::Continue(()),
                });
            if let ControlFlow::Break(reason) = found {
                return Ok(Decision::Drop(reason));
            }
        }
        Ok(Decision::Keep)
    }
}

#[cfg(test)]
mod tests {
    use herald_plugin_kit::run_publish;
    use serde_json::{Value, json};

    use super::*;

    fn check(data: Value, config: Value) -> Decision {
        run_publish::<KeywordFilter>(Notification::new("news", "post.created", &data), &config.to_string())
    }

    #[test]
    fn blocked_words_match_whole_words_in_any_case() {
        let config = json!({"block": ["casino", "free money"]});
        assert_eq!(
            check(json!({"body": "Visit our CASINO tonight"}), config.clone()),
            Decision::Drop("word `casino` matched in `body`".into())
        );
        assert_eq!(
            check(json!({"title": "Get Free  Money"}), config.clone()),
            Decision::Keep,
            "a phrase matches as written, spacing included"
        );
        assert_eq!(
            check(json!({"title": "get free money now"}), config.clone()),
            Decision::Drop("word `free money` matched in `title`".into())
        );
        assert_eq!(check(json!({"body": "casinos and nocasino"}), config), Decision::Keep);
    }

    #[test]
    fn words_with_symbols_are_matched_literally() {
        let config = json!({"block": ["c++", "a.b"]});
        assert!(matches!(check(json!({"t": "I like C++!"}), config.clone()), Decision::Drop(_)));
        assert_eq!(check(json!({"t": "axb"}), config.clone()), Decision::Keep, "`.` is not a wildcard");
        assert!(matches!(check(json!({"t": "see a.b"}), config), Decision::Drop(_)));
    }

    #[test]
    fn patterns_match_as_written() {
        let config = json!({"regex": [r"bit\.ly/\w+", r"(?i)^urgent"]});
        assert_eq!(
            check(json!({"body": "click bit.ly/abc"}), config.clone()),
            Decision::Drop(r"pattern `bit\.ly/\w+` matched in `body`".into())
        );
        assert_eq!(
            check(json!({"title": "URGENT: act now"}), config.clone()),
            Decision::Drop("pattern `(?i)^urgent` matched in `title`".into())
        );
        assert_eq!(check(json!({"title": "not urgent"}), config), Decision::Keep);
    }

    #[test]
    fn only_the_chosen_fields_are_checked() {
        let config = json!({"block": ["spam"], "fields": ["title", "author.bio"]});
        assert_eq!(check(json!({"body": "spam", "title": "hello"}), config.clone()), Decision::Keep);
        assert_eq!(
            check(json!({"author": {"bio": ["fine", "spam here"]}}), config.clone()),
            Decision::Drop("word `spam` matched in `author.bio.1`".into())
        );
        assert_eq!(check(json!({"title": 42}), config), Decision::Keep, "missing or non-text fields pass");
    }

    #[test]
    fn without_fields_every_string_is_checked_but_not_keys() {
        let config = json!({"block": ["spam"]});
        assert_eq!(
            check(json!({"items": [{"name": "ok"}, {"name": "spam"}]}), config.clone()),
            Decision::Drop("word `spam` matched in `items.1.name`".into())
        );
        assert_eq!(check(json!({"spam": "ok"}), config), Decision::Keep);
    }

    #[test]
    fn bad_configurations_drop_with_the_reason() {
        let Decision::Drop(reason) = check(json!({}), json!({"regex": ["(unclosed"]})) else {
            panic!("expected a drop");
        };
        assert!(reason.starts_with("invalid config: `regex` `(unclosed`: regex parse error:"), "{reason}");
        assert!(!reason.contains('\n'), "{reason}");

        let Decision::Drop(reason) = check(json!({}), json!({"blocks": ["typo"]})) else {
            panic!("expected a drop");
        };
        assert!(reason.contains("unknown field `blocks`"), "{reason}");

        assert!(matches!(check(json!({}), json!({"block": [" "]})), Decision::Drop(_)));
    }

    #[test]
    fn an_empty_configuration_keeps_everything() {
        assert_eq!(check(json!({"body": "anything"}), json!({})), Decision::Keep);
    }
}
