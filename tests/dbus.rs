//! A private D-Bus session bus (a real `dbus-daemon`) and a notification server on it that
//! records every `Notify` call, answers with increasing ids, and can click a button by
//! emitting `ActionInvoked`, like a desktop's server does.
//!
//! The bus has no service directories, so nothing is D-Bus-activated behind the test's back
//! (Debian's dunst is activatable and would otherwise answer in place of the recorder).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const PATH: &str = "/org/freedesktop/Notifications";
pub const INTERFACE: &str = "org.freedesktop.Notifications";

/// A running `dbus-daemon`; killed when dropped.
pub struct Bus {
    child: Child,
    pub address: String,
    _dir: tempfile::TempDir,
    /// Every match rule a client added (`AddMatch`), seen by a monitor connection.
    match_rules: Arc<Mutex<Vec<String>>>,
}

impl Bus {
    pub fn start() -> Bus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("session.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.path().display()
            ),
        )
        .unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1", "--nopidfile"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start dbus-daemon ({e}): install Debian's `dbus` package")
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().to_owned();
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        let match_rules = monitor_match_rules(&address);
        Bus {
            child,
            address,
            _dir: dir,
            match_rules,
        }
    }

    /// Waits until clients of the bus have subscribed `count` times in all to notification
    /// clicks, or panics after `timeout`. A notifier subscribes after `Notify` has returned,
    /// on a thread of its own: a click sent before that is lost, as it would be on a desktop.
    /// notify-rust's waiter adds the rule for `ActionInvoked`, then the one for
    /// `NotificationClosed`, then listens: the second rule is the sign that it listens.
    pub fn wait_for_click_subscribers(&self, count: usize, timeout: Duration) {
        let start = Instant::now();
        loop {
            let rules = self.match_rules.lock().unwrap().clone();
            let subscribed = rules
                .iter()
                .filter(|r| r.contains("NotificationClosed") && r.contains(INTERFACE))
                .count();
            if subscribed >= count {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "waited {timeout:?} for {count} subscriptions to clicks; rules added: {rules:#?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A monitor connection (`BecomeMonitor`) on the bus at `address` that records the rule of
/// every `AddMatch` call, until the bus goes away.
fn monitor_match_rules(address: &str) -> Arc<Mutex<Vec<String>>> {
    use std::future::poll_fn;
    use std::pin::Pin;
    use zbus::export::futures_core::Stream;

    let rules = Arc::new(Mutex::new(Vec::new()));
    let conn = zbus::block_on(zbus::connection::Builder::address(address).build()).unwrap();
    // The stream first: it sees every message that arrives after it exists.
    let mut stream = zbus::MessageStream::from(&conn);
    let add_match = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::MethodCall)
        .interface("org.freedesktop.DBus")
        .member("AddMatch")
        .build()
        .unwrap();
    zbus::block_on(async {
        zbus::fdo::MonitoringProxy::new(&conn)
            .await?
            .become_monitor(&[add_match], 0)
            .await
    })
    .unwrap();
    let seen = rules.clone();
    std::thread::spawn(move || {
        let _conn = conn;
        while let Some(Ok(message)) =
            zbus::block_on(poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)))
        {
            let header = message.header();
            if header.member().is_some_and(|m| m.as_str() == "AddMatch") {
                if let Ok(rule) = message.body().deserialize::<String>() {
                    seen.lock().unwrap().push(rule);
                }
            }
        }
    });
    rules
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `Notify` call as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub id: u32,
    pub app_name: String,
    pub replaces_id: u32,
    pub app_icon: String,
    pub summary: String,
    pub body: String,
    pub actions: Vec<String>,
    pub urgency: Option<u8>,
    pub desktop_entry: Option<String>,
    pub expire_timeout: i32,
}

struct Server {
    log: Arc<Mutex<Vec<Received>>>,
    capabilities: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Server {
    fn get_capabilities(&self) -> Vec<String> {
        self.capabilities.lock().unwrap().clone()
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the D-Bus Notify method's own eight arguments"
    )]
    fn notify(
        &self,
        app_name: String,
        replaces_id: u32,
        app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, zbus::OwnedVariant>,
        expire_timeout: i32,
    ) -> u32 {
        let mut log = self.log.lock().unwrap();
        let id = log.len() as u32 + 1;
        let urgency = hints
            .get("urgency")
            .and_then(|v| u8::try_from(v.try_clone().ok()?).ok());
        let desktop_entry = hints
            .get("desktop-entry")
            .and_then(|v| String::try_from(v.try_clone().ok()?).ok());
        log.push(Received {
            id,
            app_name,
            replaces_id,
            app_icon,
            summary,
            body,
            actions,
            urgency,
            desktop_entry,
            expire_timeout,
        });
        id
    }

    fn close_notification(&self, _id: u32) {}

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "recorder".to_owned(),
            "headroom-tests".to_owned(),
            "1".to_owned(),
            "1.2".to_owned(),
        )
    }
}

/// The recording notification server, owning `org.freedesktop.Notifications` on a bus.
pub struct Recorder {
    conn: zbus::Connection,
    log: Arc<Mutex<Vec<Received>>>,
    capabilities: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    pub fn serve(bus: &Bus, capabilities: &[&str]) -> Recorder {
        let log = Arc::new(Mutex::new(Vec::new()));
        let capabilities = Arc::new(Mutex::new(
            capabilities.iter().map(|c| (*c).to_owned()).collect(),
        ));
        let server = Server {
            log: log.clone(),
            capabilities: capabilities.clone(),
        };
        let conn = zbus::block_on(
            zbus::connection::Builder::address(bus.address.as_str())
                .name(INTERFACE)
                .serve_at(PATH, server)
                .build(),
        )
        .unwrap();
        Recorder {
            conn,
            log,
            capabilities,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    pub fn set_capabilities(&self, capabilities: &[&str]) {
        *self.capabilities.lock().unwrap() = capabilities.iter().map(|c| (*c).to_owned()).collect();
    }

    /// Waits until `count` notifications arrived (or panics after `timeout`).
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= count {
                return got;
            }
            assert!(
                start.elapsed() < timeout,
                "waited {timeout:?} for {count} notifications, got {got:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The user clicks the button `key` on notification `id`.
    pub fn click(&self, id: u32, key: &str) {
        zbus::block_on(self.conn.emit_signal(
            None::<&str>,
            PATH,
            INTERFACE,
            "ActionInvoked",
            &(id, key),
        ))
        .unwrap();
    }
}
