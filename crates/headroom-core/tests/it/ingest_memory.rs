//! Peak memory of an ingest whatever the input: lines far longer than a reader's buffer, with
//! and without usage, over and under the 64 MiB cap. nextest runs each test in a process of
//! its own, so the process's high-water mark (`VmHWM`) is this test's; under `cargo test`,
//! run it alone (`cargo test -p headroom-core --test it ingest_memory`).

#![cfg(target_os = "linux")]

use std::fs::{self, File};
use std::io::{BufWriter, Write};

use headroom_core::ingest::{discover, ingest};
use headroom_core::ledger::Ledger;
use headroom_core::pricing::PriceTable;

fn peak_rss_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Writes a line of about `len` bytes made of `head`, padding, then `tail`, without building
/// it in memory.
fn write_long(out: &mut impl Write, head: &str, len: usize, tail: &str) {
    out.write_all(head.as_bytes()).unwrap();
    let piece = [b'q'; 1 << 16];
    let mut left = len - head.len() - tail.len();
    while left > 0 {
        let n = left.min(piece.len());
        out.write_all(&piece[..n]).unwrap();
        left -= n;
    }
    out.write_all(tail.as_bytes()).unwrap();
}

#[test]
fn ingest_memory_stays_bounded_with_lines_of_tens_of_mebibytes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects/p");
    fs::create_dir_all(&project).unwrap();
    let response = |id: &str, text: &str| {
        format!(
            r#"{{"cwd":"/w","sessionId":"s","version":"2.0.31","message":{{"id":"{id}","model":"claude-sonnet-4-5-20250929","content":[{{"type":"text","text":"{text}"}}],"usage":{{"input_tokens":3,"output_tokens":7}}}},"requestId":"r-{id}","type":"assistant","timestamp":"2026-11-20T10:00:00.000Z"}}"#
        )
    };
    // Two readers at work: each file holds long lines.
    for name in ["a", "b"] {
        let mut out = BufWriter::new(File::create(project.join(format!("{name}.jsonl"))).unwrap());
        writeln!(out, "{}", response(&format!("{name}1"), "hi")).unwrap();
        // Over the cap.
        write_long(&mut out, r#"{"type":"user","content":""#, 80 << 20, "\"}\n");
        // Under the cap, with usage: parsed from the file, not from memory.
        let text_head = response(&format!("{name}2"), "\u{1}");
        let (head, tail) = text_head.split_once('\u{1}').unwrap();
        write_long(&mut out, head, 40 << 20, &format!("{tail}\n"));
        // Under the cap, no usage.
        write_long(&mut out, r#"{"type":"user","content":""#, 30 << 20, "\"}\n");
        writeln!(out, "{}", response(&format!("{name}3"), "bye")).unwrap();
        out.flush().unwrap();
    }
    let before = peak_rss_kib();
    let mut ledger = Ledger::open(&dir.path().join("ledger.sqlite3")).unwrap();
    let files = discover(std::slice::from_ref(&root)).unwrap();
    let report = ingest(&mut ledger, &files, &PriceTable::embedded()).unwrap();
    assert_eq!(report.new_entries, 6, "{report:?}");
    assert_eq!(report.bad_line_total(), 2, "{report:?}");
    let peak = peak_rss_kib();
    assert!(
        peak < 64 << 10,
        "peak resident memory {peak} KiB (before ingest: {before} KiB)"
    );
}
