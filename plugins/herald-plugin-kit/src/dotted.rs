//! Dotted paths into JSON data, such as `user.email` or `items.0.name`, the
//! way plugin configurations name fields. A segment is an object key, or an
//! index when the value at that point is an array; the empty path is the
//! whole value. Keys that contain a dot cannot be named.

use std::ops::ControlFlow;

use serde_json::Value;

/// The value at `path` in `root`, if there is one.
pub fn get<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    segments(path).try_fold(root, |value, segment| match value {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
        _ => None,
    })
}

/// The value at `path` in `root`, mutably, if there is one.
pub fn get_mut<'a>(root: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    segments(path).try_fold(root, |value, segment| match value {
        Value::Object(map) => map.get_mut(segment),
        Value::Array(items) => items.get_mut(segment.parse::<usize>().ok()?),
        _ => None,
    })
}

/// Calls `f` with the path and text of every string in `value` (itself
/// found at `path`), depth first, in document order, until `f` breaks.
/// Object keys are not visited: they are structure, not content.
pub fn visit_strings<'a, B>(value: &'a Value, path: &str, f: &mut impl FnMut(&str, &'a str) -> ControlFlow<B>) -> ControlFlow<B> {
    match value {
        Value::String(s) => f(path, s),
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| visit_strings(item, &join(path, &i.to_string()), f)),
        Value::Object(map) => map.iter().try_for_each(|(key, item)| visit_strings(item, &join(path, key), f)),
        Value::Null | Value::Bool(_) | Value::Number(_) => ControlFlow::Continue(()),
    }
}

/// Calls `f` on every string in `value`, so it can rewrite them in place.
pub fn visit_strings_mut(value: &mut Value, f: &mut impl FnMut(&mut String)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|item| visit_strings_mut(item, f)),
        Value::Object(map) => map.values_mut().for_each(|item| visit_strings_mut(item, f)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('.').filter(|_| !path.is_empty())
}

fn join(path: &str, segment: &str) -> String {
    if path.is_empty() { segment.to_owned() } else { format!("{path}.{segment}") }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc() -> Value {
        json!({"user": {"email": "a@b.c", "tags": ["x", {"deep": "y"}]}, "n": 1, "title": "t"})
    }

    #[test]
    fn get_follows_keys_and_indexes() {
        let d = doc();
        assert_eq!(get(&d, ""), Some(&d));
        assert_eq!(get(&d, "user.email"), Some(&json!("a@b.c")));
        assert_eq!(get(&d, "user.tags.1.deep"), Some(&json!("y")));
        assert_eq!(get(&d, "user.tags.2"), None);
        assert_eq!(get(&d, "user.tags.x"), None);
        assert_eq!(get(&d, "n.more"), None);
        assert_eq!(get(&d, "user..email"), None);
    }

    #[test]
    fn get_mut_edits_in_place() {
        let mut d = doc();
        *get_mut(&mut d, "user.tags.0").unwrap() = json!("z");
        assert_eq!(d["user"]["tags"][0], "z");
        assert!(get_mut(&mut d, "missing.path").is_none());
    }

    #[test]
    fn visit_strings_reports_paths_and_stops_on_break() {
        let d = doc();
        let mut seen = Vec::new();
        let _ = visit_strings(&d, "", &mut |path, s| {
            seen.push(format!("{path}={s}"));
            ControlFlow::<()>::Continue(())
        });
        // serde_json's map keeps keys sorted.
        assert_eq!(seen, ["title=t", "user.email=a@b.c", "user.tags.0=x", "user.tags.1.deep=y"]);

        let found = visit_strings(&d["user"], "user", &mut |path, s| {
            if s == "x" { ControlFlow::Break(path.to_owned()) } else { ControlFlow::Continue(()) }
        });
        assert_eq!(found, ControlFlow::Break("user.tags.0".to_owned()));
    }

    #[test]
    fn visit_strings_mut_rewrites_every_string() {
        let mut d = doc();
        visit_strings_mut(&mut d, &mut |s| s.make_ascii_uppercase());
        assert_eq!(d["user"]["email"], "A@B.C");
        assert_eq!(d["user"]["tags"][1]["deep"], "Y");
        assert_eq!(d["n"], 1);
    }
}
