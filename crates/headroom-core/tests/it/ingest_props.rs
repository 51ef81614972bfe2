//! Property: however a transcript grows (appends cut at any byte, ingested at any moment,
//! with bad lines in between), the ledger ends with exactly what one ingest of the finished
//! file gives.

use std::fs::{self, OpenOptions};
use std::io::Write;

use headroom_core::ingest::{discover, ingest};
use headroom_core::ledger::Ledger;
use headroom_core::pricing::PriceTable;
use headroom_core::report::{self, Period, Query, Totals, Zone};
use proptest::prelude::*;

fn line(i: u32, copy: u32, output: u32) -> String {
    format!(
        r#"{{"cwd":"/w","sessionId":"s","message":{{"id":"msg_{i}","model":"claude-haiku-4-5-20251001","content":[{{"type":"text","text":"block {copy} ünïcödé \"quoted\""}}],"usage":{{"input_tokens":{i},"output_tokens":{output},"cache_read_input_tokens":7}}}},"requestId":"req_{i}","type":"assistant","timestamp":"2026-11-{day:02}T{hour:02}:{min:02}:00.000Z"}}"#,
        day = 1 + i % 27,
        hour = i % 24,
        min = i % 60
    ) + "\n"
}

fn totals(ledger: &Ledger) -> Totals {
    let q = Query {
        zone: Zone::parse("UTC").unwrap(),
        ..Query::default()
    };
    report::periods(ledger, Period::Day, &q).unwrap().1
}

fn transcript(lines: &[(u32, u32, u32, bool)]) -> String {
    lines
        .iter()
        .map(|&(i, copies, output, garbage)| {
            let mut text: String = (0..copies).map(|c| line(i, c, output)).collect();
            if garbage {
                text.push_str("{\"truncated\": tr\n\n");
            }
            text
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn growing_a_file_in_any_pieces_counts_the_same(
        lines in prop::collection::vec((0u32..40, 1u32..3, 0u32..500, any::<bool>()), 1..25),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let text = transcript(&lines);
        let bytes = text.as_bytes();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.push(bytes.len());
        points.sort_unstable();

        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("claude");
        let project = root.join("projects/p");
        fs::create_dir_all(&project).unwrap();
        let path = project.join("s.jsonl");
        fs::write(&path, b"").unwrap();
        let prices = PriceTable::embedded();
        let mut grown = Ledger::open(&dir.path().join("grown.sqlite3")).unwrap();
        let mut written = 0;
        for point in points {
            let mut file = OpenOptions::new().append(true).open(&path).unwrap();
            file.write_all(&bytes[written..point]).unwrap();
            drop(file);
            written = point;
            let files = discover(std::slice::from_ref(&root)).unwrap();
            ingest(&mut grown, &files, &prices).unwrap();
        }

        let mut whole = Ledger::open(&dir.path().join("whole.sqlite3")).unwrap();
        let files = discover(std::slice::from_ref(&root)).unwrap();
        ingest(&mut whole, &files, &prices).unwrap();
        let (a, b) = (totals(&grown), totals(&whole));
        prop_assert_eq!(a.input_tokens, b.input_tokens);
        prop_assert_eq!(a.output_tokens, b.output_tokens);
        prop_assert_eq!(a.total_tokens, b.total_tokens);
        prop_assert!((a.total_cost - b.total_cost).abs() < 1e-9);
        prop_assert_eq!(grown.entry_count().unwrap(), whole.entry_count().unwrap());
    }
}
