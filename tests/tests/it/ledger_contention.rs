//! Several Headroom processes on one ledger, as on a real machine: `headroom watch` outlives a
//! writer that holds the ledger past the busy timeout, `headroom ledger rebuild` refuses to
//! move the files of a ledger another process has open, and processes that open a new ledger
//! together all succeed.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use headroom_core::ledger::Ledger;
use headroom_tests::account::*;

/// A running `headroom` whose stdout and stderr lines arrive on one channel.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(home: &Home, args: &[&str]) -> Running {
        let mut c = home.command(None);
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let (send, lines) = mpsc::channel();
        let pipes: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for (name, pipe) in ["stdout", "stderr"].into_iter().zip(pipes) {
            let send = send.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if send.send(format!("{name}: {line}")).is_err() {
                        break;
                    }
                }
            });
        }
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `text`; panics with what was seen if none comes in time or
    /// the process ends first.
    fn wait_for(&mut self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) if Instant::now() >= deadline => {
                    panic!(
                        "no line with {text:?} in {within:?}; seen: {:#?}",
                        self.seen
                    )
                }
                Err(_) => {
                    if let Some(status) = self.child.try_wait().unwrap() {
                        // Drain what the pipes still hold before reporting.
                        std::thread::sleep(Duration::from_millis(100));
                        self.seen.extend(self.lines.try_iter());
                        panic!(
                            "headroom ended ({status}) before a line with {text:?}; seen: {:#?}",
                            self.seen
                        );
                    }
                }
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ledger_path(home: &Home) -> std::path::PathBuf {
    home.headroom_home().join("ledger.sqlite3")
}

#[test]
fn watch_keeps_watching_while_another_process_holds_the_ledger() {
    let home = Home::bare();
    let mut writer = Ledger::open(&ledger_path(&home)).unwrap();
    let batch = writer.batch().unwrap();
    let mut watch = Running::start(&home, &["watch", "--no-notify"]);
    // The round waits the 5 s busy timeout, then says it will try again, and does not exit.
    watch.wait_for("trying again", Duration::from_secs(60));
    assert!(watch.child.try_wait().unwrap().is_none(), "watch exited");
    drop(batch);
    let line = watch.wait_for("stdout: ", Duration::from_secs(60));
    assert!(line.contains("no usage figures"), "{line}");
    assert!(watch.child.try_wait().unwrap().is_none(), "watch exited");
}

#[test]
fn ledger_rebuild_refuses_while_watch_has_the_ledger_open() {
    let home = Home::bare();
    let mut watch = Running::start(&home, &["watch", "--no-notify"]);
    watch.wait_for("stdout: ", Duration::from_secs(60));

    let mut rebuild = home.command(None);
    rebuild.args(["ledger", "rebuild"]);
    let out = output(rebuild);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("quit it"), "{}", stderr(&out));
    let names: Vec<String> = std::fs::read_dir(home.headroom_home())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("damaged")), "{names:?}");
    assert!(names.contains(&"ledger.sqlite3".to_owned()), "{names:?}");

    // Once the peer is gone, the rebuild runs.
    drop(watch);
    let mut rebuild = home.command(None);
    rebuild.args(["ledger", "rebuild"]);
    let out = run(rebuild);
    assert!(stdout(&out).contains("Ledger sound"), "{}", stdout(&out));
}

#[test]
fn processes_opening_a_new_ledger_at_once_all_succeed() {
    for _ in 0..3 {
        let home = Home::bare();
        let checks: Vec<Child> = (0..6)
            .map(|_| {
                let mut c = home.command(None);
                c.args(["ledger", "check"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                c.spawn().unwrap()
            })
            .collect();
        for check in checks {
            let out = check.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            assert!(stdout(&out).contains("ok, 0 responses"), "{}", stdout(&out));
        }
    }
}
