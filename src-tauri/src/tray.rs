//! The tray: a live icon, a title/tooltip ("62 % · resets 14:05"), and a menu of read-only
//! rows and a few actions. The rows' text comes from [`TrayTexts::from`] (pure, tested); on
//! each new view only the items whose text changed are touched, and the icon is redrawn only
//! when its rounded spec changes: rebuilding a menu costs a few ms and many thread hand-offs
//! per refresh, updating an item does not.

use std::sync::Mutex;

use headroom_core::account::extra_usage;
use headroom_core::first_run;
use headroom_core::report::Zone;
use headroom_core::snapshot::{ExtraUsage, Plan, Source, UsageSnapshot, Window};
use headroom_core::text;
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Runtime};

use crate::icon::{self, IconSpec, Theme};
use crate::refresh::Published;

pub const OPEN_SETTINGS: &str = "open-settings";
/// The first row while no source is set up: opens the pane at Sources.
pub const CONNECT: &str = "connect-source";
pub const REFRESH: &str = "refresh";
pub const SNOOZE: &str = "snooze";
pub const ENABLE_EXTRA: &str = "enable-extra-usage";
pub const QUIT: &str = "quit";

/// Everything the tray shows, as text.
#[derive(Debug, Clone, PartialEq)]
pub struct TrayTexts {
    /// Title and tooltip: `62 % · resets 14:05`.
    pub title: String,
    /// A first, read-only row after the refresh task failed and restarted.
    pub failure: Option<String>,
    /// While no source is set up: the row that says so and opens the pane at Sources.
    pub connect: Option<String>,
    pub session: String,
    pub weekly: String,
    /// Per-model weekly windows in use: (window id, row text).
    pub models: Vec<(String, String)>,
    pub extra: String,
    pub source: String,
    /// "Plan: Ultra".
    pub plan: String,
    pub snooze: String,
    /// "Enable Extra Usage…" is offered only while the account says it is off.
    pub offer_extra: bool,
    pub icon: IconSpec,
}

fn window_row(label: &str, w: Option<&Window>, now: i64, zone: Zone) -> String {
    match w {
        None => format!("{label}: no figures yet"),
        Some(w) => match w.resets_at_ms {
            Some(at) if at > now => format!(
                "{label} {} · resets {}",
                text::percent(w.utilization),
                text::clock(at, now, zone)
            ),
            _ => format!("{label} {}", text::percent(w.utilization)),
        },
    }
}

/// Extra Usage in a row: on with its spend (over the cap when it is), or off with the
/// account's reason in words (`extra_usage::disabled_reason_text`, never the code).
fn extra_row(e: &ExtraUsage) -> String {
    match e.enabled {
        Some(true) => {
            let money = |v: f64| text::money(v, &e.currency);
            match (e.used, e.monthly_limit) {
                (Some(used), Some(cap)) => match extra_usage::over_cap(e) {
                    Some(over) => format!(
                        "Extra Usage on · {} of {}, {} over the cap",
                        money(used),
                        money(cap),
                        money(over)
                    ),
                    None => format!("Extra Usage on · {} of {}", money(used), money(cap)),
                },
                (Some(used), None) => format!("Extra Usage on · {} spent, no cap", money(used)),
                (None, Some(cap)) => format!("Extra Usage on · cap {}", money(cap)),
                (None, None) => "Extra Usage on · no cap".to_owned(),
            }
        }
        Some(false) => match &e.disabled_reason {
            Some(code) => format!(
                "Extra Usage off · {}",
                extra_usage::disabled_reason_text(code)
            ),
            None => "Extra Usage off".to_owned(),
        },
        None => "Extra Usage: unknown".to_owned(),
    }
}

/// An Enterprise seat's headline: "$42.00 of $1,000.00 this month", over the limit when it is.
fn spend_text(e: &ExtraUsage) -> String {
    let money = |v: f64| text::money(v, &e.currency);
    match (e.used, e.monthly_limit) {
        (Some(used), Some(limit)) => match extra_usage::over_cap(e) {
            Some(over) => format!(
                "{} of {} this month, {} over the limit",
                money(used),
                money(limit),
                money(over)
            ),
            None => format!("{} of {} this month", money(used), money(limit)),
        },
        (Some(used), None) => format!("{} this month", money(used)),
        (None, Some(limit)) => format!("limit {}", money(limit)),
        (None, None) => "not reported".to_owned(),
    }
}

fn age(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match minutes {
        0 => "just now".to_owned(),
        1..=59 => format!("{minutes} min ago"),
        _ => format!("{} ago", text::duration(ms)),
    }
}

impl TrayTexts {
    /// The texts of a published view at `now`.
    pub fn of(published: &Published, now: i64, theme: Theme) -> TrayTexts {
        let zone = published.zone();
        let mut texts = TrayTexts::from(
            &published.snapshot,
            now,
            zone,
            published.settings.alerts.snoozed_until_ms,
            theme,
        );
        texts.failure = published.failure.as_ref().map(|f| f.describe(now, zone));
        texts
    }

    pub fn from(
        snapshot: &UsageSnapshot,
        now: i64,
        zone: Zone,
        snoozed_until: Option<i64>,
        theme: Theme,
    ) -> TrayTexts {
        let session = snapshot.session.as_ref();
        let eu = snapshot.extra_usage.as_ref();
        let enterprise_spend = eu.filter(|_| snapshot.plan == Plan::Enterprise);
        // With no session window on the plan (Ultra) or running (Pro, Max), the weekly
        // window is the figure that stops work: the title and the icon show it.
        let headline = session.or(snapshot
            .weekly
            .as_ref()
            .filter(|_| snapshot.session_absent.is_some()));
        let title = match (headline, enterprise_spend) {
            (Some(w), _) => {
                let name = if w.kind == headroom_core::snapshot::WindowKind::Session {
                    String::new()
                } else {
                    format!("{} ", w.label)
                };
                match w.resets_at_ms {
                    Some(at) if at > now => format!(
                        "{name}{} · resets {}",
                        text::percent(w.utilization),
                        text::clock(at, now, zone)
                    ),
                    _ => format!("{name}{}", text::percent(w.utilization)),
                }
            }
            (None, Some(e)) => format!("Spend {}", spend_text(e)),
            (None, None) => "Headroom".to_owned(),
        };
        let models = snapshot
            .model_windows_in_use()
            .map(|w| (w.id.clone(), window_row(&w.label, Some(w), now, zone)))
            .collect();
        let extra = match (enterprise_spend, eu) {
            (Some(e), _) => format!("Spend {}", spend_text(e)),
            (None, None) => "Extra Usage: unknown".to_owned(),
            (None, Some(e)) => extra_row(e),
        };
        // The source of the session figure, else of any figure; Claude Code's cached answer
        // with the time it was fetched, never as current.
        let shown = session.or(snapshot.weekly.as_ref());
        let mut source = match shown {
            Some(w) if w.source == Source::ClaudeCodeCache => format!(
                "Source: {} · as of {}",
                w.source.label(),
                text::clock(w.observed_at_ms, now, zone)
            ),
            Some(w) => format!("Source: {} · {}", w.source.label(), age(w.age_ms(now))),
            None => "Source: none yet".to_owned(),
        };
        if snapshot.stale && shown.is_some() {
            source.push_str(" (stale)");
        }
        let snooze = match snoozed_until.filter(|&u| u > now) {
            Some(until) => format!(
                "Resume alerts (snoozed until {})",
                text::clock(until, now, zone)
            ),
            None => "Snooze alerts 1 h".to_owned(),
        };
        let over = |w: Option<&Window>| w.is_some_and(|w| w.utilization >= 100.0);
        let on_extra_usage = eu.is_some_and(|e| e.enabled == Some(true))
            && (over(session) || over(snapshot.weekly.as_ref()));
        TrayTexts {
            title,
            failure: None,
            connect: first_run::tray_row(snapshot),
            session: match (session, snapshot.session_absent) {
                (None, Some(why)) => format!("Session: {}", why.text()),
                _ => window_row("Session", session, now, zone),
            },
            weekly: window_row("Weekly", snapshot.weekly.as_ref(), now, zone),
            models,
            extra,
            source,
            plan: format!("Plan: {}", snapshot.plan.label()),
            snooze,
            offer_extra: eu.is_some_and(|e| e.enabled == Some(false)),
            icon: IconSpec {
                percent: headline.map(|w| w.utilization),
                stale: snapshot.stale,
                on_extra_usage,
                theme,
            },
        }
    }
}

/// The live tray and what it currently shows.
pub struct Tray<R: Runtime> {
    icon: TrayIcon<R>,
    menu: Menu<R>,
    failure: MenuItem<R>,
    connect: MenuItem<R>,
    session: MenuItem<R>,
    weekly: MenuItem<R>,
    extra: MenuItem<R>,
    source: MenuItem<R>,
    plan: MenuItem<R>,
    snooze: MenuItem<R>,
    enable_extra: MenuItem<R>,
    shown: Mutex<Shown<R>>,
    theme: Theme,
}

struct Shown<R: Runtime> {
    texts: Option<TrayTexts>,
    /// The optional first rows in the menu: failure, connect.
    failure_in_menu: bool,
    connect_in_menu: bool,
    models: Vec<(String, MenuItem<R>)>,
    enable_extra_in_menu: bool,
}

fn row<R: Runtime>(app: &AppHandle<R>, id: &str, text: &str) -> tauri::Result<MenuItem<R>> {
    MenuItem::with_id(app, id, text, false, None::<&str>)
}

fn image(spec: &IconSpec) -> Image<'static> {
    let size = icon::tray_size();
    Image::new_owned(icon::render(spec, size), size, size)
}

impl<R: Runtime> Tray<R> {
    pub fn create(app: &AppHandle<R>, theme: Theme) -> tauri::Result<Tray<R>> {
        let session = row(app, "row-session", "Session: no figures yet")?;
        let weekly = row(app, "row-weekly", "Weekly: no figures yet")?;
        let extra = row(app, "row-extra", "Extra Usage: unknown")?;
        let source = row(app, "row-source", "Source: none yet")?;
        let plan = row(app, "row-plan", "Plan: unknown")?;
        let open = MenuItem::with_id(app, OPEN_SETTINGS, "Open settings…", true, None::<&str>)?;
        let refresh = MenuItem::with_id(app, REFRESH, "Refresh now", true, None::<&str>)?;
        let snooze = MenuItem::with_id(app, SNOOZE, "Snooze alerts 1 h", true, None::<&str>)?;
        let enable_extra =
            MenuItem::with_id(app, ENABLE_EXTRA, "Enable Extra Usage…", true, None::<&str>)?;
        let quit = MenuItem::with_id(app, QUIT, "Quit Headroom", true, None::<&str>)?;
        let failure = row(app, "row-failure", "")?;
        let connect = MenuItem::with_id(app, CONNECT, first_run::CONNECT, true, None::<&str>)?;
        let menu = Menu::with_items(
            app,
            &[
                &session,
                &weekly,
                &extra,
                &source,
                &plan,
                &PredefinedMenuItem::separator(app)?,
                &open,
                &refresh,
                &snooze,
                &PredefinedMenuItem::separator(app)?,
                &quit,
            ],
        )?;
        let start = IconSpec {
            percent: None,
            stale: false,
            on_extra_usage: false,
            theme,
        };
        let icon = TrayIconBuilder::with_id("headroom")
            .icon(image(&start))
            .tooltip("Headroom")
            .title("Headroom")
            .menu(&menu)
            // Left click opens the menu too: the menu is the product here.
            .show_menu_on_left_click(true)
            .on_menu_event(|app, event| crate::on_menu(app, event.id().as_ref()))
            .build(app)?;
        Ok(Tray {
            icon,
            menu,
            failure,
            connect,
            session,
            weekly,
            extra,
            source,
            plan,
            snooze,
            enable_extra,
            shown: Mutex::new(Shown {
                texts: None,
                failure_in_menu: false,
                connect_in_menu: false,
                models: Vec::new(),
                enable_extra_in_menu: false,
            }),
            theme,
        })
    }

    /// Shows a new view, touching only what changed.
    pub fn show(&self, published: &Published, now: i64) {
        let texts = TrayTexts::of(published, now, self.theme);
        // A panic while the lock was held (the refresh task is supervised and restarts)
        // must not freeze the tray: what it guards is rebuilt from `texts` below.
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        let before = shown.texts.take();
        if let Err(e) = self.apply(&mut shown, before.as_ref(), &texts) {
            tracing::warn!("tray: {e}");
        }
        shown.texts = Some(texts);
    }

    fn apply(
        &self,
        shown: &mut Shown<R>,
        before: Option<&TrayTexts>,
        now: &TrayTexts,
    ) -> tauri::Result<()> {
        let changed = |f: fn(&TrayTexts) -> &String| before.is_none_or(|b| f(b) != f(now));
        // The optional first rows: the failure, then "Connect an account source…".
        let mut top = 0;
        for (item, text, in_menu) in [
            (&self.failure, &now.failure, &mut shown.failure_in_menu),
            (&self.connect, &now.connect, &mut shown.connect_in_menu),
        ] {
            match text {
                Some(t) => {
                    if item.text()? != *t {
                        item.set_text(t)?;
                    }
                    if !*in_menu {
                        self.menu.insert(item, top)?;
                        *in_menu = true;
                    }
                    top += 1;
                }
                None if *in_menu => {
                    self.menu.remove(item)?;
                    *in_menu = false;
                }
                None => {}
            }
        }
        if changed(|t| &t.title) {
            self.icon.set_tooltip(Some(&now.title))?;
            self.icon.set_title(Some(&now.title))?;
        }
        if before.is_none_or(|b| b.icon.key() != now.icon.key()) {
            self.icon.set_icon(Some(image(&now.icon)))?;
        }
        for (item, f) in [
            (
                &self.session,
                (|t: &TrayTexts| &t.session) as fn(&TrayTexts) -> &String,
            ),
            (&self.weekly, |t| &t.weekly),
            (&self.extra, |t| &t.extra),
            (&self.source, |t| &t.source),
            (&self.plan, |t| &t.plan),
            (&self.snooze, |t| &t.snooze),
        ] {
            if changed(f) {
                item.set_text(f(now))?;
            }
        }
        // Per-model rows sit after "Weekly" (position 2 below the first rows); add, drop or
        // rename as needed.
        let wanted: Vec<&String> = now.models.iter().map(|(id, _)| id).collect();
        let mut kept = Vec::new();
        for (id, item) in shown.models.drain(..) {
            if wanted.contains(&&id) {
                kept.push((id, item));
            } else {
                self.menu.remove(&item)?;
            }
        }
        for (i, (id, label)) in now.models.iter().enumerate() {
            match kept.iter().position(|(k, _)| k == id) {
                Some(at) => {
                    let item = &kept[at].1;
                    if item.text()? != *label {
                        item.set_text(label)?;
                    }
                }
                None => {
                    let item = row(self.icon.app_handle(), &format!("row-model-{id}"), label)?;
                    self.menu.insert(&item, top + 2 + i)?;
                    kept.insert(i.min(kept.len()), (id.clone(), item));
                }
            }
        }
        shown.models = kept;
        if now.offer_extra != shown.enable_extra_in_menu {
            if now.offer_extra {
                // After "Snooze alerts": first rows, the five rows (session, weekly, extra,
                // source, plan), models, separator, open, refresh, snooze.
                let at = top + 5 + shown.models.len() + 4;
                self.menu.insert(&self.enable_extra, at)?;
            } else {
                self.menu.remove(&self.enable_extra)?;
            }
            shown.enable_extra_in_menu = now.offer_extra;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use headroom_core::snapshot::{ExtraUsage, Source, WindowKind};

    const NOW: i64 = 1_772_532_000_000; // 2026-03-03 (Tue) 10:00 UTC

    fn utc() -> Zone {
        Zone::Named(chrono_tz::UTC)
    }

    fn window(
        id: &str,
        label: &str,
        kind: WindowKind,
        pct: f64,
        reset_in_min: Option<i64>,
    ) -> Window {
        Window {
            id: id.into(),
            label: label.into(),
            kind,
            utilization: pct,
            resets_at_ms: reset_in_min.map(|m| NOW + m * 60_000),
            source: Source::Statusline,
            observed_at_ms: NOW - 2 * 60_000,
        }
    }

    fn snapshot() -> UsageSnapshot {
        let session = window("session", "Session", WindowKind::Session, 62.4, Some(245));
        let weekly = window(
            "weekly",
            "Weekly",
            WindowKind::Weekly,
            41.0,
            Some(6 * 24 * 60 - 60),
        );
        let opus = window(
            "weekly:opus",
            "Weekly (Opus)",
            WindowKind::WeeklyModel {
                model: "Opus".into(),
            },
            12.0,
            Some(6 * 24 * 60 - 60),
        );
        let sonnet = window(
            "weekly:sonnet",
            "Weekly (Sonnet)",
            WindowKind::WeeklyModel {
                model: "Sonnet".into(),
            },
            0.0,
            None,
        );
        UsageSnapshot {
            taken_at_ms: NOW,
            session: Some(session.clone()),
            weekly: Some(weekly.clone()),
            windows: vec![session, weekly, opus, sonnet],
            extra_usage: Some(ExtraUsage {
                enabled: Some(false),
                monthly_limit: None,
                used: None,
                currency: "USD".into(),
                balance: None,
                disabled_reason: None,
                source: Source::Account,
                observed_at_ms: NOW,
            }),
            ..UsageSnapshot::default()
        }
    }

    #[test]
    fn rows_read_like_the_issue() {
        let t = TrayTexts::from(&snapshot(), NOW, utc(), None, Theme::Dark);
        assert_eq!(t.title, "62 % · resets 14:05");
        assert_eq!(t.session, "Session 62 % · resets 14:05");
        assert_eq!(t.weekly, "Weekly 41 % · resets Mon 09:00");
        // Only the model window in use.
        assert_eq!(
            t.models,
            vec![(
                "weekly:opus".to_owned(),
                "Weekly (Opus) 12 % · resets Mon 09:00".to_owned()
            )]
        );
        assert_eq!(t.extra, "Extra Usage off");
        assert_eq!(t.source, "Source: Claude Code statusline · 2 min ago");
        assert_eq!(t.snooze, "Snooze alerts 1 h");
        assert!(t.offer_extra);
        assert_eq!(t.icon.percent, Some(62.4));
        assert!(!t.icon.stale && !t.icon.on_extra_usage);
    }

    /// Ultra: no session figure, the row says why, and the weekly window is the headline.
    #[test]
    fn no_session_window_says_why_and_the_weekly_leads() {
        let mut s = snapshot();
        s.session = None;
        s.windows.retain(|w| w.id != "session");
        s.plan = Plan::Ultra;
        s.session_absent = Some(headroom_core::snapshot::SessionAbsence::NoLimitOnPlan);
        let t = TrayTexts::from(&s, NOW, utc(), None, Theme::Dark);
        assert_eq!(t.session, "Session: no 5-hour limit on your plan");
        assert_eq!(t.plan, "Plan: Ultra");
        assert_eq!(t.title, "Weekly 41 % · resets Mon 09:00");
        assert_eq!(t.icon.percent, Some(41.0));
        s.plan = Plan::Pro;
        s.session_absent = Some(headroom_core::snapshot::SessionAbsence::NotRunning);
        let t = TrayTexts::from(&s, NOW, utc(), None, Theme::Dark);
        assert_eq!(t.session, "Session: no session running");
        assert_eq!(t.plan, "Plan: Pro");
    }

    /// Enterprise: spend against the limit is the headline; off reasons are words; spend past
    /// the cap is over it.
    #[test]
    fn enterprise_spend_off_reasons_and_over_the_cap() {
        let mut s = UsageSnapshot {
            taken_at_ms: NOW,
            plan: Plan::Enterprise,
            session_absent: Some(headroom_core::snapshot::SessionAbsence::NoLimitOnPlan),
            extra_usage: Some(ExtraUsage {
                enabled: Some(true),
                monthly_limit: Some(1000.0),
                used: Some(42.0),
                currency: "USD".into(),
                balance: None,
                disabled_reason: None,
                source: Source::Account,
                observed_at_ms: NOW,
            }),
            ..UsageSnapshot::default()
        };
        let t = TrayTexts::from(&s, NOW, utc(), None, Theme::Dark);
        assert_eq!(t.title, "Spend $42.00 of $1,000.00 this month");
        assert_eq!(t.extra, "Spend $42.00 of $1,000.00 this month");
        assert_eq!(t.plan, "Plan: Enterprise");
        s.plan = Plan::Max;
        if let Some(e) = s.extra_usage.as_mut() {
            e.monthly_limit = Some(50.0);
            e.used = Some(62.5);
        }
        let t = TrayTexts::from(&s, NOW, utc(), None, Theme::Dark);
        assert_eq!(
            t.extra,
            "Extra Usage on · $62.50 of $50.00, $12.50 over the cap"
        );
        if let Some(e) = s.extra_usage.as_mut() {
            e.enabled = Some(false);
            e.disabled_reason = Some("org_spend_cap_reached".into());
        }
        let t = TrayTexts::from(&s, NOW, utc(), None, Theme::Dark);
        assert_eq!(
            t.extra,
            "Extra Usage off · your organization's spending cap is reached"
        );
    }

    /// Claude Code's cached answer: its time, never "just now".
    #[test]
    fn claude_codes_cached_answer_shows_when_it_was_fetched() {
        let mut s = snapshot();
        for w in s.windows.iter_mut().chain(s.session.iter_mut()) {
            w.source = Source::ClaudeCodeCache;
            w.observed_at_ms = NOW - 26 * 3_600_000;
        }
        s.stale = true;
        let t = TrayTexts::from(&s, NOW, utc(), None, Theme::Dark);
        assert_eq!(
            t.source,
            "Source: Claude Code's last reading · as of 2 Mar 08:00 (stale)"
        );
    }

    #[test]
    fn extra_usage_on_with_and_without_cap() {
        let mut s = snapshot();
        let eu = s.extra_usage.as_mut().map(|e| {
            e.enabled = Some(true);
            e.used = Some(12.3);
            e.monthly_limit = Some(50.0);
        });
        assert!(eu.is_some());
        let t = TrayTexts::from(&s, NOW, utc(), None, Theme::Dark);
        assert_eq!(t.extra, "Extra Usage on · $12.30 of $50.00");
        assert!(!t.offer_extra);
        assert!(
            !t.icon.on_extra_usage,
            "below the limit Extra Usage is not carrying anyone"
        );
        if let Some(e) = s.extra_usage.as_mut() {
            e.monthly_limit = None;
        }
        if let Some(w) = s.session.as_mut() {
            w.utilization = 100.0;
        }
        let t = TrayTexts::from(&s, NOW, utc(), None, Theme::Dark);
        assert_eq!(t.extra, "Extra Usage on · $12.30 spent, no cap");
        assert!(t.icon.on_extra_usage);
    }

    fn published(snapshot: UsageSnapshot) -> Published {
        let mut settings = headroom_core::settings::Settings::default();
        settings.general.timezone = Some("UTC".parse().unwrap());
        Published {
            snapshot,
            refreshed_at_ms: NOW,
            settings,
            settings_notice: None,
            failure: None,
            busy: None,
        }
    }

    #[test]
    fn a_failed_and_restarted_task_gets_a_first_row() {
        let mut p = published(snapshot());
        let t = TrayTexts::of(&p, NOW, Theme::Dark);
        assert_eq!(t.failure, None);
        p.failure = Some(crate::supervise::TaskFailure {
            message: "attempt to add with overflow".into(),
            failed_at_ms: NOW - 5 * 60_000,
            restart_at_ms: NOW - 5 * 60_000 + 1000,
        });
        let t = TrayTexts::of(&p, NOW, Theme::Dark);
        assert_eq!(
            t.failure.as_deref(),
            Some("refresh failed: attempt to add with overflow; restarted at 09:55")
        );
        // The figures are still shown below it.
        assert_eq!(t.session, "Session 62 % · resets 14:05");
    }

    #[test]
    fn no_source_says_what_is_missing_first() {
        let mut s = UsageSnapshot::default();
        let t = TrayTexts::of(&published(s.clone()), NOW, Theme::Dark);
        assert_eq!(
            t.connect.as_deref(),
            Some("No Claude Code login found · Connect an account source…")
        );
        s.sources.push(headroom_core::snapshot::SourceStatus {
            source: Source::Account,
            configured: true,
            last_success_ms: None,
            cooldown_until_ms: None,
            error: Some("offline".into()),
        });
        let t = TrayTexts::of(&published(s), NOW, Theme::Dark);
        assert_eq!(t.connect, None, "a login that fails is not a missing one");
    }

    #[test]
    fn nothing_known_and_stale_and_snoozed() {
        let t = TrayTexts::from(&UsageSnapshot::default(), NOW, utc(), None, Theme::Light);
        assert_eq!(t.title, "Headroom");
        assert_eq!(t.session, "Session: no figures yet");
        assert_eq!(t.extra, "Extra Usage: unknown");
        assert_eq!(t.source, "Source: none yet");
        assert!(!t.offer_extra);
        assert_eq!(t.icon.percent, None);
        let mut s = snapshot();
        s.stale = true;
        let t = TrayTexts::from(&s, NOW, utc(), Some(NOW + 3_600_000), Theme::Dark);
        assert_eq!(
            t.source,
            "Source: Claude Code statusline · 2 min ago (stale)"
        );
        assert!(t.icon.stale);
        assert_eq!(t.snooze, "Resume alerts (snoozed until 11:00)");
        // A snooze that has run out is not shown.
        let t = TrayTexts::from(&s, NOW, utc(), Some(NOW - 1), Theme::Dark);
        assert_eq!(t.snooze, "Snooze alerts 1 h");
    }
}
