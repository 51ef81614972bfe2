use super::*;

fn one(kind: &str, count: u64) -> Tokens {
    let mut t = Tokens::default();
    match kind {
        "input" => t.input = count,
        "output" => t.output = count,
        "5m" => {
            t.cache_write = count;
            t.cache_write_5m = count;
        }
        "1h" => {
            t.cache_write = count;
            t.cache_write_1h = count;
        }
        "read" => t.cache_read = count,
        _ => unreachable!(),
    }
    t
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn the_embedded_table_parses_and_names_its_source() {
    let table = PriceTable::embedded();
    let file: TableFile = serde_json::from_str(EMBEDDED_JSON).unwrap();
    assert_eq!(
        format!("litellm {}", file.headroom.info.version),
        PRICE_TABLE_VERSION
    );
    assert_eq!(table.info().version, "1.110.2");
    assert!(table.info().source.contains("LiteLLM"));
    assert!(table.models().count() > 20);
}

/// Every model on Anthropic's pricing page as of LiteLLM 1.110.2, with its input, output,
/// 5-minute write, 1-hour write and read rates per million tokens as the page lists them.
#[test]
fn every_model_on_anthropics_pricing_page_is_priced() {
    let table = PriceTable::embedded();
    let page: &[(&str, [f64; 5])] = &[
        ("claude-opus-5-5", [4.0, 20.0, 5.0, 8.0, 0.2]),
        ("claude-opus-5", [5.0, 25.0, 6.25, 10.0, 0.5]),
        ("claude-opus-4-8", [5.0, 25.0, 6.25, 10.0, 0.5]),
        ("claude-opus-4-7", [5.0, 25.0, 6.25, 10.0, 0.5]),
        ("claude-opus-4-6", [5.0, 25.0, 6.25, 10.0, 0.5]),
        ("claude-opus-4-5-20251101", [5.0, 25.0, 6.25, 10.0, 0.5]),
        ("claude-opus-4-1-20250805", [15.0, 75.0, 18.75, 30.0, 1.5]),
        ("claude-opus-4-20250514", [15.0, 75.0, 18.75, 30.0, 1.5]),
        ("claude-sonnet-5-5", [2.0, 10.0, 2.5, 4.0, 0.1]),
        ("claude-sonnet-5", [2.0, 10.0, 2.5, 4.0, 0.2]),
        ("claude-sonnet-4-6", [3.0, 15.0, 3.75, 6.0, 0.3]),
        ("claude-sonnet-4-5-20250929", [3.0, 15.0, 3.75, 6.0, 0.3]),
        ("claude-sonnet-4-20250514", [3.0, 15.0, 3.75, 6.0, 0.3]),
        ("claude-haiku-5-5", [0.1, 0.5, 0.125, 0.2, 0.01]),
        ("claude-haiku-4-5-20251001", [1.0, 5.0, 1.25, 2.0, 0.1]),
        ("claude-3-5-haiku-20241022", [0.8, 4.0, 1.0, 1.6, 0.08]),
        ("claude-fable-5-2", [8.0, 40.0, 10.0, 16.0, 0.2]),
        ("claude-mythos-5-2", [8.0, 40.0, 10.0, 16.0, 0.2]),
        ("claude-fable-5-1", [10.0, 50.0, 12.5, 20.0, 0.25]),
        ("claude-fable-5", [10.0, 50.0, 12.5, 20.0, 1.0]),
        ("claude-mythos-5-1", [10.0, 50.0, 12.5, 20.0, 0.25]),
        ("claude-mythos-5", [10.0, 50.0, 12.5, 20.0, 1.0]),
    ];
    for (model, rates) in page {
        for (kind, want) in ["input", "output", "5m", "1h", "read"].iter().zip(rates) {
            let got = table
                .cost(model, &one(kind, 10_000))
                .unwrap_or_else(|| panic!("{model} has no price"));
            // 10,000 tokens: below every tier threshold.
            assert!(
                close(got, want / 100.0),
                "{model} {kind}: {got} != {}",
                want / 100.0
            );
        }
    }
}

#[test]
fn older_models_keep_their_prices() {
    let table = PriceTable::embedded();
    for (model, input, read) in [
        ("claude-3-7-sonnet-20250219", 3.0, 0.3),
        ("claude-3-5-sonnet-20241022", 3.0, 0.3),
        ("claude-3-opus-20240229", 15.0, 1.5),
        ("claude-3-haiku-20240307", 0.25, 0.03),
    ] {
        assert!(
            close(table.cost(model, &one("input", 1_000_000)).unwrap(), input),
            "{model}"
        );
        assert!(
            close(table.cost(model, &one("read", 1_000_000)).unwrap(), read),
            "{model}"
        );
    }
    // Haiku 3's cache writes are Anthropic's published ones (a documented addition).
    let haiku3 = table.lookup("claude-3-haiku-20240307").unwrap();
    assert!(close(haiku3.base.cache_write_5m, 0.30) && close(haiku3.base.cache_write_1h, 0.50));
}

/// Anthropic: a request whose prompt exceeds 200k tokens has all its tokens at the tier.
#[test]
fn a_request_above_the_threshold_is_priced_wholly_at_the_higher_tier() {
    let table = PriceTable::embedded();
    let sonnet = "claude-sonnet-4-5-20250929";
    // 150k input + 30k cache reads + 1k output = 180k prompt: base rates.
    // 150,000 x $3 + 30,000 x $0.30 + 1,000 x $15 per million = 0.45 + 0.009 + 0.015.
    let below = Tokens {
        input: 150_000,
        cache_read: 30_000,
        output: 1_000,
        ..Tokens::default()
    };
    assert!(close(table.cost(sonnet, &below).unwrap(), 0.474));
    // Another 30k of 5-minute cache writes: 210k prompt, everything at $6 / $22.50 / $7.50 /
    // $0.60: 0.9 + 0.018 + 0.0225 + 0.225.
    let above = Tokens {
        cache_write: 30_000,
        cache_write_5m: 30_000,
        ..below
    };
    assert!(close(table.cost(sonnet, &above).unwrap(), 1.1655));
    // Output does not count toward the prompt: 200k input exactly is not above it.
    let at = Tokens {
        input: 200_000,
        output: 50_000,
        ..Tokens::default()
    };
    assert!(close(table.cost(sonnet, &at).unwrap(), 0.6 + 0.75));
    // 1-hour writes above the tier: $12 per million (LiteLLM's Bedrock entry).
    assert!(close(table.cost(sonnet, &one("1h", 300_000)).unwrap(), 3.6));
    // Sonnet 4 has no 1-hour rate above the tier in the data: twice the tier's input, $12.
    assert!(close(
        table
            .cost("claude-sonnet-4-20250514", &one("1h", 300_000))
            .unwrap(),
        3.6
    ));
}

#[test]
fn haiku_5_5_tiers_at_100k() {
    let table = PriceTable::embedded();
    // 100k input: $0.10 per million = 0.01. 100,001: all at $0.50 = 0.0500005.
    assert!(close(
        table
            .cost("claude-haiku-5-5", &one("input", 100_000))
            .unwrap(),
        0.01
    ));
    assert!(close(
        table
            .cost("claude-haiku-5-5", &one("input", 100_001))
            .unwrap(),
        0.0500005
    ));
}

#[test]
fn fast_mode_multiplies_every_rate() {
    let table = PriceTable::embedded();
    let t = Tokens {
        input: 1_000,
        output: 2_000,
        cache_read: 10_000,
        ..Tokens::default()
    };
    // Opus 4.6 standard: 1,000 x $5 + 2,000 x $25 + 10,000 x $0.50 = 0.005 + 0.05 + 0.005.
    assert!(close(table.cost("claude-opus-4-6", &t).unwrap(), 0.06));
    // x6 (Anthropic's fast-mode page; a documented addition to LiteLLM's data).
    assert!(close(table.cost("claude-opus-4-6-fast", &t).unwrap(), 0.36));
    assert!(close(
        table.cost("claude-opus-4-7-20260416-fast", &t).unwrap(),
        0.36
    ));
    // x2 for Opus 4.8 and 5 (LiteLLM's provider_specific_entry.fast).
    assert!(close(table.cost("claude-opus-4-8-fast", &t).unwrap(), 0.12));
    assert!(close(table.cost("claude-opus-5-fast", &t).unwrap(), 0.12));
    // A model with no known multiplier: standard rates, flagged.
    assert!(matches!(
        table.resolve("claude-sonnet-4-6-fast"),
        Priced::FastUnknown(_)
    ));
    assert!(close(
        table.cost("claude-sonnet-4-6-fast", &t).unwrap(),
        0.003 + 0.03 + 0.003
    ));
    assert!(table.resolve("claude-opus-4-6-fast").is_complete());
    assert_eq!(table.resolve("claude-nope-9-fast"), Priced::Unknown);
}

/// Anthropic's pricing page (data residency): US-only inference, `inference_geo: "us"`, costs
/// 1.1x on every rate of Opus 4.6 and later models; LiteLLM records it as
/// `provider_specific_entry.us`.
#[test]
fn us_only_inference_multiplies_every_rate() {
    let table = PriceTable::embedded();
    let t = Tokens {
        input: 1_000,
        output: 2_000,
        cache_read: 10_000,
        ..Tokens::default()
    };
    // Opus 4.6: 0.005 + 0.05 + 0.005 = 0.06 standard, x 1.1 = 0.066.
    assert!(close(
        table.response_cost("claude-opus-4-6", &t, false).unwrap(),
        0.06
    ));
    assert!(close(
        table.response_cost("claude-opus-4-6", &t, true).unwrap(),
        0.066
    ));
    // With fast mode on Opus 5 the two multiply: 0.06 x 2 x 1.1 = 0.132.
    assert!(close(
        table.response_cost("claude-opus-5-fast", &t, true).unwrap(),
        0.132
    ));
    // Above Haiku 5.5's 100k tier the tier's rates are multiplied:
    // 100,001 input at $0.50 = 0.0500005, x 1.1 = 0.05500055.
    assert!(close(
        table
            .response_cost("claude-haiku-5-5", &one("input", 100_001), true)
            .unwrap(),
        0.05500055
    ));
    // A model that cannot run US-only (Sonnet 4.5 predates it) has no multiplier: its
    // standard cost, 1,000 x $3 + 2,000 x $15 + 10,000 x $0.30 = 0.036.
    assert!(close(
        table
            .response_cost("claude-sonnet-4-5-20250929", &t, true)
            .unwrap(),
        0.036
    ));
    assert_eq!(table.response_cost("claude-nope-9", &t, true), None);
}

#[test]
fn model_ids_are_matched_in_every_spelling() {
    let table = PriceTable::embedded();
    for id in [
        "claude-sonnet-4-5-20250929",
        "claude-sonnet-4-5",
        "anthropic/claude-sonnet-4-5",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "claude-sonnet-4-5@20250929",
        "claude-sonnet-4-5-20250929[1m]",
    ] {
        assert_eq!(normalize_model(id), "claude-sonnet-4-5", "{id}");
        assert!(table.lookup(id).is_some(), "{id}");
    }
    assert_eq!(normalize_model("claude-opus-4-20250514"), "claude-opus-4");
    assert!(table.lookup("claude-opus-4-5-thinking").is_some());
}

#[test]
fn unknown_models_cost_nothing_and_say_so() {
    let table = PriceTable::embedded();
    assert_eq!(table.cost("<synthetic>", &one("input", 10)), None);
    assert_eq!(table.cost("claude-haiku-4-6", &one("input", 10)), None);
    assert_eq!(table.cost("gpt-5", &one("input", 10)), None);
    // A later version is not the family's first model ("claude-opus-4" is $15).
    assert_eq!(table.cost("claude-opus-4-9", &one("input", 10)), None);
    assert_eq!(table.cost("claude-foo-6", &one("input", 10)), None);
}

#[test]
fn overrides_add_and_replace_models() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prices.json");
    let embedded = PriceTable::embedded();
    assert_eq!(
        PriceTable::with_overrides(&path).unwrap().fingerprint(),
        embedded.fingerprint()
    );
    std::fs::write(
        &path,
        r#"{"models":{"claude-next-5":{"input":2,"output":10,"fast_multiplier":3},"claude-opus-4-5":{"input":1,"output":1,"cache_read":0.05}}}"#,
    )
    .unwrap();
    let table = PriceTable::with_overrides(&path).unwrap();
    assert_ne!(table.fingerprint(), embedded.fingerprint());
    assert!(close(
        table
            .cost("claude-next-5-20270101", &one("1h", 1_000_000))
            .unwrap(),
        4.0
    ));
    assert!(close(
        table
            .cost("claude-next-5-fast", &one("input", 1_000_000))
            .unwrap(),
        6.0
    ));
    assert!(close(
        table
            .cost("claude-opus-4-5", &one("read", 1_000_000))
            .unwrap(),
        0.05
    ));
    assert!(table
        .origin("claude-opus-4-5")
        .unwrap()
        .starts_with("override"));
    // The user's overrides are held to the bounds of a downloaded table: negative, zero, a
    // long-context rate of 1e-300 per million, a cache rate 100 times input.
    for bad in [
        r#"{"x":{"input":-5,"output":1}}"#,
        r#"{"x":{"input":1,"output":5,"cache_read":0}}"#,
        r#"{"x":{"input":1,"output":5,"long_context":{"input":1e-300,"output":10,"cache_write_5m":2.5,"cache_write_1h":4,"cache_read":0.2}}}"#,
        r#"{"x":{"input":1,"output":5,"cache_write_1h":100}}"#,
    ] {
        std::fs::write(&path, format!(r#"{{"models":{bad}}}"#)).unwrap();
        assert!(
            matches!(
                PriceTable::with_overrides(&path),
                Err(PricingError::Implausible { .. })
            ),
            "{bad} was accepted"
        );
    }
    std::fs::write(&path, "not json").unwrap();
    assert!(matches!(
        PriceTable::with_overrides(&path),
        Err(PricingError::Parse { .. })
    ));
}

fn litellm_file(opus_input: &str) -> String {
    let mut models = serde_json::Map::new();
    for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        models.insert(
            format!("claude-sonnet-9-{i}{name}"),
            serde_json::json!({"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6,
                "litellm_provider": "anthropic"}),
        );
    }
    let mut text = serde_json::Value::Object(models).to_string();
    text.pop();
    format!(
        r#"{text},"claude-opus-4-6":{{"input_cost_per_token":{opus_input},"output_cost_per_token":5e-05,"litellm_provider":"anthropic"}},"gpt-5":{{"input_cost_per_token":1.0}}}}"#
    )
}

#[test]
fn a_downloaded_table_is_checked_and_used_over_the_embedded_one() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("prices-litellm.json");
    let overrides = dir.path().join("prices.json");
    let file = update::extract("test", litellm_file("1e-05").as_bytes(), "2026-12-01").unwrap();
    update::install(&kept, &file).unwrap();
    let table = PriceTable::load(&kept, &overrides).unwrap();
    // The download's Opus 4.6 ($10 input) wins; the embedded fast multiplier still applies.
    assert!(close(
        table
            .cost("claude-opus-4-6", &one("input", 1_000_000))
            .unwrap(),
        10.0
    ));
    assert!(close(
        table
            .cost("claude-opus-4-6-fast", &one("input", 1_000_000))
            .unwrap(),
        60.0
    ));
    // Models it lacks keep their embedded prices; its own are added.
    assert!(table.lookup("claude-haiku-5-5").is_some());
    assert!(table.lookup("claude-sonnet-9-0a").is_some());
    assert!(table.lookup("gpt-5").is_none());
    assert_eq!(table.info().source, "test");
    assert_ne!(table.fingerprint(), PriceTable::embedded().fingerprint());
}

#[test]
fn bad_downloads_are_refused() {
    // Implausible: $5,000 per million input tokens, or zero.
    for rate in ["0.005", "0", "-1e-06"] {
        let err = update::extract("u", litellm_file(rate).as_bytes(), "d").unwrap_err();
        assert!(err.to_string().contains("unchanged"), "{err}");
    }
    // Not JSON, truncated, or JSON of another shape.
    let good = litellm_file("1e-05");
    for bad in [
        "<html>rate limited</html>".to_owned(),
        good[..good.len() / 2].to_owned(),
        "[1,2,3]".to_owned(),
        r#"{"gpt-5":{"input_cost_per_token":1e-6}}"#.to_owned(),
    ] {
        assert!(update::extract("u", bad.as_bytes(), "d").is_err(), "{bad}");
    }
}

/// Issue 25: Fable 5.2 and Opus 5.5 in fast mode at 2x, with US-only inference's 1.1x on top.
#[test]
fn fast_mode_and_us_only_multiply_on_the_new_models() {
    let table = PriceTable::embedded();
    let t = Tokens {
        input: 1_000,
        output: 2_000,
        cache_read: 10_000,
        cache_write: 1_000,
        cache_write_1h: 1_000,
        ..Tokens::default()
    };
    // Fable 5.2: 1,000 x $8 + 2,000 x $40 + 10,000 x $0.20 + 1,000 x $16 per million
    // = 0.008 + 0.08 + 0.002 + 0.016 = 0.106; fast 0.212; fast and US-only 0.2332.
    assert!(close(
        table.response_cost("claude-fable-5-2", &t, false).unwrap(),
        0.106
    ));
    assert!(close(
        table
            .response_cost("claude-fable-5-2-fast", &t, false)
            .unwrap(),
        0.212
    ));
    assert!(close(
        table
            .response_cost("claude-fable-5-2-fast", &t, true)
            .unwrap(),
        0.2332
    ));
    // Opus 5.5: 0.004 + 0.04 + 0.002 + 0.008 = 0.054; fast 0.108; fast and US-only 0.1188.
    assert!(close(
        table
            .response_cost("claude-opus-5-5-fast", &t, false)
            .unwrap(),
        0.108
    ));
    assert!(close(
        table
            .response_cost("claude-opus-5-5-fast", &t, true)
            .unwrap(),
        0.1188
    ));
    assert!(table.resolve("claude-fable-5-2-fast").is_complete());
    // Mythos 5.2 has no fast mode in Claude Code's list: standard rates, flagged.
    assert!(matches!(
        table.resolve("claude-mythos-5-2-fast"),
        Priced::FastUnknown(_)
    ));
    // The overrides name their source.
    assert!(table
        .origin("claude-fable-5-2")
        .unwrap()
        .starts_with("Headroom's overrides (https://"));
}

/// The overrides file in the repository is what the embedded table carries (the script
/// copies it; a hand edit of one without the other fails here).
#[test]
fn the_embedded_table_carries_the_repository_overrides() {
    let overrides: serde_json::Value =
        serde_json::from_str(include_str!("../../data/price-overrides.json")).unwrap();
    let file: TableFile = serde_json::from_str(EMBEDDED_JSON).unwrap();
    let carried = serde_json::to_value(&file.headroom.additions).unwrap();
    assert_eq!(carried, overrides["models"]);
    for (model, entry) in overrides["models"].as_object().unwrap() {
        assert!(
            entry["source"].as_str().unwrap().contains("https://"),
            "{model}"
        );
        assert_eq!(entry["date"].as_str().unwrap().len(), 10, "{model}");
    }
}

#[test]
fn a_newer_model_of_a_known_family_is_estimated_at_its_newest_rates() {
    let table = PriceTable::embedded();
    assert_eq!(
        table.estimate_basis("claude-fable-5-3"),
        Some("claude-fable-5-2")
    );
    assert_eq!(
        table.estimate_basis("claude-fable-5-3-20270101"),
        Some("claude-fable-5-2")
    );
    assert_eq!(
        table.estimate_basis("claude-opus-6"),
        Some("claude-opus-5-5")
    );
    assert_eq!(
        table.estimate_basis("claude-fable-6-fast"),
        Some("claude-fable-5-2")
    );
    let Priced::Estimated(fable) = table.resolve("claude-fable-5-3") else {
        panic!("{:?}", table.resolve("claude-fable-5-3"));
    };
    assert_eq!(Some(fable), table.lookup("claude-fable-5-2"));
    assert!(!table.resolve("claude-fable-5-3").is_complete());
    // Fast mode of the estimate: the newest Fable's multiplier (2).
    assert!(close(
        table
            .cost("claude-fable-5-3-fast", &one("input", 1_000_000))
            .unwrap(),
        16.0
    ));
    assert!(matches!(
        table.resolve("claude-fable-5-3-fast"),
        Priced::Estimated(_)
    ));
    // Known models, older unknown versions, unknown families and other shapes: no estimate.
    for model in [
        "claude-fable-5-2",
        "claude-opus-4-9",
        "claude-haiku-4-6",
        "claude-foo-6",
        "claude-fable-preview",
        "gpt-6",
    ] {
        assert_eq!(table.estimate_basis(model), None, "{model}");
        assert!(
            !matches!(table.resolve(model), Priced::Estimated(_)),
            "{model}"
        );
    }
    assert_eq!(display_name("claude-fable-5-2"), "Fable 5.2");
    assert_eq!(display_name("claude-opus-5"), "Opus 5");
    assert_eq!(display_name("claude-3-haiku"), "claude-3-haiku");
}

/// A LiteLLM file whose `claude-opus-4-6` entry has `extra` fields (JSON members text).
fn litellm_with(extra: &str) -> String {
    let good = litellm_file("1e-05");
    good.replace(
        r#""claude-opus-4-6":{"input_cost_per_token":1e-05,"#,
        &format!(r#""claude-opus-4-6":{{{extra},"input_cost_per_token":1e-05,"#),
    )
}

/// Audit N8: every field is checked, the long-context and one-hour ones included.
#[test]
fn every_rate_of_a_download_is_checked() {
    let tier = r#""input_cost_per_token_above_200k_tokens":2e-05,"output_cost_per_token_above_200k_tokens":1e-04"#;
    assert!(update::extract("u", litellm_with(tier).as_bytes(), "d").is_ok());
    for extra in [
        // The audit's: a negative long-context cache rate (its ledger showed -$809.95).
        format!(r#"{tier},"cache_read_input_token_cost_above_200k_tokens":-0.001"#),
        format!(r#"{tier},"cache_creation_input_token_cost_above_1hr_above_200k_tokens":0"#),
        r#""cache_creation_input_token_cost_above_1hr":1e-300"#.to_owned(),
        r#""cache_read_input_token_cost":1e-300"#.to_owned(),
        // Out of proportion: a cache read 50 times input, a tier at 1/1000 of the standard.
        r#""cache_read_input_token_cost":5e-04"#.to_owned(),
        r#""input_cost_per_token_above_200k_tokens":1e-08,"output_cost_per_token_above_200k_tokens":1e-04"#.to_owned(),
        // Half a tier: long requests would silently cost the standard rates.
        r#""input_cost_per_token_above_200k_tokens":2e-05"#.to_owned(),
        r#""output_cost_per_token_above_100k_tokens":2e-05"#.to_owned(),
        // Not finite (1e400 is beyond f64).
        r#""cache_read_input_token_cost_above_200k_tokens":1e400"#.to_owned(),
        r#""provider_specific_entry":{"fast":0.5}"#.to_owned(),
    ] {
        let err = update::extract("u", litellm_with(&extra).as_bytes(), "d");
        assert!(err.is_err(), "{extra} was accepted");
    }
}

/// Audit N11: only the Claude entries are built; a 30 MiB array elsewhere is skipped unread
/// (memory is measured by scripts/bench-prices.sh, not here).
#[test]
fn other_entries_of_a_download_are_skipped_unread() {
    let zeros = vec!["0"; 1 << 20].join(",");
    let good = litellm_file("1e-05");
    let with_junk = format!(r#"{{"x":[{zeros}],{}"#, &good[1..]);
    let file = update::extract("u", with_junk.as_bytes(), "d").unwrap();
    assert!(!file.models.contains_key("x"));
    // A kept entry keeps only the fields Headroom reads.
    let junk_inside = litellm_with(&format!(r#""junk":[{zeros}],"mode":"chat""#));
    let file = update::extract("u", junk_inside.as_bytes(), "d").unwrap();
    let opus = file.models["claude-opus-4-6"].as_object().unwrap();
    assert!(!opus.contains_key("junk") && !opus.contains_key("mode"));
    // Nothing but the junk: refused (no Claude model), having built nothing.
    let bomb = format!(r#"{{"x":[{zeros}]}}"#);
    assert!(update::extract("u", bomb.as_bytes(), "d").is_err());
}

/// A download that has a model the overrides add wins over the override; one that lacks it
/// keeps the override's.
#[test]
fn a_download_keeps_the_overrides_unless_it_has_the_model() {
    let lacking = update::extract("u", litellm_file("1e-05").as_bytes(), "d").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("prices-litellm.json");
    update::install(&kept, &lacking).unwrap();
    let table = PriceTable::load(&kept, &dir.path().join("none.json")).unwrap();
    assert!(close(
        table
            .cost("claude-fable-5-2", &one("input", 1_000_000))
            .unwrap(),
        8.0
    ));
    let having = litellm_file("1e-05").replacen(
        "{",
        r#"{"claude-fable-5-2":{"input_cost_per_token":9e-06,"output_cost_per_token":4.5e-05,"litellm_provider":"anthropic"},"#,
        1,
    );
    let file = update::extract("u", having.as_bytes(), "d").unwrap();
    update::install(&kept, &file).unwrap();
    let table = PriceTable::load(&kept, &dir.path().join("none.json")).unwrap();
    assert!(close(
        table
            .cost("claude-fable-5-2", &one("input", 1_000_000))
            .unwrap(),
        9.0
    ));
    assert_eq!(table.origin("claude-fable-5-2"), Some("claude-fable-5-2"));
    // The override still fills what the data lacks: its fast multiplier.
    assert!(close(
        table
            .cost("claude-fable-5-2-fast", &one("input", 1_000_000))
            .unwrap(),
        18.0
    ));
}

#[test]
fn sources_are_https_or_loopback_http() {
    let url = |s: &str| reqwest::Url::parse(s).unwrap();
    assert!(update::check_url(&url(update::DEFAULT_URL)).is_ok());
    assert!(update::check_url(&url("http://127.0.0.1:8080/p.json")).is_ok());
    assert!(update::check_url(&url("http://[::1]/p.json")).is_ok());
    for bad in [
        "http://raw.githubusercontent.com/p.json",
        "http://localhost/p.json",
        "ftp://example.com/p.json",
        "file:///etc/passwd",
    ] {
        assert!(update::check_url(&url(bad)).is_err(), "{bad}");
    }
    let first = url("https://raw.githubusercontent.com/a.json");
    assert_eq!(
        update::redirect_refusal(&first, &url("https://raw.githubusercontent.com/b.json")),
        None
    );
    assert!(
        update::redirect_refusal(&first, &url("http://raw.githubusercontent.com/b.json")).is_some()
    );
    assert!(update::redirect_refusal(&first, &url("https://evil.example/b.json")).is_some());
}

/// The daily attempt is counted on the process's own clock, not the stamp file's modification
/// time (the kernel's): under a faked or corrected clock the mtime made every run look a day
/// late (the 00:30 run of `scripts/test-clock.sh` fetched twice).
#[test]
fn the_daily_price_attempt_is_timed_by_the_clock_that_made_it() {
    use std::time::{Duration, UNIX_EPOCH};
    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("prices.attempted");
    // A clock years away from the file system's.
    let then = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    assert!(update::auto_update_due(&stamp, then), "no stamp: due");
    crate::fs::write_atomic(&stamp, b"1900000000000").unwrap();
    let hour = Duration::from_secs(3600);
    assert!(!update::auto_update_due(&stamp, then + hour));
    assert!(!update::auto_update_due(&stamp, then + 23 * hour));
    assert!(update::auto_update_due(&stamp, then + 24 * hour));
    // Set back by less than a day: wait; by more: not for ever.
    assert!(!update::auto_update_due(&stamp, then - hour));
    assert!(update::auto_update_due(&stamp, then - 25 * hour));
}
