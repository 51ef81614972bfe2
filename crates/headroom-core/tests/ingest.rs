//! Ingestion against real files and a real SQLite ledger: bad lines, partial lines, files that
//! grow, shrink, are replaced or deleted, and deduplication across files and runs.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

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
    assert!(message.contains("/nowhere/a/projects"), "{message}");
    assert!(message.contains("/nowhere/b/projects"), "{message}");
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
