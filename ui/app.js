// The settings pane. Reads everything through the app's commands (ipc.js), renders it, and
// sends the user's changes back; the app validates and saves. The page holds no secret: the
// session key goes from its password box straight to a command and the box is cleared.

import * as ipc from "./ipc.js";
import * as fmt from "./format.js";
import { drawDaily, drawWindow } from "./charts.js";

const $ = (id) => document.getElementById(id);
const SESSION_MS = 5 * 3600000;

const state = {
  overview: null,   // get_overview / usage-updated
  settings: null,   // get_settings / save_settings
  sources: null,    // get_sources
  waiting: false,   // Extra Usage enable flow started, account has not confirmed yet
  confirmedAt: null,
  renderedOnce: false,
};

// ---------- shapes ----------------------------------------------------------------------
// The contract is docs/ipc.md; these accessors are the only places that know field names,
// and they accept the snapshot bare or wrapped so a payload of either kind renders.

function snapshot() {
  const o = state.overview;
  return o?.snapshot ?? o ?? {};
}
function zone() {
  return state.settings?.general?.timezone || state.overview?.timezone || undefined;
}
function chosenCap() {
  const c = state.settings?.extra_usage?.chosen_cap;
  return typeof c === "number" ? c : null;
}
function dailyCosts() {
  const days = state.overview?.daily ?? state.overview?.daily_costs ?? [];
  return days.map((d) => ({
    date: String(d.date ?? d.day ?? ""),
    cost: Number(d.cost_usd ?? d.cost ?? d.totalCost ?? 0),
  }));
}
function sessionHistory() {
  const pts = state.overview?.session_history ?? state.overview?.window_history ?? [];
  return pts.map((p) => ({ t: Number(p.at_ms ?? p.t ?? p.observed_at_ms), pct: Number(p.utilization ?? p.percent ?? p.pct) }));
}
function sourceStatus(name) {
  const list = snapshot().sources?.length ? snapshot().sources : state.sources?.sources ?? [];
  return list.find((s) => s.source === name) ?? null;
}
function unwrapSettings(r) {
  if (r && typeof r === "object" && r.settings && typeof r.settings === "object") {
    if (r.notice) showNotice(r.notice);
    return r.settings;
  }
  return r;
}

// ---------- small helpers ----------------------------------------------------------------

function text(id, value) {
  const node = $(id);
  if (node && node.textContent !== value) node.textContent = value;
}
function showError(id, message) {
  const node = $(id);
  if (!node) return;
  node.textContent = message ?? "";
  node.hidden = !message;
}
function showNotice(message) {
  const n = $("notice");
  n.textContent = message;
  n.hidden = !message;
}
function flash(id, message, ms = 2500) {
  const node = $(id);
  node.textContent = message;
  clearTimeout(node._timer);
  node._timer = setTimeout(() => { node.textContent = ""; }, ms);
}
function setStatus(id, message, kind) {
  const node = $(id);
  node.textContent = message ?? "";
  node.className = `status ${kind ?? ""}`;
}
async function busy(button, work) {
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
  }
}

// ---------- tabs -------------------------------------------------------------------------
// WAI-ARIA tabs: one tab in the tab order, arrows move between tabs, Home/End jump.

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab, focus) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    }
    if (focus) tab.focus();
    if (tab.id === "tab-now") renderCharts();
    if (tab.id === "tab-sources") loadSources();
  };
  for (const tab of tabs) {
    tab.addEventListener("click", () => select(tab, false));
    tab.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(tab);
      const next = { ArrowDown: i + 1, ArrowRight: i + 1, ArrowUp: i - 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      select(tabs[(next + tabs.length) % tabs.length], true);
    });
  }
  // The app opens the window at a section with `index.html#sources` (first launch, and the
  // tray's "Connect an account source…").
  const start = tabs.find((t) => t.id === `tab-${location.hash.slice(1)}`);
  if (start) select(start, false);
  // Ctrl/Cmd+1..5 jump to a section, as in most desktop preference windows.
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key >= "1" && e.key <= String(tabs.length)) {
      e.preventDefault();
      select(tabs[Number(e.key) - 1], true);
    }
  });
}

// ---------- Now --------------------------------------------------------------------------

function renderGauge(prefix, w, now) {
  const gauge = $(`${prefix}-gauge`);
  const fill = gauge.querySelector(".fill");
  if (!w) {
    text(`${prefix}-percent`, "–");
    text(`${prefix}-reset`, "no figure yet");
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
  gauge.dataset.level = fmt.level(pct);
  gauge.dataset.stale = String(Boolean(snapshot().stale));
  gauge.dataset.value = String(pct);
}

function extraUsageWords(eu) {
  if (!eu || eu.enabled == null) return { words: "unknown", cls: "" };
  const cur = eu.currency || "USD";
  if (eu.enabled === false) {
    const why = eu.disabled_reason ? ` (${eu.disabled_reason})` : "";
    return { words: `Off${why}`, cls: "off" };
  }
  const spent = typeof eu.used === "number" ? fmt.money(eu.used, cur) : null;
  if (typeof eu.monthly_limit === "number") {
    return { words: `On · ${spent ?? "?"} of ${fmt.money(eu.monthly_limit, cur)}`, cls: "on" };
  }
  return { words: `On · no cap${spent ? ` · ${spent} spent` : ""}`, cls: "on" };
}

function renderNow() {
  const s = snapshot();
  const now = Date.now();
  renderGauge("session", s.session, now);
  renderGauge("weekly", s.weekly, now);

  const models = $("model-windows");
  const chips = (s.windows ?? [])
    .filter((w) => w.kind?.kind === "weekly_model" && Number(w.utilization) > 0)
    .map((w) => {
      const li = document.createElement("li");
      li.textContent = `${w.label} ${fmt.percent(w.utilization)}`;
      return li;
    });
  models.replaceChildren(...chips);

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
  const f = s.forecast ?? {};
  const est = f.basis === "local_tokens" ? " (estimate)" : "";
  const fullAt = sessionFullAt(s, now);
  if (fullAt != null) {
    text("forecast", `At this pace the session fills at ${fmt.clock(fullAt, now, zone())}, in ${fmt.duration(fullAt - now)}${est}`);
  } else if (typeof f.percent_per_hour === "number" && s.session) {
    text("forecast", `At this pace (${Math.round(f.percent_per_hour)} %/h) the session lasts until its reset${est}`);
  } else {
    text("forecast", "no forecast yet");
  }

  const trap = state.overview?.trap ?? trapWarning(s);
  $("trap-warning").hidden = !trap;
  if (trap) text("trap-warning", trap);

  const failure = state.overview?.refresh_failure ?? null;
  $("refresh-failure").hidden = !failure;
  text("refresh-failure", failure ? capitalise(failure) : "");

  const w = s.session ?? s.weekly;
  const fresh = w ? `${w.source} · ${fmt.age(now - w.observed_at_ms)}` : "no figures yet";
  text("freshness", s.stale ? `${fresh} · stale` : fresh);
  renderCharts();
}

/**
 * When the session window reaches 100 %: the snapshot's forecast, or, when it gives only a
 * pace, that pace carried forward from the current figure, so that the text and the chart
 * never say "lasts until the reset" while the pace says otherwise.
 */
function sessionFullAt(s, now) {
  const f = s.forecast ?? {};
  if (typeof f.session_full_at_ms === "number" && f.session_full_at_ms > now) return f.session_full_at_ms;
  const w = s.session;
  if (!w || typeof f.percent_per_hour !== "number" || f.percent_per_hour <= 0) return null;
  const pct = Number(w.utilization);
  if (pct >= 100) return null;
  const at = now + ((100 - pct) / f.percent_per_hour) * 3600000;
  return typeof w.resets_at_ms === "number" && at >= w.resets_at_ms ? null : at;
}

// The core's extra_usage::trap, for an overview that does not carry its sentence: a window
// near its limit while Extra Usage is off.
function trapWarning(s) {
  const eu = s.extra_usage;
  if (eu?.enabled !== false || state.settings?.alerts?.extra_usage_trap === false) return null;
  const at = state.settings?.alerts?.trap_percent ?? 90;
  const w = [s.session, s.weekly].filter((x) => x && Number(x.utilization) >= at).sort((a, b) => b.utilization - a.utilization)[0];
  if (!w) return null;
  return `${w.label} is at ${fmt.percent(w.utilization)} and Extra Usage is off: work stops at 100 % until the window resets. Turn it on under Extra Usage to carry on.`;
}

function renderCharts() {
  if ($("panel-now").hidden) return;
  const s = snapshot();
  const now = Date.now();
  const w = s.session;
  if (w && typeof w.resets_at_ms === "number") {
    drawWindow($("window-chart"), {
      startMs: w.resets_at_ms - SESSION_MS,
      endMs: w.resets_at_ms,
      nowMs: now,
      zone: zone(),
      points: sessionHistory(),
      current: Number(w.utilization),
      forecastAtMs: sessionFullAt(s, now),
      percentPerHour: s.forecast?.percent_per_hour,
    });
  } else {
    drawWindow($("window-chart"), null);
  }
  const days = dailyCosts();
  drawDaily($("daily-chart"), days);
  const total = days.reduce((a, d) => a + (d.cost > 0 ? d.cost : 0), 0);
  text("daily-total", days.length ? `${fmt.money(total)} in 30 days` : "");
}

// ---------- Extra Usage ------------------------------------------------------------------

function renderExtraUsage() {
  const eu = snapshot().extra_usage;
  const cur = eu?.currency || "USD";
  const sw = $("extra-usage-switch");
  const on = eu?.enabled === true;
  if (state.waiting && on) {
    state.waiting = false;
    state.confirmedAt = Date.now();
  }
  sw.checked = on || state.waiting;
  if (state.waiting) {
    setStatus("extra-usage-status", "Waiting for your account to confirm… Finish on the page that opened in your browser.", "waiting");
  } else if (state.confirmedAt && on) {
    setStatus("extra-usage-status", `Extra Usage is on: your account confirmed it at ${fmt.clock(state.confirmedAt, Date.now(), zone())}.`, "ok");
  } else if (on) {
    setStatus("extra-usage-status", "On in your account.", "ok");
  } else if (eu?.enabled === false) {
    setStatus("extra-usage-status", eu.disabled_reason ? `Off in your account: ${eu.disabled_reason}` : "Off in your account.", "");
  } else {
    setStatus("extra-usage-status", "Your account has not reported Extra Usage yet.", "");
  }

  const chosen = chosenCap();
  text("chosen-cap", chosen != null ? fmt.money(chosen, cur) : "none");
  const capInput = $("cap-input");
  if (chosen != null && document.activeElement !== capInput && capInput.value === "") {
    capInput.value = chosen.toFixed(2);
  }
  text("account-cap", !eu || eu.enabled == null ? "unknown" : eu.enabled === false ? "off" : typeof eu.monthly_limit === "number" ? fmt.money(eu.monthly_limit, cur) : "no cap");
  text("account-spend", typeof eu?.used === "number" ? fmt.money(eu.used, cur) + (typeof eu.monthly_limit === "number" && eu.monthly_limit > 0 ? ` (${fmt.percent((eu.used / eu.monthly_limit) * 100)} of the cap)` : "") : "unknown");
  text("account-balance", typeof eu?.balance === "number" ? fmt.money(eu.balance, cur) : "unknown");

  // Same rule as the core's extra_usage::cap_mismatch, so the warning follows a cap the user
  // has just saved without waiting for the next refresh.
  let mismatch = null;
  if (chosen != null && eu?.enabled === true && state.overview?.cap_mismatch !== undefined && !state.capChangedSinceOverview) {
    mismatch = state.overview.cap_mismatch ? capitalise(state.overview.cap_mismatch) : null;
  } else if (chosen != null && eu?.enabled === true) {
    if (typeof eu.monthly_limit !== "number") {
      mismatch = `Your account has no monthly cap, but you chose ${fmt.money(chosen, cur)}. Set it on your account's usage page.`;
    } else if (Math.abs(eu.monthly_limit - chosen) >= 0.005) {
      mismatch = `Your account's monthly cap is ${fmt.money(eu.monthly_limit, cur)}, but you chose ${fmt.money(chosen, cur)}. Change it on your account's usage page.`;
    }
  }
  $("cap-mismatch").hidden = !mismatch;
  if (mismatch) text("cap-mismatch", mismatch);
}

/** Shows (or clears, with null) the cap's inline error. */
function capError(message) {
  const input = $("cap-input");
  input.setAttribute("aria-invalid", String(Boolean(message)));
  showError("cap-error", message ? capitalise(message) + (message.endsWith(".") ? "" : ".") : null);
  if (message) input.focus();
}

/** Validates and saves the cap; returns the saved amount in dollars, or null (error shown). */
async function saveCap() {
  const input = $("cap-input");
  const problem = fmt.checkCap(input.value);
  if (problem) {
    capError(problem);
    return null;
  }
  try {
    const saved = unwrapSettings(await ipc.call("set_spending_cap", { input: input.value }));
    if (saved && typeof saved === "object" && saved.extra_usage) state.settings = saved;
    else await reloadSettings();
    capError(null);
    state.capChangedSinceOverview = true;
    const cap = chosenCap();
    if (cap != null) input.value = cap.toFixed(2);
    renderExtraUsage();
    return cap;
  } catch (e) {
    // The app's verdict is what counts; the client check only saves a round trip.
    capError(e.message);
    return null;
  }
}

function capitalise(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

function setupExtraUsage() {
  $("cap-form").addEventListener("submit", (e) => {
    e.preventDefault();
    busy($("cap-save"), async () => {
      if ((await saveCap()) != null) setStatus("extra-usage-status", `Cap saved: ${fmt.money(chosenCap())} a month.`, "ok");
    });
  });
  $("cap-input").addEventListener("input", () => {
    // Clear a stale error as soon as the user edits; the next save checks again.
    if (!$("cap-error").hidden) showError("cap-error", null);
    $("cap-input").removeAttribute("aria-invalid");
  });
  const sw = $("extra-usage-switch");
  sw.addEventListener("change", async () => {
    const eu = snapshot().extra_usage;
    if (!sw.checked) {
      // No API can turn it off: send the user to the account page and follow what it reports.
      state.waiting = false;
      sw.checked = eu?.enabled === true;
      if (eu?.enabled === true) {
        setStatus("extra-usage-status", "Turn Extra Usage off on your account's page (opened in your browser); Headroom follows when the account reports it.", "");
        ipc.call("open_account_settings").catch((err) => setStatus("extra-usage-status", err.message, "bad"));
      } else {
        renderExtraUsage();
      }
      return;
    }
    // A cap is required: enabling pay-as-you-go without one is how surprise bills happen.
    const input = $("cap-input");
    const problem = fmt.checkCap(input.value);
    if (problem) {
      sw.checked = eu?.enabled === true;
      capError(problem);
      return;
    }
    sw.disabled = true;
    try {
      // The app saves the cap (refusing it exactly as set_spending_cap would), opens the
      // account's page and watches the account; progress comes as extra-usage-state events.
      const r = await ipc.call("enable_extra_usage", { cap: input.value });
      capError(null);
      state.waiting = true;
      state.confirmedAt = null;
      state.capChangedSinceOverview = true;
      await reloadSettings().catch(() => {});
      const cap = chosenCap();
      if (cap != null) input.value = cap.toFixed(2);
      renderExtraUsage();
      if (r && r.opened === false && r.url) {
        setStatus("extra-usage-status", `Waiting for your account to confirm… Turn Extra Usage on at ${r.url}`, "waiting");
      }
    } catch (err) {
      state.waiting = false;
      sw.checked = eu?.enabled === true;
      if (err.code === "invalid_cap") capError(err.message);
      else setStatus("extra-usage-status", err.message, "bad");
    } finally {
      sw.disabled = false;
    }
  });
}

function onExtraUsageState(p) {
  // `{state: "waiting"|"enabled"|"timed_out"|"no_source"|..., extra_usage?, message?}`
  const kind = p?.state ?? p?.status;
  if (p?.extra_usage && state.overview) {
    if (state.overview.snapshot) state.overview.snapshot.extra_usage = p.extra_usage;
    else state.overview.extra_usage = p.extra_usage;
  }
  if (kind === "enabled" || p?.extra_usage?.enabled === true) {
    state.waiting = false;
    state.confirmedAt = Date.now();
  } else if (kind === "waiting") {
    state.waiting = true;
  } else if (kind === "timed_out" || kind === "no_source" || kind === "error" || kind === "failed") {
    state.waiting = false;
    renderExtraUsage();
    setStatus("extra-usage-status", p.message ?? (kind === "no_source"
      ? "No source that reports Extra Usage is set up: sign in to Claude Code or add a claude.ai session key."
      : "Your account has not reported Extra Usage on yet. Headroom keeps checking at its usual pace."), "bad");
    renderNow();
    return;
  }
  renderExtraUsage();
  renderNow();
}

// ---------- Alerts -----------------------------------------------------------------------

function getPath(obj, path) {
  return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
}
function setPath(obj, path, value) {
  const keys = path.split(".");
  const last = keys.pop();
  const target = keys.reduce((o, k) => (o[k] ??= {}), obj);
  target[last] = value;
}

function renderAlerts() {
  const s = state.settings;
  if (!s) return;
  const form = $("alerts-form");
  for (const input of form.querySelectorAll("[data-list]")) {
    if (document.activeElement !== input) input.value = (getPath(s, input.dataset.list) ?? []).join(", ");
  }
  for (const input of form.querySelectorAll("[data-int]")) {
    if (document.activeElement !== input) input.value = getPath(s, input.dataset.int) ?? "";
  }
  for (const input of form.querySelectorAll("[data-bool]")) input.checked = Boolean(getPath(s, input.dataset.bool));
  $("forecast-lead").disabled = !s.alerts?.forecast;
  $("trap-percent").disabled = !s.alerts?.extra_usage_trap;
  const q = s.alerts?.quiet_hours;
  $("quiet-enabled").checked = Boolean(q);
  $("quiet-start").value = q?.start ?? "22:00";
  $("quiet-end").value = q?.end ?? "07:00";
  $("quiet-start").disabled = $("quiet-end").disabled = !q;

  const until = s.alerts?.snoozed_until_ms;
  const snoozed = typeof until === "number" && until > Date.now();
  text("snooze-state", snoozed ? `Snoozed until ${fmt.clock(until, Date.now(), zone())}.` : "Alerts are on.");
  $("snooze-resume").hidden = !snoozed;
}

function readAlertsForm() {
  const next = structuredClone(state.settings);
  const form = $("alerts-form");
  for (const input of form.querySelectorAll("[data-list]")) {
    const list = fmt.parsePercents(input.value);
    if (list === null) {
      input.setAttribute("aria-invalid", "true");
      return { error: `${input.labels?.[0]?.textContent ?? "Thresholds"}: use whole percents from 1 to 200, separated by commas.`, input };
    }
    input.removeAttribute("aria-invalid");
    setPath(next, input.dataset.list, list);
  }
  for (const input of form.querySelectorAll("[data-int]")) {
    const n = Number(input.value);
    const min = Number(input.min), max = Number(input.max);
    if (input.value.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
      input.setAttribute("aria-invalid", "true");
      return { error: `Use a whole number from ${min} to ${max}.`, input };
    }
    input.removeAttribute("aria-invalid");
    setPath(next, input.dataset.int, n);
  }
  for (const input of form.querySelectorAll("[data-bool]")) setPath(next, input.dataset.bool, input.checked);
  next.alerts.quiet_hours = $("quiet-enabled").checked
    ? { start: $("quiet-start").value || "22:00", end: $("quiet-end").value || "07:00" }
    : null;
  return { settings: next };
}

async function saveSettings(next, errorId, savedId) {
  try {
    // `base` is what this page last loaded: only the fields that differ from it are saved, so
    // that a change made elsewhere meanwhile (the tray's snooze, the CLI) is kept.
    const base = state.settings;
    state.settings = unwrapSettings(await ipc.call("save_settings", { settings: next, base })) ?? next;
    showError(errorId, null);
    if (savedId) flash(savedId, "Saved.");
    renderAll();
    return true;
  } catch (e) {
    showError(errorId, e.message);
    return false;
  }
}

function setupAlerts() {
  // Saved on every committed change ("change", not each keystroke), like system preferences.
  $("alerts-form").addEventListener("change", () => {
    const r = readAlertsForm();
    if (r.error) {
      showError("alerts-error", r.error);
      return;
    }
    saveSettings(r.settings, "alerts-error", "alerts-saved");
  });
  $("alerts-form").addEventListener("submit", (e) => e.preventDefault());
  $("snooze-1h").addEventListener("click", () => busy($("snooze-1h"), async () => {
    try {
      const r = unwrapSettings(await ipc.call("snooze_alerts", { minutes: 60 }));
      if (r?.alerts) state.settings = r;
      else await reloadSettings();
      renderAlerts();
    } catch (e) {
      showError("alerts-error", e.message);
    }
  }));
  $("snooze-resume").addEventListener("click", () => busy($("snooze-resume"), async () => {
    try {
      const r = unwrapSettings(await ipc.call("resume_alerts"));
      if (r?.alerts) state.settings = r;
      else await reloadSettings();
      renderAlerts();
    } catch (e) {
      showError("alerts-error", e.message);
    }
  }));
  $("test-notification").addEventListener("click", () => busy($("test-notification"), async () => {
    try {
      const r = await ipc.call("send_test_notification");
      text("test-notification-result", r?.message ?? "Sent. If nothing appeared, check your desktop's notification settings.");
    } catch (e) {
      text("test-notification-result", e.message);
    }
  }));
}

// ---------- Sources ----------------------------------------------------------------------

function dot(id, kind) {
  $(id).className = `dot ${kind}`;
}

function renderSources() {
  const src = state.sources ?? {};
  const now = Date.now();
  $("sources-empty").hidden = state.overview?.has_source !== false;

  const sl = src.statusline ?? {};
  const slStatus = sourceStatus("statusline");
  const installed = sl.installed ?? slStatus?.configured ?? false;
  const slSeen = slStatus?.last_success_ms;
  text("statusline-state", installed ? (slSeen ? `installed · last feed ${fmt.age(now - slSeen)}` : "installed · no feed yet") : "not installed");
  dot("statusline-dot", installed ? (slSeen ? "ok" : "warn") : "");
  $("statusline-install").textContent = installed ? "Reinstall" : "Install";

  const acc = sourceStatus("account");
  const found = src.credentials?.found ?? src.credentials_found ?? acc?.configured ?? false;
  text("credentials-state", found ? (acc?.last_success_ms ? `found · last read ${fmt.age(now - acc.last_success_ms)}` : "found") : "not found: sign in to Claude Code");
  dot("credentials-dot", !found ? "bad" : acc?.error ? "warn" : "ok");
  showError("account-error", acc?.error ?? null);

  const cai = sourceStatus("claude.ai");
  const keyStored = src.claude_ai?.key_stored ?? src.claude_ai_key_stored ?? cai?.configured ?? false;
  text("session-key-state", keyStored ? (cai?.last_success_ms ? `stored in the keychain · last read ${fmt.age(now - cai.last_success_ms)}` : "stored in the keychain") : "not set (optional)");
  dot("claude-ai-dot", keyStored ? (cai?.error ? "warn" : "ok") : "");
  $("session-key-clear").hidden = !keyStored;
  showError("claude-ai-error", keyStored ? cai?.error ?? null : null);

  const dirs = src.transcript_dirs ?? src.transcripts?.dirs ?? [];
  $("transcript-dirs").replaceChildren(...dirs.map((d) => {
    const li = document.createElement("li");
    const path = typeof d === "string" ? d : d.path;
    const exists = typeof d === "string" ? true : d.exists !== false;
    li.textContent = exists ? path : `${path} (not found)`;
    return li;
  }));
  const anyDir = dirs.some((d) => typeof d === "string" || d.exists !== false);
  text("transcripts-state", dirs.length === 0 ? "none found" : anyDir ? `${dirs.length} folder${dirs.length > 1 ? "s" : ""}` : "none found");
  dot("transcripts-dot", anyDir ? "ok" : "bad");

  const last = src.last_refresh_ms ?? snapshot().taken_at_ms;
  text("last-refresh", typeof last === "number" && last > 0 ? `${fmt.clock(last, now, zone())} (${fmt.age(now - last)})` : "never");
  const cool = (snapshot().sources ?? []).map((s) => s.cooldown_until_ms).filter((t) => typeof t === "number" && t > now);
  text("cooldown", cool.length ? `no requests until ${fmt.clock(Math.max(...cool), now, zone())} (rate limit)` : "none");
  const errors = [...new Set([...(snapshot().errors ?? []), ...(src.errors ?? [])])];
  if (src.settings_notice) showNotice(src.settings_notice);
  $("source-errors").replaceChildren(...errors.map((e) => {
    const li = document.createElement("li");
    li.textContent = e;
    return li;
  }));
}

async function loadSources() {
  try {
    state.sources = await ipc.call("get_sources");
  } catch (e) {
    showError("load-error", e.message);
  }
  renderSources();
}

function describeChanges(r) {
  if (typeof r === "string") return r;
  if (Array.isArray(r)) return r.join("\n");
  if (r?.summary || Array.isArray(r?.changes)) return [r.summary, ...(r.changes ?? [])].filter(Boolean).join("\n");
  return JSON.stringify(r, null, 2);
}

function setupSources() {
  $("statusline-install").addEventListener("click", () => busy($("statusline-install"), async () => {
    const out = $("statusline-changes");
    try {
      const r = await ipc.call("install_statusline");
      out.textContent = describeChanges(r);
      out.classList.remove("field-error");
    } catch (e) {
      out.textContent = e.message;
      out.classList.add("field-error");
    }
    out.hidden = false;
    await loadSources();
  }));

  $("session-key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("session-key-input");
    busy($("session-key-save"), async () => {
      const key = input.value.trim();
      if (!key) {
        showError("session-key-error", "Paste the session key first.");
        return;
      }
      try {
        await ipc.call("set_claude_ai_session_key", { key });
        // Cleared at once: the page keeps no copy, and it is never read back.
        input.value = "";
        showError("session-key-error", null);
        await loadSources();
      } catch (err) {
        showError("session-key-error", err.message);
      }
    });
  });
  $("session-key-clear").addEventListener("click", () => busy($("session-key-clear"), async () => {
    try {
      await ipc.call("clear_claude_ai_session_key");
      showError("session-key-error", null);
      await loadSources();
    } catch (err) {
      showError("session-key-error", err.message);
    }
  }));
}

// ---------- General ----------------------------------------------------------------------

function renderGeneral() {
  const s = state.settings;
  const info = state.sources ?? {};
  if (s) {
    $("autostart").checked = Boolean(s.general?.start_at_login);
    if (document.activeElement !== $("timezone")) $("timezone").value = s.general?.timezone ?? "";
  }
  const o = state.overview ?? {};
  text("price-version", o.price_table_version ?? info.price_table_version ?? "–");
  text("app-version", o.app_version ?? info.app_version ?? "–");
  text("data-dir", o.data_dir ?? info.data_dir ?? "–");
}

function setupGeneral() {
  $("autostart").addEventListener("change", () => {
    const box = $("autostart");
    busy(box, async () => {
      try {
        const r = unwrapSettings(await ipc.call("set_autostart", { enabled: box.checked }));
        if (r?.general) state.settings = r;
        else await reloadSettings();
        showError("general-error", null);
        flash("autostart-status", box.checked ? "Headroom starts when you log in." : "Off.");
      } catch (e) {
        box.checked = !box.checked;
        showError("general-error", e.message);
      }
    });
  });
  $("timezone").addEventListener("change", () => {
    const value = $("timezone").value.trim();
    const next = structuredClone(state.settings);
    next.general.timezone = value === "" ? null : value;
    saveSettings(next, "general-error", "autostart-status");
  });
  $("general-form").addEventListener("submit", (e) => e.preventDefault());
  // Deferred: 400+ options are not needed for the first paint.
  setTimeout(() => {
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    $("timezones").replaceChildren(...zones.map((z) => Object.assign(document.createElement("option"), { value: z })));
  }, 500);
}

// ---------- wiring -----------------------------------------------------------------------

function setOverview(o) {
  state.overview = o;
  // The overview's cap_mismatch sentence was computed against the cap of its time.
  state.capChangedSinceOverview = false;
}

function renderAll() {
  renderNow();
  renderExtraUsage();
  renderAlerts();
  renderGeneral();
  if (!$("panel-sources").hidden) renderSources();
  else $("sources-empty").hidden = state.overview?.has_source !== false;
}

async function reloadSettings() {
  state.settings = unwrapSettings(await ipc.call("get_settings"));
}

function markFirstData() {
  if (state.renderedOnce || !state.overview) return;
  state.renderedOnce = true;
  // Read by the end-to-end test to report launch-to-first-data time.
  document.body.dataset.firstDataMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "true";
}

async function start() {
  setupTabs();
  setupExtraUsage();
  setupAlerts();
  setupSources();
  setupGeneral();
  $("refresh-now").addEventListener("click", () => busy($("refresh-now"), async () => {
    try {
      const r = await ipc.call("refresh_now");
      setOverview(r && typeof r === "object" ? r : await ipc.call("get_overview"));
      showError("load-error", null);
      renderAll();
    } catch (e) {
      showError("load-error", e.message);
    }
  }));

  if (!ipc.available()) {
    showError("load-error", "This page is Headroom's settings pane; it works inside the Headroom app.");
    return;
  }
  // Subscribe before the first read, so that nothing published in between is missed.
  await Promise.all([
    ipc.on("usage-updated", (payload) => {
      if (payload && typeof payload === "object" && ("snapshot" in payload || "session" in payload || "taken_at_ms" in payload)) {
        setOverview(payload.snapshot || !state.overview ? payload : { ...state.overview, snapshot: payload });
        renderAll();
        markFirstData();
      } else {
        ipc.call("get_overview").then((o) => { setOverview(o); renderAll(); markFirstData(); }).catch(() => {});
      }
    }),
    ipc.on("extra-usage-state", onExtraUsageState),
  ]);

  const [overview, settings] = await Promise.allSettled([ipc.call("get_overview"), ipc.call("get_settings")]);
  const problems = [];
  if (overview.status === "fulfilled") setOverview(overview.value);
  else problems.push(overview.reason.message);
  if (settings.status === "fulfilled") state.settings = unwrapSettings(settings.value);
  else problems.push(settings.reason.message);
  showError("load-error", problems.length ? problems.join(" ") : null);
  renderAll();
  markFirstData();
  // Sources are cheap but not needed for the first paint.
  loadSources();

  // Countdowns and ages move on their own; a redraw every 20 s keeps them within a minute.
  setInterval(() => {
    if (document.visibilityState === "visible") {
      renderNow();
      renderExtraUsage();
    }
  }, 20000);
  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(renderCharts, 100);
  });
}

start();
