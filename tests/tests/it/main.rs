//! The cross-crate tests, one binary (`it`): one module per area, so nextest names a test
//! `module::test` and `-E 'test(/^tray_dbus::/)'` picks an area. What they share (the loopback
//! servers, a user's folders, D-Bus, WebDriver, the pane's and the tray's helpers) is the
//! package's library, `headroom_tests`. The desktop tests (`settings_webdriver`,
//! `extra_usage_webdriver`, `tray_dbus`, `tray_desktop`) are `#[ignore]`d: `scripts/ci-gui.sh`
//! runs them under Xvfb.

mod account_claude_ai;
mod account_extra_usage;
mod account_plans;
mod account_status;
mod account_statusline;
mod alerts_cli;
mod alerts_dbus;
mod extra_usage_webdriver;
mod extra_usage_write;
mod ledger_contention;
mod metrics_export;
mod notify_dbus;
mod prices_update;
mod settings_webdriver;
mod tray_dbus;
mod tray_desktop;
