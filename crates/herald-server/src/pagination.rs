//! The list convention shared by every collection: `?limit=&after=` in,
//! `{"items": [...], "next": cursor|null}` out, in a stable order.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub(crate) const DEFAULT_LIMIT: u64 = 100;
pub(crate) const MAX_LIMIT: u64 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u64>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

impl ListQuery {
    pub fn limit(&self) -> u64 {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page; `cursor` gives the cursor of an item.
    pub fn new(items: Vec<T>, limit: u64, cursor: impl Fn(&T) -> String) -> Self {
        let next = if items.len() as u64 == limit { items.last().map(cursor) } else { None };
        Self { items, next }
    }
}
