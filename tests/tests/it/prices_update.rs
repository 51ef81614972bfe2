//! `headroom prices update` against a loopback server standing in for LiteLLM's raw file: a
//! good file is used and reprices the ledger; a truncated, oversized, non-JSON or implausible
//! one is refused and the table in use stays. And the report footer naming what costs leave
//! out.

use headroom_tests::account::*;
use serde_json::Value;

fn litellm(opus_input_per_token: &str) -> String {
    let mut entries = vec![format!(
        r#""claude-opus-4-6":{{"input_cost_per_token":{opus_input_per_token},"output_cost_per_token":2.5e-05,"litellm_provider":"anthropic","mode":"chat"}}"#
    )];
    for name in [
        "sonnet-9-1",
        "sonnet-9-2",
        "haiku-9-1",
        "haiku-9-2",
        "opus-9-1",
    ] {
        entries.push(format!(
            r#""claude-{name}":{{"input_cost_per_token":1e-06,"output_cost_per_token":5e-06,"litellm_provider":"anthropic"}}"#
        ));
    }
    entries.push(r#""gpt-9":{"input_cost_per_token":0.5}"#.to_owned());
    format!("{{{}}}", entries.join(","))
}

fn write_transcript(home: &Home) {
    let dir = home.claude_dir().join("projects/-home-dev-app");
    std::fs::create_dir_all(&dir).unwrap();
    let line = |id: &str, model: &str| {
        format!(
            r#"{{"type":"assistant","timestamp":"2026-11-20T10:00:00.000Z","requestId":"r{id}","message":{{"id":"m{id}","model":"{model}","usage":{{"input_tokens":1000000,"output_tokens":0}}}}}}"#
        )
    };
    std::fs::write(
        dir.join("s1.jsonl"),
        format!(
            "{}\n{}\n",
            line("1", "claude-opus-4-6"),
            line("2", "claude-foo-6")
        ),
    )
    .unwrap();
}

fn daily_cost(home: &Home) -> f64 {
    let mut c = home.command(None);
    c.args(["daily", "--json"]);
    let out = run(c);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["totals"]["totalCost"].as_f64().unwrap()
}

fn update(home: &Home, from: &str) -> std::process::Output {
    let mut c = home.command(None);
    c.args(["prices", "update", "--from", from]);
    output(c)
}

#[test]
fn a_good_file_is_used_and_a_bad_one_refused() {
    let home = Home::bare();
    write_transcript(&home);
    // Embedded table: Opus 4.6 input is $5 per million; claude-foo-6 is unknown.
    assert!((daily_cost(&home) - 5.0).abs() < 1e-9);

    let server = Server::start(|r, _| match r.path.as_str() {
        "/good.json" => Response::json(200, litellm("1e-05")),
        "/truncated.json" => {
            let full = litellm("1e-05");
            Response::json(200, full[..full.len() / 2].to_owned())
        }
        "/huge.json" => Response::json(200, " ".repeat(33 << 20)),
        "/html" => Response::html(200, "<html>rate limited</html>"),
        "/implausible.json" => Response::json(200, litellm("0.05")),
        "/zero.json" => Response::json(200, litellm("0")),
        _ => Response::not_found(),
    });
    let out = update(&home, &format!("{}/good.json", server.base));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("stored costs recomputed"),
        "{}",
        stdout(&out)
    );
    // The ledger was repriced: $10 per million now.
    assert!((daily_cost(&home) - 10.0).abs() < 1e-9);
    let mut c = home.command(None);
    c.args(["prices", "--json"]);
    let table: Value = serde_json::from_str(&stdout(&run(c))).unwrap();
    assert_eq!(table["source"], format!("{}/good.json", server.base));
    assert_eq!(table["models"]["claude-opus-4-6"]["input"], 10.0);

    for bad in [
        "truncated.json",
        "huge.json",
        "html",
        "implausible.json",
        "zero.json",
        "missing",
    ] {
        let out = update(&home, &format!("{}/{bad}", server.base));
        assert!(!out.status.success(), "{bad} was accepted");
        let message = stderr(&out);
        assert!(message.contains("unchanged"), "{bad}: {message}");
        assert!(
            (daily_cost(&home) - 10.0).abs() < 1e-9,
            "{bad} changed the prices"
        );
    }
}

#[test]
fn reports_say_what_their_costs_leave_out() {
    let home = Home::bare();
    write_transcript(&home);
    let mut c = home.command(None);
    c.args(["daily", "--since", "20261120", "--until", "20261120"]);
    let out = run(c);
    assert!(
        stdout(&out).contains(
            "Costs leave out 1 response of claude-foo-6 with no known price: run `headroom prices update`"
        ),
        "{}",
        stdout(&out)
    );
}

#[test]
fn auto_update_fetches_at_most_daily_and_only_when_set() {
    let home = Home::bare();
    write_transcript(&home);
    let server = Server::fixed("/prices.json", Response::json(200, litellm("1e-05")));
    let daily = |home: &Home| {
        let mut c = home.command(None);
        c.env(
            "HEADROOM_PRICES_URL",
            format!("{}/prices.json", server.base),
        )
        .args(["daily", "--json"]);
        let v: Value = serde_json::from_str(&stdout(&run(c))).unwrap();
        v["totals"]["totalCost"].as_f64().unwrap()
    };
    // Off by default: no request, embedded prices.
    assert!((daily(&home) - 5.0).abs() < 1e-9);
    assert_eq!(server.count("/prices.json"), 0);
    std::fs::create_dir_all(home.headroom_home()).unwrap();
    std::fs::write(
        home.headroom_home().join("settings.json"),
        r#"{"prices":{"auto_update":true}}"#,
    )
    .unwrap();
    assert!((daily(&home) - 10.0).abs() < 1e-9);
    assert!((daily(&home) - 10.0).abs() < 1e-9);
    assert_eq!(server.count("/prices.json"), 1, "at most one fetch a day");
}
