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

/// `litellm("1e-05")` with `extra` members in the Opus 4.6 entry.
fn litellm_with(extra: &str) -> String {
    litellm("1e-05").replacen(
        r#""claude-opus-4-6":{"#,
        &format!(r#""claude-opus-4-6":{{{extra},"#),
        1,
    )
}

/// Audit N8, N11: every bad file is refused and the table in use stays, whatever is wrong:
/// a negative long-context cache rate, an infinite one, 1e-300, half a tier, a 30 MiB bomb,
/// a redirect to another host.
#[test]
fn hostile_price_files_are_refused_and_the_old_table_stays() {
    let home = Home::bare();
    write_transcript(&home);
    let good = Server::fixed("/good.json", Response::json(200, litellm("1e-05")));
    let elsewhere = good.base.replace("127.0.0.1", "localhost");
    let tier = r#""input_cost_per_token_above_200k_tokens":2e-05,"output_cost_per_token_above_200k_tokens":5e-05"#;
    let bomb = format!(r#"{{"x":[{}0]}}"#, "0,".repeat(15 << 20));
    let server = Server::start(move |r, _| match r.path.as_str() {
        "/good.json" => Response::json(200, litellm("1e-05")),
        "/negative.json" => Response::json(
            200,
            litellm_with(&format!(
                r#"{tier},"cache_read_input_token_cost_above_200k_tokens":-0.001"#
            )),
        ),
        "/infinite.json" => Response::json(
            200,
            litellm_with(&format!(
                r#"{tier},"cache_creation_input_token_cost_above_200k_tokens":1e999"#
            )),
        ),
        "/tiny.json" => {
            Response::json(200, litellm_with(r#""cache_read_input_token_cost":1e-300"#))
        }
        "/half-tier.json" => Response::json(
            200,
            litellm_with(r#""input_cost_per_token_above_200k_tokens":2e-05"#),
        ),
        "/bomb.json" => Response::json(200, bomb.clone()),
        "/same-host" => Response::json(302, "").with_header("location", "/good.json"),
        "/other-host" => {
            Response::json(302, "").with_header("location", &format!("{elsewhere}/good.json"))
        }
        _ => Response::not_found(),
    });
    // A redirect on the same host is followed.
    let out = update(&home, &format!("{}/same-host", server.base));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!((daily_cost(&home) - 10.0).abs() < 1e-9);
    for bad in [
        "negative.json",
        "infinite.json",
        "tiny.json",
        "half-tier.json",
        "bomb.json",
        "other-host",
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
    assert_eq!(good.count("/good.json"), 0, "the other host was asked");
    // Plain http off loopback is refused before any request.
    let out = update(&home, "http://example.invalid/prices.json");
    assert!(
        stderr(&out).contains("only on this machine"),
        "{}",
        stderr(&out)
    );
}

/// Issue 25: a model the table does not know, of a family it knows, is priced at the
/// family's newest rates and said to be estimated, in the table and in the JSON.
#[test]
fn a_new_fable_is_priced_as_an_estimate_and_said_so() {
    let home = Home::bare();
    let dir = home.claude_dir().join("projects/-home-dev-app");
    std::fs::create_dir_all(&dir).unwrap();
    let line = |id: &str, model: &str, usage: &str| {
        format!(
            r#"{{"type":"assistant","timestamp":"2026-11-20T10:00:00.000Z","requestId":"r{id}","message":{{"id":"m{id}","model":"{model}","usage":{{{usage}}}}}}}"#
        )
    };
    // Opus 4.6: 1M input at $5. Fable 5.3 (unknown): 1M input at Fable 5.2's $8. Fable 5.2
    // in fast mode, US-only: 100k output at $40 = $4, x2 fast = $8, x1.1 US-only = $8.80.
    std::fs::write(
        dir.join("s1.jsonl"),
        [
            line(
                "1",
                "claude-opus-4-6",
                r#""input_tokens":1000000,"output_tokens":0"#,
            ),
            line(
                "2",
                "claude-fable-5-3",
                r#""input_tokens":1000000,"output_tokens":0"#,
            ),
            line(
                "3",
                "claude-fable-5-2",
                r#""input_tokens":0,"output_tokens":100000,"speed":"fast","inference_geo":"us""#,
            ),
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    let mut c = home.command(None);
    c.args(["daily", "--since", "20261120", "--until", "20261120"]);
    let text = stdout(&run(c));
    assert!(
        text.contains(
            "Total $21.80, of which $8.00 estimated at Fable 5.2's rates for claude-fable-5-3; run `headroom prices update`"
        ),
        "{text}"
    );
    let mut c = home.command(None);
    c.args(["daily", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&run(c))).unwrap();
    let totals = &v["totals"];
    assert!(
        (totals["totalCost"].as_f64().unwrap() - 21.8).abs() < 1e-9,
        "{totals}"
    );
    assert!(
        (totals["estimatedCost"].as_f64().unwrap() - 8.0).abs() < 1e-9,
        "{totals}"
    );
    assert_eq!(totals["estimated"][0]["model"], "claude-fable-5-3");
    assert_eq!(
        totals["estimated"][0]["reason"],
        "estimated at Fable 5.2's rates"
    );
    // ccusage's fields are all still there.
    for field in ["inputTokens", "outputTokens", "totalTokens", "totalCost"] {
        assert!(totals.get(field).is_some(), "{field}");
    }
}

/// Audit N19: the tray's service honours `prices.auto_update` (here through `watch --once`,
/// which runs the same task and no longer updates before it).
#[test]
fn the_service_round_honours_auto_update() {
    let home = Home::bare();
    write_transcript(&home);
    let server = Server::fixed("/prices.json", Response::json(200, litellm("1e-05")));
    std::fs::create_dir_all(home.headroom_home()).unwrap();
    std::fs::write(
        home.headroom_home().join("settings.json"),
        r#"{"prices":{"auto_update":true}}"#,
    )
    .unwrap();
    let mut c = home.command(None);
    c.env(
        "HEADROOM_PRICES_URL",
        format!("{}/prices.json", server.base),
    )
    .args(["watch", "--once", "--no-notify"]);
    let out = output(c);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.count("/prices.json"), 1);
    // The ledger was repriced with the new table (read without the variable: no fetch).
    assert!((daily_cost(&home) - 10.0).abs() < 1e-9);
}

/// Audit N8: HEADROOM_PRICES_URL takes LiteLLM's host or loopback, nothing else.
#[test]
fn a_prices_url_elsewhere_is_refused_at_start() {
    let home = Home::bare();
    write_transcript(&home);
    let mut c = home.command(None);
    c.env("HEADROOM_PRICES_URL", "https://evil.example/prices.json")
        .args(["daily", "--json"]);
    let out = output(c);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("HEADROOM_PRICES_URL"),
        "{}",
        stderr(&out)
    );
}
