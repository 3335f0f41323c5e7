//! Logging through the host: each line lands in Herald's log with the plugin
//! and tenant named. Natively (in tests) lines go to stderr and to a
//! per-thread buffer that [`crate::testing::take_logs`] reads.

use crate::Level;

/// Writes `message` to Herald's log at `level`. Keep it rare in the deliver
/// hook, which runs once per subscriber.
pub fn log(level: Level, message: &str) {
    imp::log(level, message);
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::__bindings::publish::herald::plugin::host;
    use crate::Level;

    pub(super) fn log(level: Level, message: &str) {
        host::log(level.into(), message);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use crate::Level;

    pub(super) fn log(level: Level, message: &str) {
        eprintln!("[{level:?}] {message}");
        crate::testing::record(level, message);
    }
}

/// Logs a `format!` message at trace level.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log($crate::Level::Trace, &::std::format!($($arg)+)) };
}

/// Logs a `format!` message at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log($crate::Level::Debug, &::std::format!($($arg)+)) };
}

/// Logs a `format!` message at info level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log($crate::Level::Info, &::std::format!($($arg)+)) };
}

/// Logs a `format!` message at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log($crate::Level::Warn, &::std::format!($($arg)+)) };
}

/// Logs a `format!` message at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log($crate::Level::Error, &::std::format!($($arg)+)) };
}

#[cfg(test)]
mod tests {
    use crate::Level;
    use crate::testing::take_logs;

    #[test]
    fn macros_format_and_record_in_order() {
        let n = 3;
        crate::debug!("missing {n} fields");
        crate::warn!("slow");
        crate::error!("{}/{}", 1, 2);
        assert_eq!(
            take_logs(),
            vec![(Level::Debug, "missing 3 fields".to_owned()), (Level::Warn, "slow".to_owned()), (Level::Error, "1/2".to_owned()),]
        );
        assert!(take_logs().is_empty(), "taking empties the buffer");
    }
}
