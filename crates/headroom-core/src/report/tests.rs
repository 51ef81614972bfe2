use super::*;

fn bucket(start_ms: i64, model: &str, input: u64, cost: f64) -> BucketRow {
    BucketRow {
        start_ms,
        model: model.into(),
        sums: Sums {
            entries: 1,
            input,
            calc_cost: cost,
            auto_cost: cost,
            display_cost: 0.0,
            ..Sums::default()
        },
        first_ms: start_ms,
        last_ms: start_ms,
    }
}

const H: i64 = 3_600_000;

#[test]
fn days_follow_the_time_zone() {
    // 2026-11-20 23:00 UTC is the 21st in Berlin and the 20th in New York.
    let t = chrono::DateTime::parse_from_rfc3339("2026-11-20T23:00:00Z")
        .unwrap()
        .timestamp_millis();
    let buckets = vec![bucket(t, "claude-sonnet-4-5", 10, 1.0)];
    let at = |zone: &str| {
        let q = Query {
            zone: Zone::parse(zone).unwrap(),
            ..Query::default()
        };
        group_buckets(&buckets, Period::Day, &q).0[0].period.clone()
    };
    assert_eq!(at("UTC"), "2026-11-20");
    assert_eq!(at("Europe/Berlin"), "2026-11-21");
    assert_eq!(at("America/New_York"), "2026-11-20");
    // +05:45: 18:15 UTC is local midnight; the bucket before is the 20th, this one the 21st.
    let kathmandu = Query {
        zone: Zone::parse("Asia/Kathmandu").unwrap(),
        ..Query::default()
    };
    let t = chrono::DateTime::parse_from_rfc3339("2026-11-20T18:00:00Z")
        .unwrap()
        .timestamp_millis();
    let qh = vec![bucket(t, "m", 1, 0.0), bucket(t + 15 * 60_000, "m", 2, 0.0)];
    let days = group_buckets(&qh, Period::Day, &kathmandu).0;
    assert_eq!(days.len(), 2);
    assert_eq!(
        (days[0].period.as_str(), days[0].totals.input_tokens),
        ("2026-11-20", 1)
    );
    assert_eq!(
        (days[1].period.as_str(), days[1].totals.input_tokens),
        ("2026-11-21", 2)
    );
}

#[test]
fn breakdowns_sort_by_cost_and_filters_apply() {
    let utc = Zone::parse("UTC").unwrap();
    let day = |d: u32| utc.start_of(NaiveDate::from_ymd_opt(2026, 11, d).unwrap());
    let buckets = vec![
        bucket(day(19), "claude-haiku-4-5", 5, 0.5),
        bucket(day(20), "claude-haiku-4-5", 10, 1.0),
        bucket(day(20) + H, "claude-opus-4-5", 1, 2.0),
        bucket(day(21), "<synthetic>", 0, 0.0),
    ];
    let q = Query {
        zone: utc,
        since: Some(parse_date("20261120").unwrap()),
        until: Some(parse_date("2026-11-20").unwrap()),
        ..Query::default()
    };
    let (days, totals) = group_buckets(&buckets, Period::Day, &q);
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].models_used, ["claude-haiku-4-5", "claude-opus-4-5"]);
    assert_eq!(days[0].model_breakdowns[0].model_name, "claude-opus-4-5");
    assert_eq!(totals.input_tokens, 11);
    assert!((totals.total_cost - 3.0).abs() < 1e-9);
    let all = Query {
        zone: utc,
        ..Query::default()
    };
    let (days, _) = group_buckets(&buckets, Period::Day, &all);
    assert!(days[2].models_used.is_empty(), "<synthetic> is not a model");
}

#[test]
fn weeks_and_months() {
    let utc = Zone::parse("UTC").unwrap();
    let date = |m: u32, d: u32| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
    // 2026-11-25 is a Wednesday.
    assert_eq!(Period::Week.key(date(11, 25), Weekday::Sun), "2026-11-22");
    assert_eq!(Period::Week.key(date(11, 25), Weekday::Mon), "2026-11-23");
    assert_eq!(Period::Week.key(date(11, 22), Weekday::Sun), "2026-11-22");
    assert_eq!(Period::Month.key(date(11, 25), Weekday::Sun), "2026-11");
    let buckets = vec![
        bucket(utc.start_of(date(10, 31)), "m", 1, 0.0),
        bucket(utc.start_of(date(11, 1)), "m", 2, 0.0),
    ];
    let q = Query {
        zone: utc,
        ..Query::default()
    };
    let (months, _) = group_buckets(&buckets, Period::Month, &q);
    assert_eq!(months.len(), 2);
    let (weeks, _) = group_buckets(&buckets, Period::Week, &q);
    assert_eq!(
        weeks.len(),
        2,
        "Saturday 31 Oct and Sunday 1 Nov are in two weeks"
    );
    let monday = Query {
        start_of_week: Weekday::Mon,
        ..q
    };
    assert_eq!(group_buckets(&buckets, Period::Week, &monday).0.len(), 1);
}

#[test]
fn cost_modes() {
    let sums = Sums {
        calc_cost: 1.0,
        auto_cost: 2.0,
        display_cost: 3.0,
        ..Sums::default()
    };
    assert_eq!(CostMode::Calculate.pick(&sums), 1.0);
    assert_eq!(CostMode::Auto.pick(&sums), 2.0);
    assert_eq!(CostMode::Display.pick(&sums), 3.0);
    assert!("bogus".parse::<CostMode>().is_err());
}

mod unpriced_tests {
    use super::unpriced_note;
    use crate::ledger::Unpriced;

    fn u(model: &str, reason: &str, responses: u64) -> Unpriced {
        Unpriced {
            model: model.into(),
            reason: reason.into(),
            responses,
            tokens: 10,
            cost: 0.0,
        }
    }

    #[test]
    fn the_note_names_what_costs_leave_out() {
        assert_eq!(unpriced_note(&[]), None);
        assert_eq!(
            unpriced_note(&[u("claude-foo-6", "no known price", 1204)]).unwrap(),
            "Costs leave out 1,204 responses of claude-foo-6 with no known price: run `headroom prices update`"
        );
        assert_eq!(
            unpriced_note(&[
                u("claude-foo-6", "no known price", 2),
                u("claude-bar-1", "no known price", 1),
                u("claude-sonnet-4-6-fast", "no fast-mode multiplier", 3),
            ])
            .unwrap(),
            "Costs leave out 2 responses of claude-foo-6 and 1 response of claude-bar-1 with no known price; \
             Costs count 3 responses of claude-sonnet-4-6-fast at standard rates (no fast-mode multiplier known): \
             run `headroom prices update`"
        );
    }

    #[test]
    fn the_estimated_part_of_a_total_is_said_with_its_rates() {
        use super::super::{estimated_note, estimated_reason};
        let estimate = |model: &str, basis: &str, cost: f64| Unpriced {
            cost,
            ..u(model, &estimated_reason(basis), 3)
        };
        assert_eq!(estimated_note(Some(12.3), &[]), None);
        // An unpriced model is the other note's, not this one's.
        assert_eq!(
            estimated_note(Some(12.3), &[u("claude-foo-6", "no known price", 1)]),
            None
        );
        let fable = estimate("claude-fable-5-3", "claude-fable-5-2", 4.1);
        assert_eq!(
            estimated_note(Some(12.3), std::slice::from_ref(&fable)).unwrap(),
            "Total $12.30, of which $4.10 estimated at Fable 5.2's rates for claude-fable-5-3; run `headroom prices update`"
        );
        let opus = estimate("claude-opus-6", "claude-opus-5-5", 1.0);
        assert_eq!(
            estimated_note(None, &[fable, opus]).unwrap(),
            "Costs include $4.10 estimated at Fable 5.2's rates for claude-fable-5-3 and \
             $1.00 estimated at Opus 5.5's rates for claude-opus-6; run `headroom prices update`"
        );
        // The estimated note leaves the unpriced one alone.
        assert_eq!(
            unpriced_note(&[estimate("claude-fable-5-3", "claude-fable-5-2", 4.1)]),
            None
        );
    }
}
