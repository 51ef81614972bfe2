//! `headroom-notify` over a real D-Bus session bus, against a recording notification server:
//! what arrives for each level, buttons only where the server advertises `actions`, markup
//! escaped only where it is rendered, a click coming back, and no server as a typed error.
//!
//! One test function: the notifier finds the bus through the process environment
//! (`DBUS_SESSION_BUS_ADDRESS`), which is shared by every test in a binary.

use std::time::Duration;

use headroom_core::alerts::{Action, Level, Notification};
use headroom_notify::{Clicked, Notifier, NotifierConfig, NotifyError};
use headroom_tests::dbus::{Bus, Recorder};

fn notification(level: Level, body: &str) -> Notification {
    Notification {
        summary: "Session at 91 % and Extra Usage is off".to_owned(),
        body: body.to_owned(),
        level,
        actions: vec![
            Action::EnableExtraUsage,
            Action::Snooze1h,
            Action::OpenSettings,
        ],
    }
}

#[test]
fn notifications_over_a_real_session_bus() {
    if headroom_tests::ran_in_own_process("notify_dbus::notifications_over_a_real_session_bus") {
        return;
    }
    let bus = Bus::start();
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    let (notifier, clicks) = Notifier::new(NotifierConfig {
        icon: Some("/tmp/headroom-icon.png".to_owned()),
        ..NotifierConfig::default()
    });

    // Nobody serves notifications yet: a typed error, no panic, no hang.
    match notifier.deliver(&notification(Level::Info, "x")) {
        Err(NotifyError::NoServer(detail)) => {
            assert!(detail.contains("ServiceUnknown"), "{detail}")
        }
        other => panic!("expected NoServer, got {other:?}"),
    }

    // A plain server: the same words, no buttons.
    let recorder = Recorder::serve(&bus, &["body"]);
    let d = notifier
        .deliver(&notification(Level::Warning, "Work <b>stops</b> & waits"))
        .unwrap();
    assert!(!d.with_actions);
    let got = recorder.received();
    assert_eq!(got.len(), 1);
    let n = &got[0];
    assert_eq!(d.id, n.id);
    assert_eq!(n.app_name, "Headroom");
    assert_eq!(n.app_icon, "/tmp/headroom-icon.png");
    assert_eq!(n.summary, "Session at 91 % and Extra Usage is off");
    assert_eq!(
        n.body, "Work <b>stops</b> & waits",
        "no markup support: sent as is"
    );
    assert!(n.actions.is_empty());
    assert_eq!(n.urgency, Some(1));
    assert_eq!(n.desktop_entry.as_deref(), Some("headroom"));
    assert_eq!(
        n.expire_timeout, -1,
        "server default timeout below critical"
    );

    // A full server: buttons, escaped markup, critical stays until dismissed.
    recorder.set_capabilities(&["body", "body-markup", "actions"]);
    let d = notifier
        .deliver(&notification(Level::Critical, "Work <b>stops</b> & waits"))
        .unwrap();
    assert!(d.with_actions);
    let n = &recorder.received()[1];
    assert_eq!(n.body, "Work &lt;b&gt;stops&lt;/b&gt; &amp; waits");
    assert_eq!(
        n.actions,
        [
            "enable-extra-usage",
            "Enable Extra Usage",
            "snooze-1h",
            "Snooze 1 h",
            "open-settings",
            "Open settings"
        ]
    );
    assert_eq!(n.urgency, Some(2));
    assert_eq!(n.expire_timeout, 0);
    let info = notifier
        .deliver(&notification(Level::Info, "fine"))
        .unwrap();
    assert_eq!(recorder.received()[2].urgency, Some(0));

    // The user clicks "Snooze 1 h" on the critical one. A key Headroom never sent (on the
    // other one) is ignored. (A notification answers one click: servers close it after.)
    // The waiters subscribe after show(), on threads of their own: one per notification
    // with buttons.
    let waiters = [d.with_actions, info.with_actions]
        .into_iter()
        .filter(|&w| w)
        .count();
    bus.wait_for_click_subscribers(waiters, Duration::from_secs(10));
    recorder.click(info.id, "something-else");
    assert!(clicks.recv_timeout(Duration::from_millis(500)).is_err());
    recorder.click(d.id, "snooze-1h");
    let click = clicks.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(
        click,
        Clicked {
            notification_id: d.id,
            action: Action::Snooze1h
        }
    );

    // A notifier built without buttons (`watch --once`) never sends them.
    let (plain, _) = Notifier::new(NotifierConfig {
        actions: false,
        ..NotifierConfig::default()
    });
    assert!(
        !plain
            .deliver(&notification(Level::Critical, "x"))
            .unwrap()
            .with_actions
    );
    assert!(recorder.received()[3].actions.is_empty());
}
