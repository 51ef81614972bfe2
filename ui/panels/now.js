// @ts-check
// The Now section: the two gauges, the per-model chips, Extra Usage in a word, the block's
// pace and the forecast, the trap warning, the session chart and the 30 days of costs.

import * as fmt from "../format.js";
import { drawDaily, drawWindow } from "../charts.js";
import { $, $svg, capitalise, text } from "../dom.js";
import { snapshot, state, zone } from "../state.js";

/** @typedef {import("../ipc-types").UsageSnapshot} UsageSnapshot */
/** @typedef {import("../ipc-types").Window} Window */
/** @typedef {import("../ipc-types").ExtraUsage} ExtraUsage */
/** @typedef {import("../ipc-types").WindowFacts} WindowFacts */

/**
 * What the core says of a window (its band, its source's name), from the overview.
 * @param {Window} w
 * @returns {WindowFacts | null}
 */
function facts(w) {
  return state.overview?.windows.find((f) => f.id === w.id) ?? null;
}


function dailyCosts() {
  return (state.overview?.daily ?? []).map((d) => ({ date: d.date, cost: d.cost_usd }));
}

function sessionHistory() {
  return (state.overview?.session_history ?? []).map((p) => ({ t: p.at_ms, pct: p.utilization }));
}

/**
 * @param {"session" | "weekly"} prefix
 * @param {Window | null} w
 * @param {number} now
 */
function renderGauge(prefix, w, now) {
  const gauge = $(`${prefix}-gauge`);
  const fill = /** @type {Element} */ (gauge.querySelector(".fill"));
  if (!w) {
    text(`${prefix}-percent`, "–");
    // The core's reason when an account answered without a session window (Ultra, or no
    // session running), as the tray's row and `headroom status` say it.
    const absent = prefix === "session" ? state.overview?.session_absent_text : null;
    text(`${prefix}-reset`, absent ?? "no figure yet");
    text(`${prefix}-reset-at`, "");
    fill.setAttribute("stroke-dasharray", "0 100");
    gauge.dataset.level = "ok";
    return;
  }
  const pct = Number(w.utilization);
  text(`${prefix}-percent`, fmt.percent(pct));
  const estimate = w.source === "local-estimate" ? " (estimate)" : "";
  text(`${prefix}-reset`, fmt.resetText(w.resets_at_ms, now));
  text(`${prefix}-reset-at`, fmt.resetAt(w.resets_at_ms, now, zone()) + estimate);
  fill.setAttribute("stroke-dasharray", `${Math.min(100, Math.max(0, pct)).toFixed(1)} 100`);
  // The core's band (Band::of), the tray icon's colour too.
  gauge.dataset.level = facts(w)?.band ?? "ok";
  gauge.dataset.stale = String(Boolean(snapshot().stale));
  gauge.dataset.value = String(pct);
}

/** @param {ExtraUsage | null} eu */
function extraUsageWords(eu) {
  if (!eu || eu.enabled == null) return { words: "unknown", cls: "" };
  const cur = eu.currency || "USD";
  if (eu.enabled === false) {
    // The core's words for the account's reason, never its code.
    const reason = state.overview?.extra_usage_off_reason;
    return { words: reason ? `Off: ${reason}` : "Off", cls: "off" };
  }
  const spent = typeof eu.used === "number" ? fmt.money(eu.used, cur) : null;
  if (typeof eu.monthly_limit === "number") {
    const over = state.overview?.extra_usage_over_cap;
    const beyond = typeof over === "number" ? `, ${fmt.money(over, cur)} over the cap` : "";
    return { words: `On · ${spent ?? "?"} of ${fmt.money(eu.monthly_limit, cur)}${beyond}`, cls: "on" };
  }
  return { words: `On · no cap${spent ? ` · ${spent} spent` : ""}`, cls: "on" };
}

export function renderNow() {
  const s = snapshot();
  const now = Date.now();
  renderGauge("session", s.session, now);
  renderGauge("weekly", s.weekly, now);

  const models = $("model-windows");
  // In use by the core's rule (Window::in_use), the same as the tray's menu.
  const inUse = new Set(state.overview?.model_windows_in_use ?? []);
  const chips = (s.windows ?? [])
    .filter((w) => inUse.has(w.id))
    .map((w) => {
      const li = document.createElement("li");
      li.textContent = `${w.label} ${fmt.percent(w.utilization)}`;
      return li;
    });
  models.replaceChildren(...chips);

  text("plan", state.overview?.plan_label ?? "unknown");
  // An Enterprise seat is limited by spend: the same figures, named as what they are.
  text("extra-usage-title", s.plan === "enterprise" ? "Spend" : "Extra Usage");
  const eu = extraUsageWords(s.extra_usage);
  const node = $("extra-usage-state");
  text("extra-usage-state", eu.words);
  node.className = `state ${eu.cls}`;

  const b = s.local_block;
  if (b && b.end_ms > now) {
    const parts = [];
    if (typeof b.tokens_per_minute === "number") parts.push(`${fmt.integer(b.tokens_per_minute)} tokens/min`);
    if (typeof b.cost_per_hour === "number") parts.push(`${fmt.money(b.cost_per_hour)}/h`);
    text("burn-rate", parts.length ? parts.join(" · ") : "pace not known yet");
    text("block-total", `${fmt.integer(b.total_tokens)} tokens, ${fmt.money(b.cost_usd)} so far`);
  } else {
    text("burn-rate", "no Claude Code activity in this block");
    text("block-total", "");
  }
  const f = s.forecast;
  const est = f.basis === "local_tokens" ? " (estimate)" : "";
  const fullAt = sessionFullAt(s, now);
  if (fullAt != null) {
    text("forecast", `At this pace the session fills ${fmt.atClock(fullAt, now, zone())}, in ${fmt.duration(fullAt - now)}${est}`);
  } else if (typeof f.percent_per_hour === "number" && s.session) {
    text("forecast", `At this pace (${Math.round(f.percent_per_hour)} %/h) the session lasts until its reset${est}`);
  } else {
    text("forecast", "no forecast yet");
  }

  // The core's sentence, by the alert settings (view.rs `trap`), as `headroom status` says it.
  const trap = state.overview?.trap;
  $("trap-warning").hidden = !trap;
  if (trap) text("trap-warning", trap);

  const failure = state.overview?.refresh_failure ?? null;
  $("refresh-failure").hidden = !failure;
  text("refresh-failure", failure ? capitalise(failure) : "");

  const w = s.session ?? s.weekly;
  // Claude Code's cached answer says when it was fetched, never how fresh it is.
  const when = w?.source === "claude-code-cache" ? `as of ${fmt.clock(w.observed_at_ms, now, zone())}` : w ? fmt.age(now - w.observed_at_ms) : "";
  const fresh = w ? `${facts(w)?.source_label ?? "source not known"} · ${when}` : "no figures yet";
  text("freshness", s.stale ? `${fresh} · stale` : fresh);
  renderCharts();
}

/**
 * When the session window reaches 100 %: the snapshot's forecast, or, when it gives only a
 * pace, that pace carried forward from the current figure, so that the text and the chart
 * never say "lasts until the reset" while the pace says otherwise.
 * @param {UsageSnapshot} s
 * @param {number} now
 */
function sessionFullAt(s, now) {
  const f = s.forecast;
  if (typeof f.session_full_at_ms === "number" && f.session_full_at_ms > now) return f.session_full_at_ms;
  const w = s.session;
  if (!w || typeof f.percent_per_hour !== "number" || f.percent_per_hour <= 0) return null;
  const pct = Number(w.utilization);
  if (pct >= 100) return null;
  const at = now + ((100 - pct) / f.percent_per_hour) * 3600000;
  return typeof w.resets_at_ms === "number" && at >= w.resets_at_ms ? null : at;
}

export function renderCharts() {
  if ($("panel-now").hidden) return;
  const s = snapshot();
  const now = Date.now();
  const w = s.session;
  // The core's span (Window::session_span), the one the overview's readings were taken over.
  const span = state.overview?.session_span;
  if (w && span) {
    drawWindow($svg("window-chart"), {
      startMs: span.start_ms,
      endMs: span.end_ms,
      nowMs: now,
      zone: zone(),
      points: sessionHistory(),
      current: Number(w.utilization),
      forecastAtMs: sessionFullAt(s, now),
      percentPerHour: s.forecast.percent_per_hour,
    });
  } else {
    drawWindow($svg("window-chart"), null);
  }
  const days = dailyCosts();
  drawDaily($svg("daily-chart"), days);
  const total = days.reduce((a, d) => a + (d.cost > 0 ? d.cost : 0), 0);
  text("daily-total", days.length ? `${fmt.money(total)} in 30 days` : "");
  // What these costs (and the block's) leave out: models with no known price.
  const unpriced = state.overview?.unpriced_note ?? null;
  $("daily-unpriced").hidden = !unpriced;
  text("daily-unpriced", unpriced ?? "");
}
