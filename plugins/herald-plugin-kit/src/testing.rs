//! Native-only help for testing plugins with `cargo test`: what the plugin
//! logged. Call hooks with [`crate::run_publish`] and [`crate::run_deliver`].

use std::cell::RefCell;

use crate::Level;

thread_local! {
    // Per thread, so that tests running in parallel see only their own lines.
    static LOGS: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn record(level: Level, message: &str) {
    LOGS.with_borrow_mut(|logs| logs.push((level, message.to_owned())));
}

/// The lines logged on this thread since the last call, oldest first.
pub fn take_logs() -> Vec<(Level, String)> {
    LOGS.with_borrow_mut(std::mem::take)
}
