//! Transcripts in the shape Claude Code writes them in late 2026, generated here: today's
//! models, fast-mode responses, requests above a tier threshold, subagent transcripts,
//! `<synthetic>` lines, advisor calls, US-only inference, an unknown model and responses
//! written twice. Per-day
//! tokens must be exact and costs within a cent of figures computed independently below,
//! from the rates of Anthropic's pricing page typed in by hand.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use headroom_core::ingest::{discover, ingest};
use headroom_core::ledger::Ledger;
use headroom_core::pricing::PriceTable;
use headroom_core::report::{self, Period, Query, Zone};

/// $ per million: input, output, 5-minute write, 1-hour write, read; fast multiplier;
/// tier (threshold, input, output, 5m, 1h, read); US-only inference multiplier.
struct Page {
    base: [f64; 5],
    fast: f64,
    tier: Option<(u64, [f64; 5])>,
    us: f64,
}

fn page(model: &str) -> Option<Page> {
    // The pricing page's data residency section: 1.1x on every rate for Opus 4.6 and later
    // models; older ones (Sonnet 4.5 here) refuse `inference_geo`.
    let us = if model == "claude-sonnet-4-5-20250929" {
        1.0
    } else {
        1.1
    };
    let p = |base, fast, tier| {
        Some(Page {
            base,
            fast,
            tier,
            us,
        })
    };
    match model {
        "claude-opus-5-5" => p([4.0, 20.0, 5.0, 8.0, 0.2], 2.0, None),
        "claude-opus-5" => p([5.0, 25.0, 6.25, 10.0, 0.5], 2.0, None),
        "claude-opus-4-6" => p([5.0, 25.0, 6.25, 10.0, 0.5], 6.0, None),
        "claude-sonnet-5-5" => p([2.0, 10.0, 2.5, 4.0, 0.1], 1.0, None),
        "claude-sonnet-4-5-20250929" => p(
            [3.0, 15.0, 3.75, 6.0, 0.3],
            1.0,
            Some((200_000, [6.0, 22.5, 7.5, 12.0, 0.6])),
        ),
        "claude-haiku-5-5" => p(
            [0.1, 0.5, 0.125, 0.2, 0.01],
            1.0,
            Some((100_000, [0.5, 2.5, 0.625, 1.0, 0.05])),
        ),
        "claude-fable-5-1" => p([10.0, 50.0, 12.5, 20.0, 0.25], 1.0, None),
        "claude-mythos-5" => p([10.0, 50.0, 12.5, 20.0, 1.0], 1.0, None),
        _ => None,
    }
}

/// [input, output, 5m, 1h, read]
fn expected_cost(model: &str, fast: bool, t: [u64; 5]) -> f64 {
    expected_cost_in(model, fast, false, t)
}

fn expected_cost_in(model: &str, fast: bool, us_only: bool, t: [u64; 5]) -> f64 {
    let Some(p) = page(model) else { return 0.0 };
    let prompt = t[0] + t[2] + t[3] + t[4];
    let rates = match p.tier {
        Some((threshold, tier)) if prompt > threshold => tier,
        _ => p.base,
    };
    let m = if fast { p.fast } else { 1.0 } * if us_only { p.us } else { 1.0 };
    t.iter()
        .zip(rates)
        .map(|(n, r)| *n as f64 * r * m / 1e6)
        .sum()
}

/// A tiny deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Default)]
struct Day {
    tokens: [u64; 5],
    cost: f64,
}

fn line(id: &str, ts: &str, model: &str, t: [u64; 5], extra: &str) -> String {
    format!(
        r#"{{"type":"assistant","sessionId":"s","version":"2.1.240","timestamp":"{ts}","requestId":"req_{id}","message":{{"id":"msg_{id}","type":"message","role":"assistant","model":"{model}","content":[{{"type":"text","text":"ok"}}],"usage":{{"input_tokens":{},"output_tokens":{},"cache_creation_input_tokens":{},"cache_read_input_tokens":{},"cache_creation":{{"ephemeral_5m_input_tokens":{},"ephemeral_1h_input_tokens":{}}}{extra}}}}}}}"#,
        t[0],
        t[1],
        t[2] + t[3],
        t[4],
        t[2],
        t[3]
    )
}

#[test]
fn costs_of_todays_transcripts_match_anthropics_rates() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("claude");
    let project = root.join("projects/-home-dev-app");
    let subagents = project.join("sess-1/subagents/deep");
    fs::create_dir_all(&subagents).unwrap();
    let models = [
        "claude-opus-5-5",
        "claude-opus-5",
        "claude-opus-4-6",
        "claude-sonnet-5-5",
        "claude-sonnet-4-5-20250929",
        "claude-haiku-5-5",
        "claude-fable-5-1",
        "claude-mythos-5",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    let (mut main, mut sub) = (String::new(), String::new());
    let mut unknown_responses = 0;
    for i in 0..600u64 {
        let day = format!("2026-11-{:02}", 20 + i % 5);
        let ts = format!("{day}T{:02}:{:02}:07.000Z", 1 + i % 22, i % 60);
        let id = format!("{i:05}");
        let model = if i % 97 == 0 {
            "claude-foo-6"
        } else {
            models[rng.below(models.len() as u64) as usize]
        };
        // Some prompts well above 200k (tiers), most below.
        let read = if rng.below(5) == 0 {
            150_000 + rng.below(120_000)
        } else {
            rng.below(90_000)
        };
        let t = [
            1 + rng.below(3_000),
            1 + rng.below(8_000),
            rng.below(20_000),
            rng.below(3) * rng.below(10_000),
            read,
        ];
        let fast = model.starts_with("claude-opus") && rng.below(3) == 0;
        // US-only inference now and then (never on Sonnet 4.5, which refuses it); Claude Code
        // writes "not_available" where the API gave no value.
        let us_only = i % 7 == 0 && model != "claude-sonnet-4-5-20250929";
        let geo = match (us_only, i % 3) {
            (true, _) => "us",
            (false, 0) => "global",
            _ => "not_available",
        };
        let speed = if fast { "fast" } else { "standard" };
        let extra = format!(r#","speed":"{speed}","inference_geo":"{geo}""#);
        let text = line(&id, &ts, model, t, &extra);
        let out = if i % 4 == 0 { &mut sub } else { &mut main };
        writeln!(out, "{text}").unwrap();
        // Claude Code writes a response once per content block; also in both files at times.
        if i % 3 == 0 {
            writeln!(main, "{text}").unwrap();
        }
        if model == "claude-foo-6" {
            unknown_responses += 1;
        }
        let d = days.entry(day.clone()).or_default();
        for (sum, n) in d.tokens.iter_mut().zip(t) {
            *sum += n;
        }
        d.cost += expected_cost_in(model, fast, us_only, t);
        // An advisor call on Opus 5 inside a Sonnet 5.5 response: its own call, its own rates.
        if model == "claude-sonnet-5-5" && i % 2 == 0 {
            let advisor = [9_000, 1_500, 0, 0, 20_000];
            let iterations = format!(
                r#","iterations":[{{"type":"message","input_tokens":{},"output_tokens":{}}},{{"type":"advisor_message","model":"claude-opus-5","input_tokens":9000,"output_tokens":1500,"cache_read_input_tokens":20000,"cache_creation_input_tokens":0}}]"#,
                t[0], t[1]
            );
            // A second response that consulted the advisor once.
            let with = line(&format!("{id}a"), &ts, model, t, &iterations);
            writeln!(main, "{with}").unwrap();
            for (sum, n) in d.tokens.iter_mut().zip(t) {
                *sum += n;
            }
            d.cost += expected_cost(model, false, t);
            for (sum, n) in d.tokens.iter_mut().zip(advisor) {
                *sum += n;
            }
            d.cost += expected_cost("claude-opus-5", false, advisor);
        }
        // Claude Code's own error messages: model <synthetic>, zero usage.
        if i % 50 == 0 {
            let synthetic = line(&format!("{id}s"), &ts, "<synthetic>", [0; 5], "");
            writeln!(main, "{synthetic}").unwrap();
        }
    }
    fs::write(project.join("sess-1.jsonl"), main).unwrap();
    fs::write(subagents.join("agent-a1.jsonl"), sub).unwrap();

    let mut ledger = Ledger::open(&dir.path().join("ledger.sqlite3")).unwrap();
    let files = discover(std::slice::from_ref(&root)).unwrap();
    assert_eq!(files.files.len(), 2, "the subagent transcript is found");
    let prices = PriceTable::embedded();
    let run = ingest(&mut ledger, &files, &prices).unwrap();
    assert_eq!(
        run.unknown_models.iter().collect::<Vec<_>>(),
        ["claude-foo-6"],
        "<synthetic> is not a price warning"
    );

    let q = Query {
        zone: Zone::parse("UTC").unwrap(),
        ..Query::default()
    };
    let (rows, _) = report::periods(&ledger, Period::Day, &q).unwrap();
    assert_eq!(rows.len(), days.len());
    for row in &rows {
        let want = &days[&row.period];
        let t = &row.totals;
        assert_eq!(
            [
                t.input_tokens,
                t.output_tokens,
                t.cache_creation_tokens,
                t.cache_read_tokens
            ],
            [
                want.tokens[0],
                want.tokens[1],
                want.tokens[2] + want.tokens[3],
                want.tokens[4]
            ],
            "{}",
            row.period
        );
        assert!(
            (t.total_cost - want.cost).abs() < 0.01,
            "{}: {} vs {}",
            row.period,
            t.total_cost,
            want.cost
        );
        assert!(!row.models_used.iter().any(|m| m == "<synthetic>"));
    }
    let all_models: Vec<&String> = rows.iter().flat_map(|r| &r.models_used).collect();
    assert!(all_models.iter().any(|m| *m == "claude-opus-4-6-fast"));

    // The responses of the unknown model are recorded as unpriced, with their tokens.
    let unpriced = ledger.unpriced(i64::MIN, i64::MAX).unwrap();
    assert_eq!(unpriced.len(), 1, "{unpriced:?}");
    assert_eq!(unpriced[0].model, "claude-foo-6");
    assert_eq!(unpriced[0].responses, unknown_responses);
    assert!(Path::new(&dir.path().join("ledger.sqlite3")).exists());
}
