//! Plugin configuration: how the JSON text a channel gives a plugin becomes
//! a typed value, and the cache that keeps the deliver hook from re-parsing
//! (and re-compiling regexes) on every delivery.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::rc::Rc;

use serde::de::DeserializeOwned;

use crate::Error;

/// A plugin's configuration, built from the JSON text a channel gives it.
///
/// Every `serde` deserializable type gets this for free. Implement it by hand
/// when the configuration needs work beyond parsing, such as compiling
/// patterns, so that the work is done once per configuration, not per call.
pub trait FromConfig: Sized + 'static {
    /// Builds the configuration; an error drops the notification with
    /// `invalid config: <message>` as the reason.
    fn from_config(json: &str) -> Result<Self, Error>;
}

impl<T: DeserializeOwned + 'static> FromConfig for T {
    fn from_config(json: &str) -> Result<Self, Error> {
        Ok(serde_json::from_str(json)?)
    }
}

/// How many configurations one instance remembers. A plugin instance may
/// serve several channels, each with its own configuration, but rarely many.
const CACHE_ENTRIES: usize = 8;

struct Entry {
    type_id: TypeId,
    json: String,
    value: Rc<dyn Any>,
}

thread_local! {
    // Most recently used first. A component instance is single-threaded,
    // and natively each test thread gets its own cache.
    static CACHE: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// The configuration `json` built as a `C`, from the cache when this
/// instance has built it before. Errors are not cached: they are cheap to
/// rebuild and a failing configuration should not push out a working one.
pub(crate) fn cached<C: FromConfig>(json: &str) -> Result<Rc<C>, Error> {
    let type_id = TypeId::of::<C>();
    let hit = CACHE.with_borrow_mut(|cache| {
        let at = cache.iter().position(|e| e.type_id == type_id && e.json == json)?;
        let entry = cache.remove(at);
        let value = Rc::clone(&entry.value);
        cache.insert(0, entry);
        Some(value)
    });
    if let Some(value) = hit {
        return Ok(value.downcast::<C>().expect("cache entries are keyed by their TypeId"));
    }

    let value = Rc::new(C::from_config(json).map_err(|e| Error::new(format!("invalid config: {e}")))?);
    CACHE.with_borrow_mut(|cache| {
        cache.truncate(CACHE_ENTRIES - 1);
        cache.insert(0, Entry { type_id, json: json.to_owned(), value: value.clone() });
    });
    Ok(value)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Plain {
        n: u32,
    }

    thread_local! {
        static BUILDS: Cell<u32> = const { Cell::new(0) };
    }

    /// Counts its builds, to see the cache at work.
    struct Counted(String);

    impl FromConfig for Counted {
        fn from_config(json: &str) -> Result<Self, Error> {
            BUILDS.set(BUILDS.get() + 1);
            if json.is_empty() {
                return Err(Error::new("empty"));
            }
            Ok(Counted(json.to_owned()))
        }
    }

    #[test]
    fn serde_types_parse_and_report_errors() {
        assert_eq!(*cached::<Plain>(r#"{"n": 3}"#).unwrap(), Plain { n: 3 });
        let err = cached::<Plain>(r#"{"n": "x"}"#).unwrap_err();
        assert!(err.message().starts_with("invalid config: invalid type"), "{err}");
    }

    #[test]
    fn configurations_are_built_once_each() {
        let a = cached::<Counted>("a").unwrap();
        let b = cached::<Counted>("b").unwrap();
        let a_again = cached::<Counted>("a").unwrap();
        assert_eq!((a.0.as_str(), b.0.as_str()), ("a", "b"));
        assert!(Rc::ptr_eq(&a, &a_again));
        assert_eq!(BUILDS.get(), 2);
    }

    #[test]
    fn errors_are_not_cached_and_keep_working_entries() {
        let ok = cached::<Counted>("ok").unwrap();
        assert!(cached::<Counted>("").is_err());
        assert!(cached::<Counted>("").is_err());
        assert_eq!(BUILDS.get(), 3);
        assert!(Rc::ptr_eq(&ok, &cached::<Counted>("ok").unwrap()));
    }

    #[test]
    fn the_least_recently_used_configuration_goes_first() {
        let first = cached::<Counted>("0").unwrap();
        for i in 1..CACHE_ENTRIES {
            cached::<Counted>(&i.to_string()).unwrap();
        }
        // Touch "0" so that "1" is now the oldest, then overflow by one.
        assert!(Rc::ptr_eq(&first, &cached::<Counted>("0").unwrap()));
        cached::<Counted>("new").unwrap();
        let builds = BUILDS.get();
        cached::<Counted>("0").unwrap();
        assert_eq!(BUILDS.get(), builds, "0 was used recently and stays");
        cached::<Counted>("1").unwrap();
        assert_eq!(BUILDS.get(), builds + 1, "1 was the oldest and was evicted");
    }

    #[test]
    fn same_text_for_different_types_is_kept_apart() {
        assert_eq!(cached::<Plain>(r#"{"n": 1}"#).unwrap().n, 1);
        assert_eq!(cached::<Counted>(r#"{"n": 1}"#).unwrap().0, r#"{"n": 1}"#);
    }
}
