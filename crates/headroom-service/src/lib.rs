//! The round both front ends run, with no Tauri: read new transcript lines into the ledger,
//! ask the account sources as the poll policy allows, evaluate the alerts and record them,
//! deliver a notification, and publish the view. The tray app (`src-tauri`) runs it as the
//! [`task`] with hooks that update its menu, icon and window; `headroom watch` and
//! `headroom serve` run the same task, as [`Role::Headless`], with hooks of their own (print,
//! update the metrics registry).
//!
//! - [`task`]: the one owner of the data: the loop, its wake-ups, its view.
//! - [`handle`]: the front end's side of it: requests, the published view, the hooks.
//! - [`watcher`]: the file watcher that wakes the task (transcripts, settings saves).
//! - [`deliver`]: the alert step (evaluate and record, deliver, record the delivery) and
//!   the notifier with its icon and the warn-once "no notification server".
//! - [`supervise`]: what a panic inside the task turns into.
//! - [`env`](mod@env): what the service reads from the edge.

pub mod deliver;
pub mod env;
pub mod handle;
pub mod supervise;
pub mod task;
pub mod watcher;

pub use env::{Role, ServiceEnv};
pub use task::{start, ExtraUsageState, Handle, Hooks, Published, Request};
