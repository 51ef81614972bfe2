//! Sends one sample alert notification, to check a desktop's notification setup:
//! `cargo run -p headroom-notify --example sample [info|warning|critical]`.
//! Waits up to 30 s for a button click and prints it.

use std::time::Duration;

use headroom_notify::{Action, Level, Notification, Notifier, NotifierConfig};

fn main() {
    let level = match std::env::args().nth(1).as_deref() {
        Some("info") => Level::Info,
        Some("warning") => Level::Warning,
        _ => Level::Critical,
    };
    let icon = headroom_notify::install_icon(&std::env::temp_dir().join("headroom-sample"))
        .ok()
        .map(|p| p.display().to_string());
    let (notifier, clicks) = Notifier::new(NotifierConfig {
        icon,
        ..NotifierConfig::default()
    });
    let notification = Notification {
        summary: "Session at 91 % and Extra Usage is off".to_owned(),
        body: "Work will stop at 100 % until the window resets at 14:00 (in 1 h 10 min). \
               Turn on Extra Usage from Headroom (Enable Extra Usage, or `headroom extra-usage enable --cap DOLLARS`) to keep working past the limit; any prepaid balance is not used until you do."
            .to_owned(),
        level,
        actions: vec![Action::EnableExtraUsage, Action::Snooze1h, Action::OpenSettings],
    };
    match notifier.deliver(&notification) {
        Ok(delivered) => println!("delivered: {delivered:?}"),
        Err(e) => {
            eprintln!("not delivered: {e}");
            return;
        }
    }
    match clicks.recv_timeout(Duration::from_secs(30)) {
        Ok(click) => println!("clicked: {click:?}"),
        Err(_) => println!("no click within 30 s"),
    }
}
