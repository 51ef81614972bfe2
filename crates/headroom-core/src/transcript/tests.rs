use super::*;

const GOOD: &str = r#"{"parentUuid":null,"cwd":"/home/dev/api","sessionId":"s-1","version":"2.0.31","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"hi \"usage\": not a key"}],"usage":{"input_tokens":4,"cache_creation_input_tokens":300,"cache_read_input_tokens":20000,"output_tokens":55,"service_tier":"standard","cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200}}},"requestId":"req_1","type":"assistant","uuid":"u","timestamp":"2026-11-20T14:03:05.123Z"}"#;

fn usage(line: &str) -> UsageLine<'_> {
    match parse_line(line.as_bytes()) {
        LineOutcome::Usage(u) => u,
        other => panic!("expected usage, got {other:?}"),
    }
}

#[test]
fn parses_a_claude_code_assistant_line() {
    let u = usage(GOOD);
    assert_eq!(u.timestamp_ms, 1_795_183_385_123);
    assert_eq!(u.model.as_deref(), Some("claude-sonnet-4-5-20250929"));
    assert_eq!(u.dedup_key(), Some(("msg_1", "req_1")));
    assert_eq!(u.session_id.as_deref(), Some("s-1"));
    assert_eq!(u.cwd.as_deref(), Some("/home/dev/api"));
    assert_eq!(
        u.tokens,
        Tokens {
            input: 4,
            output: 55,
            cache_write: 300,
            cache_write_5m: 100,
            cache_write_1h: 200,
            cache_read: 20_000
        }
    );
    assert_eq!(u.tokens.total(), 20_359);
}

#[test]
fn us_only_inference_is_read_and_no_geo_value_invalidates_a_line() {
    assert!(!usage(GOOD).us_only);
    let with = |geo: &str| {
        GOOD.replace(
            r#""output_tokens":55"#,
            &format!(r#""output_tokens":55,"inference_geo":{geo}"#),
        )
    };
    assert!(usage(&with(r#""us""#)).us_only);
    // The API's default, Claude Code's placeholder, and values no one writes: not US-only,
    // and still a good line (ccusage does not read the field).
    for other in [
        r#""global""#,
        r#""not_available""#,
        r#""US""#,
        "1",
        "null",
        "{}",
    ] {
        let line = with(other);
        let u = usage(&line);
        assert!(!u.us_only, "{other}");
        assert_eq!(u.tokens.output, 55, "{other}");
    }
}

#[test]
fn without_ttl_breakdown_all_cache_writes_are_5_minute() {
    let line = GOOD.replace(
        r#","cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200}"#,
        "",
    );
    let u = usage(&line);
    assert_eq!((u.tokens.cache_write_5m, u.tokens.cache_write_1h), (300, 0));
}

#[test]
fn every_kind_of_bad_line_is_reported_not_fatal() {
    let truncated = &GOOD[..GOOD.len() / 2];
    assert_eq!(
        parse_line(truncated.as_bytes()),
        LineOutcome::Invalid(InvalidLine::NotJson)
    );
    assert_eq!(
        parse_line(b"\x00garbage fn let mut"),
        LineOutcome::Invalid(InvalidLine::NotJson)
    );
    assert_eq!(parse_line(b""), LineOutcome::Invalid(InvalidLine::Empty));
    let wrong_type = GOOD.replace(r#""output_tokens":55"#, r#""output_tokens":"many""#);
    assert_eq!(
        parse_line(wrong_type.as_bytes()),
        LineOutcome::Invalid(InvalidLine::BadFields)
    );
    let numeric_ts = GOOD.replace(r#""2026-11-20T14:03:05.123Z""#, "12345");
    assert_eq!(
        parse_line(numeric_ts.as_bytes()),
        LineOutcome::Invalid(InvalidLine::BadFields)
    );
    let bad_ts = GOOD.replace("2026-11-20T14", "2026-11-20 14");
    assert_eq!(
        parse_line(bad_ts.as_bytes()),
        LineOutcome::Invalid(InvalidLine::BadTimestamp)
    );
    for field in [r#""requestId":"req_1""#, r#""version":"2.0.31""#] {
        let nulled = GOOD.replace(field, &format!("{}:null", field.split(':').next().unwrap()));
        assert_eq!(
            parse_line(nulled.as_bytes()),
            LineOutcome::Invalid(InvalidLine::BadFields),
            "{field} = null"
        );
    }
    let float = GOOD.replace(r#""input_tokens":4"#, r#""input_tokens":4.0"#);
    assert!(matches!(
        parse_line(float.as_bytes()),
        LineOutcome::Invalid(_)
    ));
    let negative = GOOD.replace(r#""input_tokens":4"#, r#""input_tokens":-4"#);
    assert!(matches!(
        parse_line(negative.as_bytes()),
        LineOutcome::Invalid(_)
    ));
}

#[test]
fn a_token_count_above_the_bound_in_any_field_is_a_bad_line() {
    for (field, value) in [
        ("input_tokens", 4),
        ("output_tokens", 55),
        ("cache_creation_input_tokens", 300),
        ("cache_read_input_tokens", 20000),
        ("ephemeral_5m_input_tokens", 100),
        ("ephemeral_1h_input_tokens", 200),
    ] {
        let from = format!(r#""{field}":{value}"#);
        let at_bound = GOOD.replace(&from, &format!(r#""{field}":{MAX_TOKENS}"#));
        assert!(
            matches!(parse_line(at_bound.as_bytes()), LineOutcome::Usage(_)),
            "{field} = 10^9 is accepted"
        );
        for huge in [MAX_TOKENS + 1, 9_000_000_000_000_000_000, u64::MAX] {
            let line = GOOD.replace(&from, &format!(r#""{field}":{huge}"#));
            assert_eq!(
                parse_line(line.as_bytes()),
                LineOutcome::Invalid(InvalidLine::TooManyTokens),
                "{field} = {huge}"
            );
        }
    }
    assert_eq!(
        InvalidLine::TooManyTokens.to_string(),
        "a token count above 1,000,000,000"
    );
}

#[test]
fn a_negative_or_unrepresentable_cost_is_a_bad_line() {
    let with_cost =
        |cost: &str| GOOD.replace(r#""version""#, &format!(r#""costUSD":{cost},"version""#));
    assert_eq!(usage(&with_cost("0.25")).cost_usd, Some(0.25));
    assert_eq!(usage(&with_cost("0")).cost_usd, Some(0.0));
    for bad in ["-0.25", "-1e300"] {
        assert_eq!(
            parse_line(with_cost(bad).as_bytes()),
            LineOutcome::Invalid(InvalidLine::BadCost),
            "{bad}"
        );
    }
    // JSON has no NaN or infinity; an out-of-range number is refused by the parser.
    assert!(matches!(
        parse_line(with_cost("1e400").as_bytes()),
        LineOutcome::Invalid(_)
    ));
}

#[test]
fn parsing_from_a_reader_agrees_with_parsing_a_slice() {
    let truncated = &GOOD[..GOOD.len() / 2];
    let huge = GOOD.replace(r#""input_tokens":4"#, r#""input_tokens":4000000000"#);
    let wrong_type = GOOD.replace(r#""output_tokens":55"#, r#""output_tokens":"many""#);
    let escaped = GOOD.replace(r#""cwd":"/home/dev/api""#, r#""cwd":"C:\\work""#);
    let trailing = format!("{GOOD} x");
    for line in [GOOD, truncated, &huge, &wrong_type, &escaped, &trailing] {
        let from_slice = parse_line(line.as_bytes());
        let from_reader = parse_line_from(line.as_bytes());
        assert_eq!(from_reader, from_slice, "{line}");
    }
}

#[test]
fn lines_without_usage_are_not_errors() {
    let user = r#"{"type":"user","message":{"role":"user","content":"hello"},"timestamp":"2026-11-20T14:03:05.123Z"}"#;
    assert_eq!(parse_line(user.as_bytes()), LineOutcome::NoUsage);
    let summary = r#"{"type":"summary","summary":"x","leafUuid":"y"}"#;
    assert_eq!(parse_line(summary.as_bytes()), LineOutcome::NoUsage);
    assert_eq!(parse_line(b"[1,2,3]"), LineOutcome::NoUsage);
    let user_with_usage = GOOD.replace(r#""type":"assistant""#, r#""type":"user""#);
    assert_eq!(parse_line(user_with_usage.as_bytes()), LineOutcome::NoUsage);
}

#[test]
fn cwd_of_another_type_does_not_invalidate() {
    let line = GOOD.replace(r#""cwd":"/home/dev/api""#, r#""cwd":5"#);
    assert_eq!(usage(&line).cwd, None);
}

#[test]
fn escaped_strings_are_decoded() {
    let line = GOOD.replace(r#""cwd":"/home/dev/api""#, r#""cwd":"C:\\work\\api""#);
    assert_eq!(usage(&line).cwd.as_deref(), Some(r"C:\work\api"));
}

proptest::proptest! {
    /// No input makes the parser panic, and a cut line never yields usage.
    #[test]
    fn never_panics_on_any_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
        let _ = parse_line(&bytes);
    }

    #[test]
    fn a_truncated_line_is_never_counted(cut in 0..GOOD.len() - 1) {
        let outcome = parse_line(&GOOD.as_bytes()[..cut]);
        proptest::prop_assert!(!matches!(outcome, LineOutcome::Usage(_)), "{:?}", outcome);
    }

    #[test]
    fn timestamps_never_panic(s in ".{0,40}") {
        let _ = parse_rfc3339_ms(&s);
    }
}

#[test]
fn rfc3339_variants() {
    assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1500));
    assert_eq!(
        parse_rfc3339_ms("1970-01-01T00:00:00.123456789Z"),
        Some(123)
    );
    assert_eq!(parse_rfc3339_ms("1970-01-01T02:00:00+02:00"), Some(0));
    assert_eq!(parse_rfc3339_ms("1969-12-31T22:00:00-02:00"), Some(0));
    assert_eq!(
        parse_rfc3339_ms("2024-02-29T00:00:00Z"),
        Some(1_709_164_800_000)
    );
    for bad in [
        "2023-02-29T00:00:00Z",
        "2026-11-20",
        "2026-11-20T14:03:05",
        "2026-11-20t14:03:05z",
        "2026-13-01T00:00:00Z",
        "2026-11-20T14:03:05.Z",
        "2026-11-20T14:03:05+0200",
        "",
    ] {
        assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
    }
}
