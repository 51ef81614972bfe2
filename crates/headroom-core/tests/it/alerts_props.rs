//! Property tests of the alert engine over random snapshot sequences.
//!
//! The generator plays a realistic account: time moves forward by 1–90 minutes a step; each
//! window's usage mostly rises (and sometimes dips a little); its reset time jitters by up to
//! two minutes around the true one; when the true reset passes, a new instance starts with low
//! usage and a reset time one window length later. Sometimes the front end restarts (the
//! state goes through JSON) and sometimes Extra Usage flips. The generator knows the true
//! instance of every snapshot, and the properties are checked against that:
//! - never two threshold alerts for the same threshold in one instance;
//! - never a lower threshold after a higher one in the same instance;
//! - resets re-arm: in every instance the last threshold announced is exactly the highest
//!   threshold the usage seen in that instance reached;
//! - the trap at most once per instance, a reset alert only for an instance that had fired;
//! - every evaluation delivers at most one notification, led by its most severe alert.

use std::collections::BTreeMap;

use crate::support_alerts::*;
use headroom_core::alerts::{evaluate, AlertKind, Delivery, EngineState, Level};
use headroom_core::settings::AlertSettings;
use headroom_core::snapshot::{UsageSnapshot, Window, WindowKind};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Step {
    minutes: i64,
    /// Usage change per window, points.
    deltas: [f64; 2],
    jitter_s: [i64; 2],
    restart: bool,
    extra_on: Option<bool>,
    fresh_usage: [f64; 2],
}

fn step() -> impl Strategy<Value = Step> {
    (
        1i64..=90,
        [-4.0f64..30.0, -4.0f64..12.0],
        [-120i64..=120, -120i64..=120],
        prop::bool::weighted(0.1),
        prop_oneof![Just(None), Just(Some(true)), Just(Some(false))],
        [0.0f64..20.0, 0.0f64..20.0],
    )
        .prop_map(
            |(minutes, deltas, jitter_s, restart, extra_on, fresh_usage)| Step {
                minutes,
                deltas,
                jitter_s,
                restart,
                extra_on,
                fresh_usage,
            },
        )
}

fn thresholds() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::btree_set(1u8..=130, 0..5).prop_map(|s| s.into_iter().collect())
}

/// The truth about one window as the generator plays it.
struct Truth {
    kind: WindowKind,
    period: i64,
    instance: u32,
    reset: i64,
    usage: f64,
}

#[derive(Default)]
struct Seen {
    /// Thresholds announced, in order.
    fired: Vec<u32>,
    max_usage: f64,
    traps: u32,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn thresholds_are_once_per_instance_increasing_and_re_armed(
        steps in prop::collection::vec(step(), 1..120),
        session_t in thresholds(),
        weekly_t in thresholds(),
        trap_percent in 50u8..=100,
    ) {
        let settings = AlertSettings {
            session_thresholds: session_t.clone(),
            model_weekly_thresholds: weekly_t.clone(),
            trap_percent,
            reset_weekly: true,
            ..AlertSettings::default()
        };
        let mut now = T0;
        let mut truths = [
            Truth { kind: WindowKind::Session, period: 5 * HOUR, instance: 0, reset: T0 + 5 * HOUR, usage: 0.0 },
            Truth {
                kind: WindowKind::WeeklyModel { model: "Opus".into() },
                period: 7 * 24 * HOUR, instance: 0, reset: T0 + 50 * HOUR, usage: 0.0,
            },
        ];
        let mut state = EngineState::default();
        let mut seen: BTreeMap<(String, u32), Seen> = BTreeMap::new();
        let mut ended_with_threshold: BTreeMap<(String, u32), bool> = BTreeMap::new();

        for s in &steps {
            now += s.minutes * MIN;
            let mut windows: Vec<Window> = Vec::new();
            for (i, t) in truths.iter_mut().enumerate() {
                if now >= t.reset {
                    t.instance += 1;
                    t.reset = now + t.period;
                    t.usage = s.fresh_usage[i];
                } else {
                    t.usage = (t.usage + s.deltas[i]).clamp(0.0, 130.0);
                }
                windows.push(window(t.kind.clone(), t.usage, Some(t.reset + s.jitter_s[i] * 1000), now));
            }
            let snap: UsageSnapshot = snapshot(now, windows.clone(), Some(extra(s.extra_on, None, None, now)));
            if s.restart {
                let json = serde_json::to_string(&state).unwrap();
                state = serde_json::from_str(&json).unwrap();
            }
            let e = evaluate(&snap, &state, &settings, now, utc());
            state = e.state.clone();

            // One notification at most, led by the most severe alert.
            match &e.delivery {
                Delivery::Deliver { notification } => {
                    prop_assert_eq!(&notification.summary, &e.alerts[0].title);
                    prop_assert_eq!(notification.body.lines().count(), e.alerts.len());
                    let max = e.alerts.iter().map(|a| a.level).max().unwrap_or(Level::Info);
                    prop_assert_eq!(e.alerts[0].level, max);
                    prop_assert_eq!(notification.level, max);
                }
                Delivery::Nothing => prop_assert!(e.alerts.is_empty()),
                Delivery::Suppressed { .. } => prop_assert!(false, "no quiet hours or snooze set"),
            }
            for pair in e.alerts.windows(2) {
                prop_assert!(pair[0].level >= pair[1].level);
            }

            for (t, w) in truths.iter().zip(&windows) {
                let key = (w.id.clone(), t.instance);
                let mine: Vec<_> = e.alerts.iter().filter(|a| a.window_id.as_deref() == Some(&w.id)).collect();
                for a in mine.iter().filter(|a| a.kind == AlertKind::Reset) {
                    prop_assert!(t.instance > 0);
                    let before = (w.id.clone(), t.instance - 1);
                    let had = seen.get(&before).is_some_and(|p| !p.fired.is_empty());
                    prop_assert!(had, "a reset of {:?} that never fired", before);
                    prop_assert_eq!(a.instance.as_deref().map(|i| i.starts_with(&w.id)), Some(true));
                    let said = ended_with_threshold.insert(before.clone(), true);
                    prop_assert!(said.is_none(), "reset of {:?} said twice", before);
                }
                let entry = seen.entry(key.clone()).or_default();
                entry.max_usage = entry.max_usage.max(t.usage);
                for a in &mine {
                    match a.kind {
                        AlertKind::Threshold => {
                            let th = a.threshold.unwrap();
                            prop_assert!(!entry.fired.contains(&th), "threshold {} twice in {:?}", th, key);
                            if let Some(&last) = entry.fired.last() {
                                prop_assert!(th > last, "{} after {} in {:?}", th, last, key);
                            }
                            prop_assert!(t.usage >= f64::from(th));
                            entry.fired.push(th);
                        }
                        AlertKind::ExtraUsageTrap => {
                            entry.traps += 1;
                            prop_assert!(entry.traps <= 1);
                            prop_assert!(t.usage >= f64::from(trap_percent));
                            prop_assert_eq!(s.extra_on, Some(false));
                            prop_assert_eq!(&t.kind, &WindowKind::Session);
                        }
                        _ => {}
                    }
                }
            }
        }

        // Every instance ends having announced exactly its highest crossed threshold.
        for ((id, instance), s) in &seen {
            let list = if id == "session" { &session_t } else { &weekly_t };
            let highest = list.iter().copied().filter(|&t| s.max_usage >= f64::from(t)).max();
            prop_assert_eq!(
                s.fired.last().copied(),
                highest.map(u32::from),
                "{}#{}: fired {:?}, max usage {}",
                id, instance, &s.fired, s.max_usage
            );
        }
    }
}
