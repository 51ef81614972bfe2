//! The refresh task's supervision: what a panic inside it turns into. The task runs on a bare
//! thread, and without this a panic there (a bug, or an overflow in a debug build) would leave
//! the tray on its last numbers for good, with no word of it. Instead the panic is caught
//! (`task::start` runs the task inside `catch_unwind`), logged, said in the tray menu and
//! the pane ("refresh failed: …; restarted at 14:05"), and the task starts again after a
//! back-off that grows while it keeps failing before finishing a round.
//!
//! Pure: the back-off and the texts take `now` and read no clock.

use std::any::Any;
use std::time::Duration;

use headroom_core::report::Zone;
use headroom_core::text;

/// The first restart comes after this; each failure in a row doubles it, up to [`MAX_DELAY`].
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
pub const MAX_DELAY: Duration = Duration::from_secs(5 * 60);
/// How long the tray and the pane keep saying that the task failed, after its restart.
pub const SHOWN_FOR_MS: i64 = 60 * 60_000;
/// The longest panic message shown in a menu row (the log has all of it).
const SHOWN_CHARS: usize = 120;

/// A failure of the refresh task, as the front ends show it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFailure {
    /// The panic's message, first line.
    pub message: String,
    pub failed_at_ms: i64,
    /// When the task starts again (in the future while it waits), or started.
    pub restart_at_ms: i64,
}

impl TaskFailure {
    /// `refresh failed: <message>; restarted at 14:05` (`restarting at` while it waits).
    pub fn describe(&self, now_ms: i64, zone: Zone) -> String {
        let when = text::clock(self.restart_at_ms, now_ms, zone);
        if self.restart_at_ms > now_ms {
            format!("refresh failed: {}; restarting at {when}", self.message)
        } else {
            format!("refresh failed: {}; restarted at {when}", self.message)
        }
    }

    /// Still worth showing at `now_ms`.
    pub fn shown_at(&self, now_ms: i64) -> bool {
        now_ms - self.restart_at_ms < SHOWN_FOR_MS
    }
}

/// How long to wait before the next start, after `failures_in_a_row` (1 for the first)
/// failures with no round finished in between.
pub fn restart_delay(failures_in_a_row: u32) -> Duration {
    let doublings = failures_in_a_row.saturating_sub(1).min(16);
    FIRST_DELAY.saturating_mul(1u32 << doublings).min(MAX_DELAY)
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`), first line, shortened
/// for a menu row.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    let full = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with no message".to_owned()
    };
    let line = full.lines().next().unwrap_or("").trim();
    if line.chars().count() <= SHOWN_CHARS {
        return line.to_owned();
    }
    let cut: String = line.chars().take(SHOWN_CHARS - 1).collect();
    format!("{cut}…")
}

/// The test-only fault hook: when `file` (`HEADROOM_TEST_FAULT_FILE`, read by debug builds
/// only, see `ServiceEnv::test_fault_file`) exists, it is removed and the round panics, once
/// per file. The GUI tests create it while the app runs to make the next round fail.
pub fn test_fault(file: Option<&std::path::Path>) {
    if let Some(file) = file {
        if std::fs::remove_file(file).is_ok() {
            panic!("test fault from {}", file.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_772_532_000_000; // 2026-03-03 10:00 UTC

    fn utc() -> Zone {
        Zone::Named(chrono_tz::UTC)
    }

    #[test]
    fn back_off_doubles_from_a_second_to_five_minutes() {
        let delays: Vec<u64> = (1..=11).map(|n| restart_delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(restart_delay(0), FIRST_DELAY);
        assert_eq!(restart_delay(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn the_text_says_what_failed_and_when_it_restarted() {
        let f = TaskFailure {
            message: "attempt to add with overflow".into(),
            failed_at_ms: NOW - 4 * 60_000,
            restart_at_ms: NOW - 4 * 60_000 + 1000,
        };
        assert_eq!(
            f.describe(NOW, utc()),
            "refresh failed: attempt to add with overflow; restarted at 09:56"
        );
        let waiting = TaskFailure {
            restart_at_ms: NOW + 30_000,
            ..f.clone()
        };
        assert_eq!(
            waiting.describe(NOW, utc()),
            "refresh failed: attempt to add with overflow; restarting at 10:00"
        );
        assert!(f.shown_at(NOW));
        assert!(!f.shown_at(f.restart_at_ms + SHOWN_FOR_MS));
    }

    #[test]
    fn panic_payloads_become_one_short_line() {
        let s: Box<dyn Any + Send> = Box::new("index out of bounds");
        assert_eq!(panic_message(&*s), "index out of bounds");
        let s: Box<dyn Any + Send> = Box::new(format!("first line\nsecond {}", 2));
        assert_eq!(panic_message(&*s), "first line");
        let s: Box<dyn Any + Send> = Box::new(42_u8);
        assert_eq!(panic_message(&*s), "a panic with no message");
        let s: Box<dyn Any + Send> = Box::new("é".repeat(500));
        let m = panic_message(&*s);
        assert_eq!(m.chars().count(), SHOWN_CHARS);
        assert!(m.ends_with('…'));
    }
}
