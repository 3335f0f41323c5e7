//! Matching topics against RFC 6570 URI Templates, the topic selectors of
//! Mercure 0.x (`topic=https://example.com/books/{id}`, and the strings of
//! the 0.x `mercure.subscribe` and `mercure.publish` claims), which a tenant
//! with `compat_0x` still accepts.
//!
//! RFC 6570 defines expansion only. A template is matched here the way the
//! 0.x reference hub matches it: compiled to an anchored regular expression
//! that accepts what expanding the template could produce, each expression
//! optional (undefined variables expand to nothing), each value made of the
//! characters its operator leaves unencoded. Length prefixes (`{var:3}`)
//! are not enforced, so a template matches a little more than it could
//! expand to, never less. The regex crate matches in linear time.

use regex::Regex;

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a URI template: {0}")]
pub struct TemplateError(pub String);

/// A compiled template.
#[derive(Debug, Clone)]
pub struct UriTemplate {
    regex: Regex,
}

/// Unreserved characters and percent-encoded octets (RFC 6570 `U`).
const UNRESERVED: &str = r"(?:[A-Za-z0-9\-._~,]|%[0-9A-Fa-f]{2})*";
/// Unreserved, reserved and percent-encoded (`U+R`, for `+` and `#`).
const RESERVED: &str = r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*";

impl UriTemplate {
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let mut pattern = String::from("^");
        let mut rest = template;
        while let Some(open) = rest.find(['{', '}']) {
            if rest.as_bytes()[open] == b'}' {
                return Err(TemplateError("a `}` closes no expression".into()));
            }
            pattern.push_str(&regex::escape(&rest[..open]));
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| TemplateError("an expression is not closed".into()))?;
            pattern.push_str(&expression(&after[..close])?);
            rest = &after[close + 1..];
        }
        pattern.push_str(&regex::escape(rest));
        pattern.push('$');
        let regex = Regex::new(&pattern).map_err(|e| TemplateError(e.to_string()))?;
        Ok(Self { regex })
    }

    pub fn matches(&self, uri: &str) -> bool {
        self.regex.is_match(uri)
    }
}

/// The regex of one `{…}` expression.
fn expression(body: &str) -> Result<String, TemplateError> {
    let (op, list) = match body.chars().next() {
        Some(c @ ('+' | '#' | '.' | '/' | ';' | '?' | '&')) => (Some(c), &body[1..]),
        Some('=' | ',' | '!' | '@' | '|') => return Err(TemplateError(format!("`{body}` uses a reserved operator"))),
        _ => (None, body),
    };
    // (first, separator, named, value)
    let (first, sep, named, value) = match op {
        None => ("", ",", false, UNRESERVED),
        Some('+') => ("", ",", false, RESERVED),
        Some('#') => ("#", ",", false, RESERVED),
        Some('.') => (".", ".", false, UNRESERVED),
        Some('/') => ("/", "/", false, UNRESERVED),
        Some(';') => (";", ";", true, UNRESERVED),
        Some('?') => ("?", "&", true, UNRESERVED),
        _ => ("&", "&", true, UNRESERVED),
    };
    let mut names = Vec::new();
    for spec in list.split(',') {
        let name = spec.strip_suffix('*').unwrap_or_else(|| spec.split_once(':').map_or(spec, |(n, len)| check_prefix(n, len)));
        if !valid_name(name) {
            return Err(TemplateError(format!("`{spec}` is not a variable")));
        }
        names.push(regex::escape(name));
    }
    let item = if named {
        // `name=value`, `name` alone for an empty value after `;`, and for
        // exploded maps any key.
        format!(r"(?:{}|{UNRESERVED})(?:={value})?", names.join("|"))
    } else {
        value.to_owned()
    };
    let (first, sep) = (regex::escape(first), regex::escape(sep));
    Ok(format!("(?:{first}{item}(?:{sep}{item})*)?"))
}

/// A `:N` prefix: 1 to 9999; the variable's name.
fn check_prefix<'a>(name: &'a str, len: &str) -> &'a str {
    let ok = !len.is_empty() && len.len() <= 4 && len.bytes().all(|b| b.is_ascii_digit()) && len != "0" && !len.starts_with('0');
    // An invalid prefix makes the name invalid, so it is refused above.
    if ok { name } else { "" }
}

/// `varname` of RFC 6570: ALPHA, DIGIT, `_` or `%XX`, dots between.
fn valid_name(name: &str) -> bool {
    if name.is_empty() || name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return false;
    }
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() => i += 3,
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' => i += 1,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> UriTemplate {
        UriTemplate::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn simple_expressions_match_one_segment() {
        let books = t("https://example.com/books/{id}");
        for yes in [
            "https://example.com/books/1",
            "https://example.com/books/a-b_c.d~e",
            "https://example.com/books/%C3%A9",
            "https://example.com/books/",
        ] {
            assert!(books.matches(yes), "expected {yes} to match");
        }
        for no in [
            "https://example.com/books/1/reviews",
            "https://example.com/books/1?x",
            "https://example.com/book/1",
            "https://example.com/books/é",
        ] {
            assert!(!books.matches(no), "expected {no} not to match");
        }
        // Literals are literal, including regex metacharacters.
        let dotted = t("https://example.com/a.b/{x}");
        assert!(!dotted.matches("https://example.com/aXb/1"));
    }

    #[test]
    fn operators_allow_their_characters() {
        assert!(t("https://example.com/{+path}").matches("https://example.com/a/b/c?d=e"));
        assert!(!t("https://example.com/{path}").matches("https://example.com/a/b"));
        assert!(t("https://example.com/files{/dir,file}").matches("https://example.com/files/a/b"));
        assert!(t("https://example.com/files{/dir,file}").matches("https://example.com/files"));
        assert!(t("https://example.com/search{?q,lang}").matches("https://example.com/search?q=cat&lang=en"));
        assert!(t("https://example.com/search{?q,lang}").matches("https://example.com/search?lang=en"));
        assert!(!t("https://example.com/search{?q}").matches("https://example.com/search?q=a/b"));
        assert!(t("https://example.com/x{;v}").matches("https://example.com/x;v"));
        assert!(t("https://example.com/x{;v}").matches("https://example.com/x;v=1"));
        assert!(t("https://example.com/p{#frag}").matches("https://example.com/p#a/b"));
        assert!(t("https://example.com/{x:3}/{list*}").matches("https://example.com/abcdef/1,2,3"));
        assert!(t("https://example.com/{name}.{ext}").matches("https://example.com/report.pdf"));
        assert!(t("https://example.com/report{.fmt}").matches("https://example.com/report.pdf"));
    }

    #[test]
    fn malformed_templates_are_refused() {
        for bad in [
            "https://e.com/{id",
            "https://e.com/id}",
            "https://e.com/{}",
            "https://e.com/{a b}",
            "https://e.com/{=x}",
            "https://e.com/{x:0}",
            "https://e.com/{x:12345}",
            "https://e.com/{.x.}",
            "https://e.com/{a,}",
        ] {
            assert!(UriTemplate::parse(bad).is_err(), "expected {bad} to be refused");
        }
        assert!(t("https://e.com/{a.b,c_d,%41}").matches("https://e.com/1,2,3"));
    }
}
