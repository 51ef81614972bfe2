//! Ingestion against real files and a real SQLite ledger: bad lines, partial lines, files that
//! grow, shrink, are replaced or deleted, and deduplication across files and runs.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
// For the Unix-only cases (FIFOs, devices, links, loops) and their helpers.
#[cfg(unix)]
use std::time::Duration;

#[cfg(unix)]
use headroom_core::ingest::SkipReason;
use headroom_core::ingest::{discover, ingest, IngestError, IngestReport};
use headroom_core::ledger::Ledger;
use headroom_core::pricing::PriceTable;
use headroom_core::report::{self, Period, Query, Zone};

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    ledger: Ledger,
    prices: PriceTable,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("claude");
        fs::create_dir_all(root.join("projects")).unwrap();
        let ledger = Ledger::open(&dir.path().join("state/ledger.sqlite3")).unwrap();
        Fixture {
            _dir: dir,
            root,
            ledger,
            prices: PriceTable::embedded(),
        }
    }

    fn file(&self, project: &str, session: &str) -> PathBuf {
        let dir = self.root.join("projects").join(project);
        fs::create_dir_all(&dir).unwrap();
        dir.join(format!("{session}.jsonl"))
    }

    fn append(&self, path: &Path, text: &str) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn run(&mut self) -> IngestReport {
        let files = discover(std::slice::from_ref(&self.root)).unwrap();
        ingest(&mut self.ledger, &files, &self.prices).unwrap()
    }

    fn total_output(&self) -> u64 {
        let q = Query {
            zone: Zone::parse("UTC").unwrap(),
            ..Query::default()
        };
        report::periods(&self.ledger, Period::Day, &q)
            .unwrap()
            .1
            .output_tokens
    }
}

/// An assistant line as Claude Code writes it.
fn line(msg: &str, req: &str, output: u64, ts: &str) -> String {
    format!(
        r#"{{"parentUuid":null,"isSidechain":false,"cwd":"/home/dev/api","sessionId":"s","version":"2.0.31","message":{{"id":"{msg}","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{{"type":"text","text":"hi"}}],"usage":{{"input_tokens":3,"cache_creation_input_tokens":0,"cache_read_input_tokens":100,"output_tokens":{output}}}}},"requestId":"{req}","type":"assistant","uuid":"u","timestamp":"{ts}"}}"#
    ) + "\n"
}

const TS: &str = "2026-11-20T10:00:00.000Z";

#[test]
fn each_response_counts_once_across_blocks_files_and_runs() {
    let mut f = Fixture::new();
    let a = f.file("-home-dev-api", "s1");
    // One response written as two content blocks, plus another response.
    f.append(
        &a,
        &(line("m1", "r1", 10, TS) + &line("m1", "r1", 10, TS) + &line("m2", "r2", 5, TS)),
    );
    // A resumed session copies an old response into another file.
    let b = f.file("-home-dev-api", "s2");
    f.append(&b, &line("m1", "r1", 10, TS));
    let report = f.run();
    assert_eq!(report.new_entries, 2);
    assert_eq!(f.total_output(), 15);
    // Nothing new: nothing read, same totals.
    let again = f.run();
    assert_eq!((again.files_read, again.new_entries), (0, 0));
    assert_eq!(f.total_output(), 15);
}

#[test]
fn every_kind_of_bad_line_is_skipped_and_counted() {
    let mut f = Fixture::new();
    let path = f.file("p", "s");
    let good = line("m1", "r1", 10, TS);
    let wrong_type =
        line("m2", "r2", 7, TS).replace(r#""output_tokens":7"#, r#""output_tokens":"many""#);
    let numeric_ts = line("m3", "r3", 7, TS).replace(&format!("\"{TS}\""), "12345");
    let text = [
        good.as_str(),
        &good[..good.len() / 2],
        "\n",
        "\u{0}garbage fn let mut\n",
        "\n",
        wrong_type.as_str(),
        numeric_ts.as_str(),
        "{\"type\":\"summary\",\"summary\":\"x\",\"leafUuid\":\"y\"}\n",
        "{\"unknown\":{\"fields\":[1,2]},\"type\":\"assistant\"}\n",
    ]
    .concat();
    f.append(&path, &text);
    let report = f.run();
    assert_eq!(report.new_entries, 1);
    assert_eq!(f.total_output(), 10);
    // truncated + garbage = not JSON; one empty line (the other "\n" ends the truncated one);
    // wrong type + numeric timestamp = bad fields.
    assert_eq!(
        report.bad_lines.get("not valid JSON"),
        Some(&2),
        "{report:?}"
    );
    assert_eq!(report.bad_lines.get("empty line"), Some(&1), "{report:?}");
    assert_eq!(
        report
            .bad_lines
            .get("usage fields missing or of the wrong type"),
        Some(&2)
    );
}

#[test]
fn a_bad_copy_does_not_claim_the_key_of_a_good_one() {
    let mut f = Fixture::new();
    let path = f.file("p", "s");
    let bad =
        line("m1", "r1", 10, TS).replace(r#""output_tokens":10"#, r#""output_tokens":"many""#);
    f.append(&path, &(bad + &line("m1", "r1", 10, TS)));
    assert_eq!(f.run().new_entries, 1);
    assert_eq!(f.total_output(), 10);
}

#[test]
fn a_partial_last_line_is_read_once_its_newline_arrives() {
    let mut f = Fixture::new();
    let path = f.file("p", "s");
    let whole = line("m2", "r2", 7, TS);
    let (head, tail) = whole.split_at(whole.len() / 2);
    f.append(&path, &(line("m1", "r1", 10, TS) + head));
    let report = f.run();
    assert_eq!(report.new_entries, 1);
    assert_eq!(
        report.bad_line_total(),
        0,
        "a line being written is not bad"
    );
    assert_eq!(f.total_output(), 10);
    f.append(&path, tail);
    assert_eq!(f.run().new_entries, 1);
    assert_eq!(f.total_output(), 17);
    // A complete last line without its newline counts now, and not again when it ends.
    f.append(&path, line("m3", "r3", 1, TS).trim_end());
    f.run();
    assert_eq!(f.total_output(), 18);
    f.append(&path, "\n");
    f.run();
    assert_eq!(f.total_output(), 18);
}

#[test]
fn appended_lines_are_read_without_rereading_the_file() {
    let mut f = Fixture::new();
    let path = f.file("p", "s");
    f.append(&path, &line("m1", "r1", 10, TS));
    f.run();
    let size_before = fs::metadata(&path).unwrap().len();
    let appended = line("m2", "r2", 5, TS);
    f.append(&path, &appended);
    let report = f.run();
    assert_eq!(report.bytes_read, appended.len() as u64);
    assert!(report.bytes_read < size_before + appended.len() as u64);
    assert_eq!(f.total_output(), 15);
}

#[test]
fn shrunk_and_replaced_files_are_read_again_without_double_counting() {
    let mut f = Fixture::new();
    let path = f.file("p", "s");
    f.append(
        &path,
        &(line("m1", "r1", 10, TS) + &line("m2", "r2", 5, TS)),
    );
    f.run();
    // Shrunk: rewritten shorter with one new response.
    fs::write(&path, line("m3", "r3", 1, TS)).unwrap();
    let report = f.run();
    assert_eq!(report.new_entries, 1);
    assert_eq!(f.total_output(), 16);
    // Replaced by another file (new inode) of greater size holding old and new responses.
    let tmp = path.with_extension("tmp");
    fs::write(
        &tmp,
        line("m1", "r1", 10, TS) + &line("m3", "r3", 1, TS) + &line("m4", "r4", 2, TS),
    )
    .unwrap();
    fs::rename(&tmp, &path).unwrap();
    assert_eq!(f.run().new_entries, 1);
    assert_eq!(f.total_output(), 18);
    // Rewritten in place (same inode) with other first bytes and a larger size.
    let mut text = line("m5", "r5", 100, TS);
    text.push_str(&line("m6", "r6", 100, TS));
    text.push_str(&line("m7", "r7", 100, TS));
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert_eq!(f.run().new_entries, 3);
    assert_eq!(f.total_output(), 318);
}

#[test]
fn history_stays_when_transcripts_are_deleted() {
    let mut f = Fixture::new();
    let path = f.file("p", "s");
    f.append(&path, &line("m1", "r1", 10, TS));
    f.run();
    fs::remove_file(&path).unwrap();
    f.run();
    assert_eq!(f.total_output(), 10);
}

#[test]
fn an_unreadable_file_is_named_and_the_rest_still_count() {
    let mut f = Fixture::new();
    f.append(&f.file("p", "good"), &line("m1", "r1", 10, TS));
    // A folder named like a transcript cannot be read as a file (permissions don't stop root).
    let dir = f.root.join("projects/p/broken.jsonl");
    fs::create_dir_all(dir.join("x")).unwrap();
    f.append(&dir.join("x/inner.jsonl"), &line("m2", "r2", 5, TS));
    // A dangling symlink is listed but cannot be opened.
    #[cfg(unix)]
    std::os::unix::fs::symlink("/nonexistent/file", f.root.join("projects/p/gone.jsonl")).unwrap();
    #[cfg_attr(
        not(unix),
        expect(unused_variables, reason = "only the Unix link is looked for in it")
    )]
    let report = f.run();
    assert_eq!(f.total_output(), 15);
    #[cfg(unix)]
    assert!(
        report
            .unreadable
            .iter()
            .any(|(p, _)| p.ends_with("gone.jsonl")),
        "{report:?}"
    );
}

#[test]
fn no_transcript_folder_names_the_places_looked_at() {
    let err = discover(&[PathBuf::from("/nowhere/a"), PathBuf::from("/nowhere/b")]).unwrap_err();
    assert!(matches!(err, IngestError::NoTranscripts { .. }));
    let message = err.to_string();
    // Joined as discovery joins them (a `\` before `projects` on Windows).
    for root in ["/nowhere/a", "/nowhere/b"] {
        let looked = PathBuf::from(root).join("projects");
        assert!(message.contains(&looked.display().to_string()), "{message}");
    }
}

#[test]
fn sessions_and_projects_come_from_the_path() {
    let mut f = Fixture::new();
    f.append(&f.file("-home-dev-api", "abc"), &line("m1", "r1", 10, TS));
    let sub = f.root.join("projects/-home-dev-api/abc/subagents");
    fs::create_dir_all(&sub).unwrap();
    f.append(&sub.join("agent-1.jsonl"), &line("m2", "r2", 5, TS));
    f.run();
    let (sessions, totals) = report::sessions(&f.ledger, &Query::default()).unwrap();
    assert_eq!(sessions.len(), 1, "a subagent belongs to its session");
    assert_eq!(sessions[0].session_id, "abc");
    assert_eq!(sessions[0].project_path, "-home-dev-api");
    assert_eq!(sessions[0].cwd.as_deref(), Some("/home/dev/api"));
    assert_eq!(totals.output_tokens, 15);
}

#[cfg(unix)]
/// Runs `work` on another thread and fails the test if it takes longer than `limit`: a hang
/// (a FIFO opened for reading, `/dev/zero` read to its end) fails instead of blocking CI.
fn within<T: Send + 'static>(limit: Duration, work: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(work());
    });
    match receiver.recv_timeout(limit) {
        Ok(value) => value,
        Err(_) => panic!("did not finish within {limit:?}"),
    }
}

#[cfg(unix)]
/// A fixture's ingest run under a time limit (the fixture comes back with the report).
fn run_within(f: Fixture, limit: Duration) -> (Fixture, IngestReport) {
    within(limit, move || {
        let mut f = f;
        let report = f.run();
        (f, report)
    })
}

#[cfg(unix)]
fn skipped_reason(report: &IngestReport, name: &str) -> Option<SkipReason> {
    let found: Vec<_> = report
        .skipped
        .iter()
        .filter(|s| s.path.file_name().is_some_and(|n| n == name))
        .collect();
    assert!(found.len() <= 1, "{name} named once: {report:?}");
    found.first().map(|s| s.reason.clone())
}

#[cfg(unix)]
#[test]
fn a_fifo_named_like_a_transcript_is_skipped_not_waited_for() {
    let f = Fixture::new();
    f.append(&f.file("p", "good"), &line("m1", "r1", 10, TS));
    let fifo = f.root.join("projects/p/pipe.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Also reached through a symlink.
    std::os::unix::fs::symlink(&fifo, f.root.join("projects/p/to-pipe.jsonl")).unwrap();
    let (f, report) = run_within(f, Duration::from_secs(20));
    assert_eq!(f.total_output(), 10);
    for name in ["pipe.jsonl", "to-pipe.jsonl"] {
        assert_eq!(
            skipped_reason(&report, name),
            Some(SkipReason::NotRegular { kind: "a FIFO" }),
            "{report:?}"
        );
    }
    assert!(report.unreadable.is_empty(), "{report:?}");
}

#[cfg(unix)]
#[test]
fn symlinks_to_devices_are_skipped_not_read() {
    let f = Fixture::new();
    f.append(&f.file("p", "good"), &line("m1", "r1", 10, TS));
    // `/dev/zero` never reaches end of file; `/dev/null` is a device too.
    for (name, target) in [("zero.jsonl", "/dev/zero"), ("null.jsonl", "/dev/null")] {
        std::os::unix::fs::symlink(target, f.root.join("projects/p").join(name)).unwrap();
    }
    let (f, report) = run_within(f, Duration::from_secs(20));
    assert_eq!(f.total_output(), 10);
    for name in ["zero.jsonl", "null.jsonl"] {
        assert_eq!(
            skipped_reason(&report, name),
            Some(SkipReason::NotRegular {
                kind: "a character device"
            }),
            "{report:?}"
        );
    }
    assert_eq!(report.files_read, 1, "{report:?}");
    let message = report.skipped[0].reason.to_string();
    assert_eq!(message, "a character device, not a regular file");
}

/// A regular file that reports size 0 but has content (as `/proc` files do): nothing past
/// the size measured at stat time is read.
#[cfg(target_os = "linux")]
#[test]
fn nothing_past_the_size_measured_at_stat_time_is_read() {
    let f = Fixture::new();
    std::os::unix::fs::symlink("/proc/self/status", f.root.join("projects/proc.jsonl")).unwrap();
    std::fs::create_dir_all(f.root.join("projects/p")).unwrap();
    std::os::unix::fs::symlink("/proc/self/status", f.root.join("projects/p/status.jsonl"))
        .unwrap();
    let (_f, report) = run_within(f, Duration::from_secs(20));
    assert_eq!(report.bytes_read, 0, "{report:?}");
    assert_eq!(report.bad_line_total(), 0, "{report:?}");
}

#[cfg(unix)]
#[test]
fn symlink_loops_end_and_are_named() {
    let f = Fixture::new();
    f.append(&f.file("p", "good"), &line("m1", "r1", 10, TS));
    let p = f.root.join("projects/p");
    // A folder that contains itself, one that contains its grandparent, and a file chain.
    std::os::unix::fs::symlink(".", p.join("again")).unwrap();
    fs::create_dir_all(p.join("deep")).unwrap();
    std::os::unix::fs::symlink("../..", p.join("deep/up")).unwrap();
    std::os::unix::fs::symlink("b.jsonl", p.join("a.jsonl")).unwrap();
    std::os::unix::fs::symlink("a.jsonl", p.join("b.jsonl")).unwrap();
    let (f, report) = run_within(f, Duration::from_secs(20));
    assert_eq!(f.total_output(), 10);
    for name in ["again", "up", "a.jsonl", "b.jsonl"] {
        assert_eq!(
            skipped_reason(&report, name),
            Some(SkipReason::Loop),
            "{report:?}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_symlinked_folder_of_real_transcripts_is_counted() {
    let f = Fixture::new();
    let elsewhere = f.root.parent().unwrap().join("elsewhere/-home-dev-web");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::write(elsewhere.join("s.jsonl"), line("m1", "r1", 10, TS)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, f.root.join("projects/-home-dev-web")).unwrap();
    let (f, report) = run_within(f, Duration::from_secs(20));
    assert_eq!(f.total_output(), 10, "{report:?}");
    let (sessions, _) = report::sessions(&f.ledger, &Query::default()).unwrap();
    assert_eq!(sessions[0].project_path, "-home-dev-web");
    assert!(report.skipped.is_empty(), "{report:?}");
}

/// Responses without a message id are keyed by file and offset: reading one file through two
/// paths would count them twice.
#[cfg(unix)]
#[test]
fn a_file_reached_through_two_roots_or_a_symlink_is_read_once() {
    let f = Fixture::new();
    let keyless = line("m1", "r1", 10, TS).replace(r#""id":"m1","#, "");
    f.append(&f.file("p", "s"), &keyless);
    // The same root twice, the root through a symlink, and the file through a symlink.
    let alias = f.root.parent().unwrap().join("alias");
    std::os::unix::fs::symlink(&f.root, &alias).unwrap();
    fs::create_dir_all(f.root.join("projects/q")).unwrap();
    std::os::unix::fs::symlink("../p/s.jsonl", f.root.join("projects/q/s.jsonl")).unwrap();
    let roots = vec![f.root.clone(), f.root.clone(), alias];
    let (f, report) = within(Duration::from_secs(20), move || {
        let mut f = f;
        let files = discover(&roots).unwrap();
        let report = ingest(&mut f.ledger, &files, &f.prices).unwrap();
        (f, report)
    });
    assert_eq!(f.total_output(), 10, "{report:?}");
    assert_eq!(report.files_read, 1, "{report:?}");
    assert!(
        report.skipped.iter().all(|s| !s.is_problem()),
        "reading a file once is no problem to report: {report:?}"
    );
}

fn offset_of(f: &Fixture, path: &Path) -> u64 {
    f.ledger.file_states().unwrap()[path.to_string_lossy().as_ref()].offset
}

/// A line of `len` bytes that is a valid JSON object with no usage.
fn long_user_line(len: usize) -> String {
    let head = r#"{"type":"user","message":{"role":"user","content":""#;
    let tail = "\"}}\n";
    format!("{head}{}{tail}", "y".repeat(len - head.len() - tail.len()))
}

#[test]
fn a_line_over_the_cap_is_skipped_whole_and_the_next_line_counts() {
    let mut f = Fixture::new();
    let path = f.file("p", "s");
    let first = line("m1", "r1", 10, TS);
    f.append(&path, &first);
    // 65 MiB, still being written: no newline yet.
    let long = long_user_line(65 << 20);
    f.append(&path, &long[..long.len() - 1]);
    let report = f.run();
    assert_eq!(f.total_output(), 10);
    assert_eq!(report.bad_line_total(), 0, "not judged until complete");
    assert_eq!(
        offset_of(&f, &path),
        first.len() as u64,
        "the offset stays at the start of the unfinished line"
    );
    f.append(&path, "\n");
    f.append(&path, &line("m2", "r2", 5, TS));
    let report = f.run();
    assert_eq!(f.total_output(), 15);
    assert_eq!(report.bad_line_total(), 1, "{report:?}");
    assert_eq!(
        report.bad_lines.get("line longer than 64 MiB"),
        Some(&1),
        "{report:?}"
    );
    assert_eq!(
        offset_of(&f, &path),
        fs::metadata(&path).unwrap().len(),
        "the offset is past the last newline"
    );
    assert_eq!(f.ledger.skipped_lines().unwrap(), 1);
}

/// Lines longer than a reader's buffer (1 MiB) but under the cap are judged like any other.
#[test]
fn lines_longer_than_the_buffer_are_still_counted_and_checked() {
    let mut f = Fixture::new();
    let path = f.file("p", "s");
    let pad = "z".repeat(3 << 20);
    let big_response =
        line("m1", "r1", 10, TS).replace(r#""text":"hi""#, &format!(r#""text":"{pad}""#));
    f.append(&path, &big_response);
    f.append(&path, &long_user_line(3 << 20));
    f.append(&path, &format!("not json {pad}\n"));
    f.append(&path, &format!("{{\"usage\": {pad}\n"));
    f.append(&path, &line("m2", "r2", 5, TS));
    let report = f.run();
    assert_eq!(f.total_output(), 15, "{report:?}");
    assert_eq!(
        report.bad_lines.get("not valid JSON"),
        Some(&2),
        "{report:?}"
    );
    assert_eq!(report.bad_line_total(), 2, "{report:?}");
    assert_eq!(offset_of(&f, &path), fs::metadata(&path).unwrap().len());
}
