//! Which tenants get series of their own on `/metrics`.
//!
//! At most `max` tenants are labelled; the rest are summed under
//! `tenant="_other"`. The choice is sticky: a tenant once labelled stays
//! labelled until the process restarts, and free places go to the busiest
//! of the others. Re-ranking at every scrape would move tenants between
//! their own series and `_other`, and every move would look like a counter
//! reset to Prometheus; sticky, `_other` steps down only when a tenant
//! joins, at most `max` times per process.

use std::collections::HashSet;

use herald_core::ids::TenantId;

/// The series a tenant's figures go to.
pub(super) const OTHER: &str = "_other";

#[derive(Debug)]
pub(super) struct TenantLabels {
    max: usize,
    chosen: HashSet<TenantId>,
}

impl TenantLabels {
    pub fn new(max: usize) -> Self {
        Self { max, chosen: HashSet::new() }
    }

    /// Whether tenants are labelled at all.
    pub fn enabled(&self) -> bool {
        self.max > 0
    }

    /// Fills free places from `tenants` (each with how busy it is), the
    /// busiest first, and says which are labelled.
    pub fn choose(&mut self, tenants: &[(TenantId, u64)]) -> &HashSet<TenantId> {
        if self.chosen.len() < self.max {
            let mut others: Vec<&(TenantId, u64)> = tenants.iter().filter(|(t, _)| !self.chosen.contains(t)).collect();
            // Busiest first; ties by id, so the choice does not depend on map order.
            others.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.as_str().cmp(b.0.as_str())));
            let room = self.max - self.chosen.len();
            self.chosen.extend(others.into_iter().take(room).map(|(t, _)| t.clone()));
        }
        &self.chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::parse(&format!("ten_{s}")).unwrap()
    }

    #[test]
    fn the_busiest_fill_the_places_and_keep_them() {
        let mut labels = TenantLabels::new(2);
        let chosen = labels.choose(&[(t("a"), 1), (t("b"), 50), (t("c"), 20)]).clone();
        assert_eq!(chosen, HashSet::from([t("b"), t("c")]));
        // `a` is now the busiest, but the places are taken: no churn.
        let chosen = labels.choose(&[(t("a"), 1000), (t("b"), 50), (t("c"), 20)]).clone();
        assert_eq!(chosen, HashSet::from([t("b"), t("c")]));
    }

    #[test]
    fn free_places_are_filled_as_tenants_appear_and_zero_means_none() {
        let mut labels = TenantLabels::new(3);
        assert_eq!(labels.choose(&[(t("a"), 0)]).len(), 1);
        assert_eq!(labels.choose(&[(t("a"), 0), (t("b"), 0), (t("c"), 0), (t("d"), 9)]).clone(), HashSet::from([t("a"), t("d"), t("b")]));
        let mut off = TenantLabels::new(0);
        assert!(!off.enabled());
        assert!(off.choose(&[(t("a"), 5)]).is_empty());
    }
}
