//! The core's formatters against the table of cases the settings pane's `ui/format.js` is
//! checked against too (`ui/tests/format.test.mjs`): the tray, the notifications and the pane
//! write a percent, an amount, a duration and a clock time the same way.

use headroom_core::report::Zone;
use headroom_core::text;
use serde_json::Value;

fn cases() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ui/format-cases.json");
    let text = std::fs::read_to_string(path).expect("ui/format-cases.json");
    serde_json::from_str(&text).expect("ui/format-cases.json is JSON")
}

fn rows<'a>(cases: &'a Value, name: &str) -> &'a Vec<Value> {
    let rows = cases[name].as_array().expect(name);
    assert!(!rows.is_empty(), "no {name} cases");
    rows
}

#[test]
fn percent_money_and_duration_read_as_the_pane_writes_them() {
    let cases = cases();
    for row in rows(&cases, "percent") {
        assert_eq!(text::percent(row[0].as_f64().unwrap()), row[1], "{row}");
    }
    for row in rows(&cases, "money") {
        let (amount, currency) = (row[0].as_f64().unwrap(), row[1].as_str().unwrap());
        assert_eq!(text::money(amount, currency), row[2], "{row}");
    }
    for row in rows(&cases, "duration") {
        assert_eq!(text::duration(row[0].as_i64().unwrap()), row[1], "{row}");
    }
}

#[test]
fn clock_times_read_as_the_pane_writes_them() {
    let cases = cases();
    for case in rows(&cases, "clock") {
        let zone = Zone::parse(case["zone"].as_str().unwrap()).unwrap();
        let (at, now) = (case["at"].as_i64().unwrap(), case["now"].as_i64().unwrap());
        assert_eq!(text::clock(at, now, zone), case["text"], "{case}");
        assert_eq!(text::at_clock(at, now, zone), case["at_text"], "{case}");
    }
}
