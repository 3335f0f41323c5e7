//! The list convention shared by every collection: `?limit=&after=` in,
//! `{"items": [...], "next": cursor|null}` out, in a stable order.
//!
//! A `limit` outside 1..=1000 is refused (400), not clamped: a client that
//! asks for 5000 rows and silently gets 1000 would think it has them all.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

pub(crate) const DEFAULT_LIMIT: u64 = 100;
pub(crate) const MAX_LIMIT: u64 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Page size, 1 to 1000 (default 100).
    #[serde(default, deserialize_with = "page_limit")]
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u64>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

impl ListQuery {
    pub fn limit(&self) -> u64 {
        self.limit.unwrap_or(DEFAULT_LIMIT)
    }
}

/// Deserializes a `limit` query parameter, refusing values outside 1..=1000.
pub(crate) fn page_limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    let Some(raw) = raw else { return Ok(None) };
    match raw.parse::<u64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(Some(n)),
        _ => Err(serde::de::Error::custom(format!("`limit` must be an integer from 1 to {MAX_LIMIT}, not `{raw}`"))),
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; null on the last page.
    #[schema(required = true)]
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page; `cursor` gives the cursor of an item.
    pub fn new(items: Vec<T>, limit: u64, cursor: impl Fn(&T) -> String) -> Self {
        let next = if items.len() as u64 == limit { items.last().map(cursor) } else { None };
        Self { items, next }
    }
}
