//! Alert engine scenarios with a fake clock: each alert kind, its wording, quiet hours and
//! snooze. Times are UTC unless a test says otherwise.
//!
//! Over 600 lines: one scenario per alert kind and suppression, all on one fake clock and
//! snapshot builder (`support_alerts`); each reads alone.

use crate::support_alerts::*;
use headroom_core::alerts::{Action, AlertKind, Delivery, EngineState, Level, Suppression};
use headroom_core::report::Zone;
use headroom_core::settings::{QuietHours, TimeOfDay};
use headroom_core::snapshot::{ForecastBasis, Source, SourceStatus, WindowKind};

#[test]
fn at_91_percent_with_extra_usage_off_one_notification_says_both() {
    let mut r = Runner::new();
    let now = T0;
    let reset = now + 70 * MIN + 30_000; // 11:10:30
    let snap = snapshot(
        now,
        vec![
            session(91.0, reset, now),
            weekly(40.0, now + 3 * 24 * HOUR, now),
        ],
        Some(extra(Some(false), None, None, now)),
    );
    let e = r.eval(&snap, now);
    assert_eq!(
        kinds(&e),
        [
            (AlertKind::ExtraUsageTrap, Some(90)),
            (AlertKind::Threshold, Some(90))
        ]
    );
    let n = delivered(&e).expect("one notification");
    assert_eq!(n.summary, "Session at 91 % and Extra Usage is off");
    assert_eq!(
        n.body,
        "Work will stop at 100 % until the window resets at 11:10 (in 1 h 10 min). \
         Turn on Extra Usage from Headroom (Enable Extra Usage, or `headroom extra-usage enable --cap DOLLARS`) to keep working past the limit; any prepaid balance is not used until you do.\n\
         Session usage passed 90 %: now 91 %; the window resets at 11:10 (in 1 h 10 min)."
    );
    assert_eq!(n.level, Level::Critical);
    assert_eq!(
        n.actions,
        [
            Action::EnableExtraUsage,
            Action::Snooze1h,
            Action::OpenSettings
        ]
    );

    // The next poll, a minute later and a little higher: nothing new.
    let later = now + MIN;
    let snap = snapshot(
        later,
        vec![session(92.0, reset + 2_000, later)],
        Some(extra(Some(false), None, None, later)),
    );
    let e = r.eval(&snap, later);
    assert!(e.alerts.is_empty(), "{:?}", e.alerts);
    assert_eq!(e.delivery, Delivery::Nothing);
}

/// Claude Code's cached answer can be days old: shown, never the start of an alert, not even
/// at 99 % with Extra Usage off and spend past its cap.
#[test]
fn claude_codes_cached_answer_never_starts_an_alert() {
    let mut r = Runner::new();
    let now = T0;
    let mut windows = vec![
        session(99.0, now + HOUR, now - 5 * MIN),
        weekly(95.0, now + 3 * 24 * HOUR, now - 5 * MIN),
    ];
    for w in &mut windows {
        w.source = Source::ClaudeCodeCache;
    }
    let mut eu = extra(Some(false), Some(50.0), Some(80.0), now - 5 * MIN);
    eu.source = Source::ClaudeCodeCache;
    let mut snap = snapshot(now, windows, Some(eu));
    snap.forecast.session_full_at_ms = Some(now + 10 * MIN);
    snap.sources.clear();
    let e = r.eval(&snap, now);
    assert!(e.alerts.is_empty(), "{:?}", e.alerts);
    assert_eq!(e.delivery, Delivery::Nothing);
}

#[test]
fn the_trap_names_the_prepaid_balance_and_respects_a_policy() {
    let mut r = Runner::new();
    let now = T0;
    let mut eu = extra(Some(false), None, None, now);
    eu.balance = Some(12.5);
    let snap = snapshot(
        now,
        vec![weekly(93.0, now + 2 * 24 * HOUR, now)],
        Some(eu.clone()),
    );
    let e = r.eval(&snap, now);
    let trap = &e.alerts[0];
    assert_eq!(trap.kind, AlertKind::ExtraUsageTrap);
    assert_eq!(trap.title, "Weekly at 93 % and Extra Usage is off");
    assert!(
        trap.body
            .ends_with("your prepaid balance of $12.50 is not used until you do."),
        "{}",
        trap.body
    );
    assert!(
        trap.body.contains("resets on Thu 10:00 (in 2 d)"),
        "{}",
        trap.body
    );

    // Turned off by an organisation policy: no "turn it on", no button that cannot work.
    let mut r = Runner::new();
    eu.disabled_reason = Some("org_level_disabled".to_owned());
    let e = r.eval(
        &snapshot(now, vec![session(95.0, now + HOUR, now)], Some(eu)),
        now,
    );
    let trap = e
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::ExtraUsageTrap)
        .unwrap();
    assert!(trap
        .body
        .ends_with("Extra Usage is off: your organization has turned it off."));
    assert!(!trap.actions.contains(&Action::EnableExtraUsage));
    assert!(!delivered(&e)
        .unwrap()
        .actions
        .contains(&Action::EnableExtraUsage));

    // Extra Usage on, or unknown: no trap.
    for enabled in [Some(true), None] {
        let mut r = Runner::new();
        let snap = snapshot(
            now,
            vec![session(95.0, now + HOUR, now)],
            Some(extra(enabled, Some(50.0), Some(0.0), now)),
        );
        let e = r.eval(&snap, now);
        assert_eq!(kinds(&e), [(AlertKind::Threshold, Some(90))], "{enabled:?}");
    }
}

#[test]
fn thresholds_fire_once_each_only_the_highest_on_a_jump_and_resets_re_arm() {
    let mut r = Runner::new();
    let reset = T0 + 4 * HOUR;
    let mut now = T0;
    let step = |r: &mut Runner, pct: f64, reset: i64, now: i64| {
        let snap = snapshot(now, vec![session(pct, reset, now)], None);
        kinds(&r.eval(&snap, now))
    };
    assert_eq!(step(&mut r, 50.0, reset, now), []);
    now += 10 * MIN;
    assert_eq!(
        step(&mut r, 95.0, reset, now),
        [(AlertKind::Threshold, Some(90))]
    );
    now += 10 * MIN;
    assert_eq!(
        step(&mut r, 89.0, reset, now),
        [],
        "a dip never re-announces"
    );
    assert_eq!(
        step(&mut r, 96.0, reset + 40_000, now),
        [],
        "jitter is the same window"
    );
    now += 10 * MIN;
    let e = r.eval(&snapshot(now, vec![session(100.0, reset, now)], None), now);
    assert_eq!(kinds(&e), [(AlertKind::Threshold, Some(100))]);
    assert_eq!(e.alerts[0].level, Level::Critical);
    assert_eq!(e.alerts[0].title, "Session limit reached");
    assert_eq!(
        e.alerts[0].body,
        "Session usage is at 100 %. Work is stopped (unless Extra Usage is on) until the window \
         resets at 14:00 (in 3 h 30 min)."
    );

    // The window resets: announced once, and the thresholds are armed again.
    now = reset + 5 * MIN;
    let next = reset + 5 * HOUR;
    let e = r.eval(&snapshot(now, vec![session(2.0, next, now)], None), now);
    assert_eq!(kinds(&e), [(AlertKind::Reset, Some(100))]);
    assert_eq!(
        e.alerts[0].title,
        "Session window reset: full capacity again"
    );
    assert_eq!(
        e.alerts[0].body,
        "Session usage is back to 2 % (it had passed 100 %)."
    );
    assert_eq!(e.alerts[0].level, Level::Info);
    now += HOUR;
    assert_eq!(
        step(&mut r, 80.0, next, now),
        [(AlertKind::Threshold, Some(75))]
    );
}

#[test]
fn an_early_reset_re_arms_but_a_moved_schedule_does_not() {
    let mut r = Runner::new();
    let now = T0;
    let week = now + 5 * 24 * HOUR;
    r.eval(&snapshot(now, vec![weekly(80.0, week, now)], None), now);
    // Anthropic moves the weekly reset by a day; usage carries on: same instance.
    let e = r.eval(
        &snapshot(now + HOUR, vec![weekly(81.0, week + 24 * HOUR, now)], None),
        now + HOUR,
    );
    assert!(e.alerts.is_empty(), "{:?}", e.alerts);
    // Anthropic resets everyone early: usage falls, a new reset time. Weekly resets are not
    // announced by default, but the thresholds are armed again.
    let later = now + 2 * HOUR;
    let e = r.eval(
        &snapshot(later, vec![weekly(1.0, later + 7 * 24 * HOUR, later)], None),
        later,
    );
    assert!(e.alerts.is_empty(), "{:?}", e.alerts);
    let e = r.eval(
        &snapshot(
            later,
            vec![weekly(76.0, later + 7 * 24 * HOUR, later)],
            None,
        ),
        later,
    );
    assert_eq!(kinds(&e), [(AlertKind::Threshold, Some(75))]);

    // With weekly resets switched on, the reset is said.
    let mut r = Runner::new();
    r.settings.reset_weekly = true;
    r.eval(&snapshot(now, vec![weekly(80.0, week, now)], None), now);
    let after = week + MIN;
    let e = r.eval(
        &snapshot(after, vec![weekly(0.0, after + 7 * 24 * HOUR, after)], None),
        after,
    );
    assert_eq!(kinds(&e), [(AlertKind::Reset, Some(75))]);
    assert_eq!(
        e.alerts[0].title,
        "Weekly window reset: full capacity again"
    );
}

#[test]
fn per_model_weekly_windows_use_their_own_thresholds_and_unknown_windows_none() {
    let mut r = Runner::new();
    r.settings.model_weekly_thresholds = vec![50];
    let now = T0;
    let opus = window(
        WindowKind::WeeklyModel {
            model: "Opus".into(),
        },
        60.0,
        Some(now + 24 * HOUR),
        now,
    );
    let odd = window(
        WindowKind::Other {
            key: "iguana_necktie".into(),
        },
        99.0,
        None,
        now,
    );
    let e = r.eval(&snapshot(now, vec![opus, odd], None), now);
    assert_eq!(kinds(&e), [(AlertKind::Threshold, Some(50))]);
    assert_eq!(e.alerts[0].window_id.as_deref(), Some("weekly:opus"));
    assert_eq!(e.alerts[0].title, "Weekly (Opus) limit: 60 % used");
}

#[test]
fn forecasts_are_worded_as_forecasts_and_re_announced_only_when_they_move() {
    let mut r = Runner::new();
    let now = T0;
    let reset = now + 3 * HOUR;
    let at = |pct: f64, full: Option<i64>, now: i64| {
        let mut s = snapshot(now, vec![session(pct, reset, now)], None);
        s.forecast.session_full_at_ms = full;
        s.forecast.basis = Some(ForecastBasis::AccountHistory);
        s
    };
    let e = r.eval(&at(30.0, Some(now + HOUR + 32 * MIN), now), now);
    assert_eq!(kinds(&e), [(AlertKind::Forecast, None)]);
    let f = &e.alerts[0];
    assert_eq!(f.title, "Forecast: session limit at 11:32");
    assert_eq!(
        f.body,
        "At this pace the session limit is reached at 11:32, 1 h 28 min before it resets at 13:00. Now at 30 %."
    );
    assert!(!f.body.contains("almost") && !f.title.contains("almost"));
    assert_eq!(f.level, Level::Warning);

    // Moves by 10 min (margin 15): quiet. By 20 min: said again.
    let later = now + 5 * MIN;
    assert!(r
        .eval(&at(33.0, Some(now + HOUR + 42 * MIN), later), later)
        .alerts
        .is_empty());
    let e = r.eval(&at(35.0, Some(now + HOUR + 52 * MIN), later), later);
    assert_eq!(kinds(&e), [(AlertKind::Forecast, None)]);
    assert!(e.alerts[0]
        .body
        .contains("reached at 11:52, 1 h 8 min before"));

    // Filling only 15 minutes before the reset (lead 20): not worth a notification.
    let mut r = Runner::new();
    assert!(r
        .eval(&at(30.0, Some(reset - 15 * MIN), now), now)
        .alerts
        .is_empty());
    // No fill before the reset: nothing.
    assert!(r.eval(&at(30.0, None, now), now).alerts.is_empty());
    // Switched off: nothing.
    let mut r = Runner::new();
    r.settings.forecast = false;
    assert!(r
        .eval(&at(30.0, Some(now + HOUR), now), now)
        .alerts
        .is_empty());
    // From local tokens: labelled as an estimate.
    let mut r = Runner::new();
    let mut s = at(30.0, Some(now + HOUR), now);
    s.forecast.basis = Some(ForecastBasis::LocalTokens);
    let e = r.eval(&s, now);
    assert!(e.alerts[0]
        .body
        .contains("(estimated from local transcripts)"));
}

#[test]
fn spend_against_a_cap_fires_the_highest_fraction_and_re_arms_each_month() {
    let mut r = Runner::new();
    let mut now = T0;
    let spend = |r: &mut Runner, used: f64, cap: Option<f64>, now: i64| {
        let snap = snapshot(now, vec![], Some(extra(Some(true), cap, Some(used), now)));
        r.eval(&snap, now)
    };
    assert!(spend(&mut r, 10.0, Some(50.0), now).alerts.is_empty());
    now += HOUR;
    let e = spend(&mut r, 26.0, Some(50.0), now);
    assert_eq!(kinds(&e), [(AlertKind::SpendCap, Some(50))]);
    assert_eq!(e.alerts[0].title, "Extra Usage: 50 % of your cap spent");
    assert_eq!(
        e.alerts[0].body,
        "$26.00 of your $50.00 monthly cap is spent (52 %)."
    );
    assert_eq!(e.alerts[0].level, Level::Info);
    now += HOUR;
    let e = spend(&mut r, 45.0, Some(50.0), now);
    assert_eq!(kinds(&e), [(AlertKind::SpendCap, Some(80))]);
    assert_eq!(e.alerts[0].level, Level::Warning);
    now += HOUR;
    let e = spend(&mut r, 50.0, Some(50.0), now);
    assert_eq!(kinds(&e), [(AlertKind::SpendCap, Some(100))]);
    assert_eq!(e.alerts[0].title, "Extra Usage cap reached");
    assert_eq!(e.alerts[0].level, Level::Critical);
    assert!(spend(&mut r, 50.0, Some(50.0), now + MIN).alerts.is_empty());

    // A new month: spend falls, everything is armed again.
    now += 24 * HOUR;
    assert!(spend(&mut r, 1.0, Some(50.0), now).alerts.is_empty());
    let e = spend(&mut r, 30.0, Some(50.0), now + HOUR);
    assert_eq!(kinds(&e), [(AlertKind::SpendCap, Some(50))]);

    // The cap is raised: said as a change, and the fractions refer to the new cap.
    let e = spend(&mut r, 30.0, Some(100.0), now + 2 * HOUR);
    assert_eq!(kinds(&e), [(AlertKind::ExtraUsageCapChanged, None)]);
    assert_eq!(
        e.alerts[0].body,
        "Extra Usage went from a monthly cap of $50.00 to a monthly cap of $100.00."
    );
    let e = spend(&mut r, 51.0, Some(100.0), now + 3 * HOUR);
    assert_eq!(kinds(&e), [(AlertKind::SpendCap, Some(50))]);
}

#[test]
fn spend_without_a_cap_fires_at_each_step_only_the_highest() {
    let mut r = Runner::new();
    let now = T0;
    let spend = |r: &mut Runner, used: f64, now: i64| {
        let snap = snapshot(now, vec![], Some(extra(Some(true), None, Some(used), now)));
        r.eval(&snap, now)
    };
    assert!(spend(&mut r, 10.0, now).alerts.is_empty());
    let e = spend(&mut r, 30.0, now + HOUR);
    assert_eq!(kinds(&e), [(AlertKind::SpendStep, Some(25))]);
    assert_eq!(e.alerts[0].title, "Extra Usage: $25 spent this month");
    assert_eq!(
        e.alerts[0].body,
        "$30.00 of Extra Usage spent this month, with no monthly cap."
    );
    let e = spend(&mut r, 80.0, now + 2 * HOUR);
    assert_eq!(kinds(&e), [(AlertKind::SpendStep, Some(75))]);
    assert!(spend(&mut r, 99.0, now + 3 * HOUR).alerts.is_empty());
    r.settings.spend_step_dollars = 10;
    let e = spend(&mut r, 101.0, now + 4 * HOUR);
    assert_eq!(kinds(&e), [(AlertKind::SpendStep, Some(100))]);
}

#[test]
fn extra_usage_turned_on_off_and_re_capped_is_said_from_the_second_observation() {
    let mut r = Runner::new();
    let now = T0;
    let eu = |enabled, cap, now| snapshot(now, vec![], Some(extra(enabled, cap, Some(0.0), now)));
    assert!(
        r.eval(&eu(Some(false), None, now), now).alerts.is_empty(),
        "baseline"
    );
    let e = r.eval(&eu(Some(true), None, now + MIN), now + MIN);
    assert_eq!(kinds(&e), [(AlertKind::ExtraUsageOn, None)]);
    assert_eq!(e.alerts[0].title, "Extra Usage was turned on");
    assert_eq!(
        e.alerts[0].body,
        "Use past your plan's limits is now billed, with no monthly cap."
    );
    assert_eq!(e.alerts[0].level, Level::Warning);
    // A source that does not know: no change.
    assert!(r
        .eval(&eu(None, None, now + 2 * MIN), now + 2 * MIN)
        .alerts
        .is_empty());
    let e = r.eval(&eu(Some(true), Some(20.0), now + 3 * MIN), now + 3 * MIN);
    assert_eq!(kinds(&e), [(AlertKind::ExtraUsageCapChanged, None)]);
    assert_eq!(
        e.alerts[0].body,
        "Extra Usage went from no monthly cap to a monthly cap of $20.00."
    );
    let e = r.eval(&eu(Some(false), None, now + 4 * MIN), now + 4 * MIN);
    assert_eq!(kinds(&e), [(AlertKind::ExtraUsageOff, None)]);
    assert_eq!(
        e.alerts[0].body,
        "Nothing more is billed; work will stop when a limit is reached."
    );
    // Switched off in settings: nothing.
    r.settings.extra_usage_changes = false;
    assert!(r
        .eval(&eu(Some(true), None, now + 5 * MIN), now + 5 * MIN)
        .alerts
        .is_empty());
}

#[test]
fn running_on_extra_usage_is_said_once_when_spend_grows_at_the_limit() {
    let mut r = Runner::new();
    let now = T0;
    let reset = now + 2 * HOUR;
    let at = |used: f64, now: i64| {
        snapshot(
            now,
            vec![session(100.0, reset, now)],
            Some(extra(Some(true), Some(50.0), Some(used), now)),
        )
    };
    let e = r.eval(&at(5.0, now), now);
    assert_eq!(kinds(&e), [(AlertKind::Threshold, Some(100))]);
    assert!(e.alerts[0]
        .body
        .contains("Extra Usage is on, so further use is billed to it"));
    let e = r.eval(&at(6.2, now + 5 * MIN), now + 5 * MIN);
    assert_eq!(kinds(&e), [(AlertKind::RunningOnExtraUsage, None)]);
    assert_eq!(e.alerts[0].title, "Now running on Extra Usage");
    assert_eq!(
        e.alerts[0].body,
        "The session limit is reached and Extra Usage is paying: $6.20 spent this month of your \
         $50.00 cap. The window resets at 12:00 (in 1 h 55 min)."
    );
    assert!(r
        .eval(&at(7.0, now + 10 * MIN), now + 10 * MIN)
        .alerts
        .is_empty());
}

#[test]
fn stale_figures_during_high_usage_are_said_once_per_outage() {
    let mut r = Runner::new();
    let now = T0;
    let reset = now + 3 * HOUR;
    let failing = |last_ok: i64| SourceStatus {
        source: Source::Account,
        configured: true,
        last_success_ms: Some(last_ok),
        cooldown_until_ms: None,
        error: Some("rate limited by Anthropic".to_owned()),
    };
    let mut s = snapshot(now, vec![session(80.0, reset, now)], None);
    r.eval(&s, now);
    // 20 minutes of failures: not yet (30 by default).
    s.sources = vec![failing(now)];
    assert!(r.eval(&s, now + 20 * MIN).alerts.is_empty());
    let e = r.eval(&s, now + 31 * MIN);
    assert_eq!(kinds(&e), [(AlertKind::Stale, None)]);
    assert_eq!(
        e.alerts[0].body,
        "Headroom has not read your account's usage since 10:00 (rate limited by Anthropic). \
         Session was at 80 % when last seen; alerts may come late until this is fixed."
    );
    assert!(
        r.eval(&s, now + 40 * MIN).alerts.is_empty(),
        "once per outage"
    );
    // Recovers, then fails again: a new outage.
    s.sources = vec![account_ok(now + 45 * MIN)];
    assert!(r.eval(&s, now + 45 * MIN).alerts.is_empty());
    s.sources = vec![failing(now + 45 * MIN)];
    assert_eq!(
        kinds(&r.eval(&s, now + 80 * MIN)),
        [(AlertKind::Stale, None)]
    );

    // Low usage: an outage is not worth a notification.
    let mut r = Runner::new();
    let mut s = snapshot(now, vec![session(20.0, reset, now)], None);
    s.sources = vec![failing(now - 2 * HOUR)];
    assert!(r.eval(&s, now).alerts.is_empty());
}

#[test]
fn quiet_hours_hold_delivery_back_but_keep_the_alerts_and_never_repeat_them() {
    let mut r = Runner::new();
    r.settings.quiet_hours = Some(QuietHours {
        start: TimeOfDay::try_from("22:00".to_owned()).unwrap(),
        end: TimeOfDay::try_from("07:00".to_owned()).unwrap(),
    });
    // 23:00 in Berlin is 22:00 UTC.
    r.zone = Zone::Named(chrono_tz::Europe::Berlin);
    let night = T0 + 12 * HOUR; // 22:00 UTC, 23:00 Berlin
    let reset = night + 4 * HOUR;
    let e = r.eval(
        &snapshot(night, vec![session(92.0, reset, night)], None),
        night,
    );
    assert_eq!(kinds(&e), [(AlertKind::Threshold, Some(90))]);
    assert_eq!(
        e.delivery,
        Delivery::Suppressed {
            why: Suppression::QuietHours
        }
    );
    assert!(
        e.alerts[0].body.contains("resets tomorrow at 03:00"),
        "{}",
        e.alerts[0].body
    );
    // Morning: the same window says nothing again; a new threshold is delivered.
    let morning = night + 9 * HOUR + 30 * MIN; // 08:30 Berlin
    let e = r.eval(
        &snapshot(morning, vec![session(93.0, reset, morning)], None),
        morning,
    );
    assert!(e.alerts.is_empty());
    let e = r.eval(
        &snapshot(morning, vec![session(100.0, reset, morning)], None),
        morning,
    );
    assert!(delivered(&e).is_some());
}

#[test]
fn snooze_holds_delivery_until_it_ends() {
    let mut r = Runner::new();
    let now = T0;
    r.settings.snoozed_until_ms = Some(now + HOUR);
    let reset = now + 4 * HOUR;
    let e = r.eval(&snapshot(now, vec![session(76.0, reset, now)], None), now);
    assert_eq!(kinds(&e), [(AlertKind::Threshold, Some(75))]);
    assert_eq!(
        e.delivery,
        Delivery::Suppressed {
            why: Suppression::Snoozed {
                until_ms: now + HOUR
            }
        }
    );
    let e = r.eval(
        &snapshot(now, vec![session(91.0, reset, now)], None),
        now + 30 * MIN,
    );
    assert!(matches!(e.delivery, Delivery::Suppressed { .. }));
    // Snooze over: the 75 and 90 % alerts stay said; the next one is delivered.
    let after = now + HOUR + MIN;
    assert!(r
        .eval(
            &snapshot(after, vec![session(95.0, reset, after)], None),
            after
        )
        .alerts
        .is_empty());
    let e = r.eval(
        &snapshot(after, vec![session(100.0, reset, after)], None),
        after,
    );
    assert_eq!(delivered(&e).unwrap().summary, "Session limit reached");
    // "Until reset" snoozes to the session's reset.
    let s = snapshot(after, vec![session(100.0, reset, after)], None);
    assert_eq!(
        headroom_core::alerts::snooze_until_reset(&s, after),
        Some(reset)
    );
}

#[test]
fn one_evaluation_one_notification_most_severe_first() {
    let mut r = Runner::new();
    r.settings.reset_weekly = true;
    let now = T0;
    // A jump straight to 100 % on both windows with Extra Usage off and a forecast pending.
    let snap = snapshot(
        now,
        vec![
            session(100.0, now + HOUR, now),
            weekly(80.0, now + 24 * HOUR, now),
        ],
        Some(extra(Some(false), None, None, now)),
    );
    let e = r.eval(&snap, now);
    assert_eq!(
        kinds(&e),
        [
            (AlertKind::ExtraUsageTrap, Some(90)),
            (AlertKind::Threshold, Some(100)),
            (AlertKind::Threshold, Some(75)),
        ]
    );
    let n = delivered(&e).unwrap();
    assert_eq!(n.summary, "Session at 100 % and Extra Usage is off");
    assert_eq!(n.body.lines().count(), 3);
    assert!(n
        .body
        .starts_with("Work is stopped until the window resets at 11:00 (in 1 h)."));
    assert!(n
        .body
        .lines()
        .last()
        .unwrap()
        .starts_with("Weekly usage passed 75 %"));
}

#[test]
fn local_estimates_say_so_and_state_survives_a_json_round_trip() {
    let mut r = Runner::new();
    let now = T0;
    let mut w = session(77.0, now + HOUR, now);
    w.source = Source::LocalEstimate;
    let e = r.eval(&snapshot(now, vec![w], None), now);
    assert!(e.alerts[0]
        .body
        .contains("now 77 % (estimated from local transcripts)"));
    let json = serde_json::to_string(&r.state).unwrap();
    let back: EngineState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r.state);
    // Old or partial state files load.
    let partial: EngineState = serde_json::from_str(r#"{"windows":{}}"#).unwrap();
    assert_eq!(partial, EngineState::default());
}
