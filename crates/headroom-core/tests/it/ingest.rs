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

/// A row of a response as Claude Code 2.1.3xx writes it: one per content block
/// (`apiBlockIndex`), the earlier ones with a streaming snapshot of the usage. `extra` is put
/// at the end of the line (`,"forkedFrom":{…}`).
fn block(
    session: &str,
    msg: &str,
    index: u32,
    usage: (u64, u64, u64),
    ts: &str,
    extra: &str,
) -> String {
    let (input, output, cache_read) = usage;
    format!(
        r#"{{"parentUuid":null,"isSidechain":false,"cwd":"/home/dev/api","sessionId":"{session}","version":"2.1.312","message":{{"id":"{msg}","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{{"type":"text","text":"block {index}"}}],"stop_reason":null,"usage":{{"input_tokens":{input},"cache_creation_input_tokens":0,"cache_read_input_tokens":{cache_read},"output_tokens":{output},"service_tier":"standard"}}}},"requestId":"req-{msg}","type":"assistant","apiBlockIndex":{index},"uuid":"u-{msg}-{index}","timestamp":"{ts}"{extra}}}"#
    ) + "\n"
}

fn totals(f: &Fixture) -> report::Totals {
    let q = Query {
        zone: Zone::parse("UTC").unwrap(),
        ..Query::default()
    };
    report::periods(&f.ledger, Period::Day, &q).unwrap().1
}

fn days(f: &Fixture) -> Vec<(String, u64, u64)> {
    let q = Query {
        zone: Zone::parse("UTC").unwrap(),
        ..Query::default()
    };
    report::periods(&f.ledger, Period::Day, &q)
        .unwrap()
        .0
        .iter()
        .map(|d| {
            (
                d.period.clone(),
                d.totals.output_tokens,
                d.totals.input_tokens,
            )
        })
        .collect()
}

fn sessions(f: &Fixture) -> Vec<(String, u64)> {
    let q = Query {
        zone: Zone::parse("UTC").unwrap(),
        ..Query::default()
    };
    let mut rows: Vec<(String, u64)> = report::sessions(&f.ledger, &q)
        .unwrap()
        .0
        .iter()
        .map(|s| (s.session_id.clone(), s.totals.output_tokens))
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_response_counts_with_its_final_usage_in_a_cold_read_and_an_incremental_one() {
    // Rows 0 and 1 carry snapshots; row 2, the last, the final usage. The response began
    // before midnight and ended after it: it counts on the day of its first row.
    let rows = [
        block(
            "s1",
            "m1",
            0,
            (10, 1, 5_000),
            "2026-11-20T23:59:59.500Z",
            "",
        ),
        block(
            "s1",
            "m1",
            1,
            (10, 40, 5_000),
            "2026-11-21T00:00:01.000Z",
            "",
        ),
        block(
            "s1",
            "m1",
            2,
            (10, 400, 5_000),
            "2026-11-21T00:00:04.000Z",
            "",
        ),
    ];
    let other = block("s1", "m2", 0, (3, 20, 0), "2026-11-21T08:00:00.000Z", "");

    let mut cold = Fixture::new();
    let path = cold.file("-home-dev-api", "s1");
    cold.append(&path, &(rows.concat() + &other));
    let report = cold.run();
    assert_eq!((report.new_entries, report.updated_entries), (2, 0));

    let mut live = Fixture::new();
    let path = live.file("-home-dev-api", "s1");
    live.append(&path, &rows[0]);
    assert_eq!(live.run().new_entries, 1);
    assert_eq!(live.total_output(), 1);
    live.append(&path, &rows[1]);
    let report = live.run();
    assert_eq!((report.new_entries, report.updated_entries), (0, 1));
    live.append(&path, &(rows[2].clone() + &other));
    let report = live.run();
    assert_eq!((report.new_entries, report.updated_entries), (1, 1));
    // Read again from the start (a rebuild, or the file replaced): nothing changes.
    live.ledger.forget_files().unwrap();
    let report = live.run();
    assert_eq!((report.new_entries, report.updated_entries), (0, 0));

    for f in [&cold, &live] {
        assert_eq!(
            days(f),
            [
                ("2026-11-20".to_owned(), 400, 10),
                ("2026-11-21".to_owned(), 20, 3)
            ]
        );
        assert_eq!(sessions(f), [("s1".to_owned(), 420)]);
    }
    assert_eq!(totals(&cold), totals(&live));
    let cost = totals(&cold).total_cost;
    // Sonnet 4.5: $3 input, $15 output, $0.30 cache read per million tokens.
    let expected = (13.0 * 3.0 + 420.0 * 15.0 + 5_000.0 * 0.3) / 1e6;
    assert!((cost - expected).abs() < 1e-9, "{cost} vs {expected}");
}

#[test]
fn a_smaller_later_row_changes_nothing_and_a_tie_goes_to_the_later_row() {
    let mut f = Fixture::new();
    let path = f.file("-home-dev-api", "s1");
    f.append(
        &path,
        &[
            // The final usage first, a stale snapshot after it.
            block("s1", "m1", 0, (10, 300, 0), TS, ""),
            block("s1", "m1", 1, (10, 3, 0), TS, ""),
            // Equal totals, other counts: the later row's.
            block("s1", "m2", 0, (100, 7, 0), TS, ""),
            block("s1", "m2", 1, (7, 100, 0), TS, ""),
        ]
        .concat(),
    );
    f.run();
    let t = totals(&f);
    assert_eq!((t.input_tokens, t.output_tokens), (17, 400));
    // The same across reads.
    f.append(&path, &block("s1", "m2", 2, (100, 7, 0), TS, ""));
    let report = f.run();
    assert_eq!(report.updated_entries, 1);
    let t = totals(&f);
    assert_eq!((t.input_tokens, t.output_tokens), (110, 307));
}

#[test]
fn a_forks_copies_count_once_under_the_session_they_came_from() {
    let fork = r#","forkedFrom":{"sessionId":"s1","messageUuid":"u-m1-2"}"#;
    let original = [
        block("s1", "m1", 0, (10, 2, 0), TS, ""),
        block("s1", "m1", 1, (10, 250, 0), TS, ""),
    ]
    .concat();
    let forked = [
        block("s2", "m1", 0, (10, 2, 0), TS, fork),
        block("s2", "m1", 1, (10, 250, 0), TS, fork),
        block("s2", "m2", 0, (4, 30, 0), TS, ""),
    ]
    .concat();
    // Both read in one run, the fork alone first, or the original alone first.
    for order in 0..3 {
        let mut f = Fixture::new();
        let (a, b) = (f.file("-home-dev-api", "s1"), f.file("-home-dev-api", "s2"));
        match order {
            0 => {
                f.append(&a, &original);
                f.append(&b, &forked);
            }
            1 => {
                f.append(&b, &forked);
                f.run();
                f.append(&a, &original);
            }
            _ => {
                f.append(&a, &original);
                f.run();
                f.append(&b, &forked);
            }
        }
        f.run();
        assert_eq!(
            sessions(&f),
            [("s1".to_owned(), 250), ("s2".to_owned(), 30)],
            "order {order}"
        );
        assert_eq!(f.total_output(), 280, "order {order}");
    }
}

#[test]
fn cost_state_records_are_neither_counted_nor_bad() {
    let mut f = Fixture::new();
    let path = f.file("-home-dev-api", "s1");
    let text = [
        block("s1", "m1", 0, (10, 25, 0), TS, ""),
        // Claude Code's running cost estimate, as 2.1.3xx writes it, and a variant whose
        // per-model object holds a "usage" key.
        r#"{"type":"cost-state","sessionId":"s1","totalCostUSD":0.0319,"totalAPIDuration":7914,"startTime":1789398960924,"modelUsage":{"claude-haiku-4-5-20251001":{"inputTokens":368,"outputTokens":516,"cacheReadInputTokens":106786,"cacheCreationInputTokens":9149,"webSearchRequests":0,"costUSD":0.0319}},"hasUnknownModelCost":false}"#.to_owned() + "\n",
        r#"{"type":"cost-state","sessionId":"s1","modelUsage":{"claude-haiku-4-5-20251001":{"usage":{"input_tokens":5,"output_tokens":9}}},"message":{"usage":{"input_tokens":5,"output_tokens":9}}}"#.to_owned() + "\n",
    ]
    .concat();
    f.append(&path, &text);
    let report = f.run();
    assert_eq!(report.new_entries, 1);
    assert_eq!(report.bad_line_total(), 0, "{report:?}");
    assert_eq!(f.total_output(), 25);
}

#[test]
fn a_model_name_with_control_characters_or_of_megabytes_is_a_bad_line() {
    let mut f = Fixture::new();
    let path = f.file("-home-dev-api", "s1");
    let good = block("s1", "m1", 0, (10, 25, 0), TS, "");
    let escapes = block("s1", "m2", 0, (10, 25, 0), TS, "").replace(
        "claude-sonnet-4-5-20250929",
        r"claude\u001b]0;pwned\u0007\u001b[2J",
    );
    let bidi = block("s1", "m3", 0, (10, 25, 0), TS, "")
        .replace("claude-sonnet-4-5-20250929", "claude-\u{202E}5-tennos");
    let huge = block("s1", "m4", 0, (10, 25, 0), TS, "")
        .replace("claude-sonnet-4-5-20250929", &"x".repeat(5 << 20));
    f.append(&path, &[good, escapes, bidi, huge].concat());
    let report = f.run();
    assert_eq!(report.new_entries, 1);
    assert_eq!(
        report
            .bad_lines
            .get("usage fields missing or of the wrong type"),
        Some(&3),
        "{report:?}"
    );
    assert_eq!(f.total_output(), 25);
    let q = Query {
        zone: Zone::parse("UTC").unwrap(),
        ..Query::default()
    };
    let (rows, _) = report::periods(&f.ledger, Period::Day, &q).unwrap();
    assert_eq!(rows[0].models_used, ["claude-sonnet-4-5-20250929"]);
}
