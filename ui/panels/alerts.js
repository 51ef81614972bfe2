// @ts-check
// The Alerts section: thresholds, forecast, trap, quiet hours, snooze and a test
// notification. Saved on every committed change.

import * as ipc from "../ipc.js";
import * as fmt from "../format.js";
import { $, $button, $input, busy, showError, text } from "../dom.js";
import { applySettings, saveSettings, state, zone } from "../state.js";

/** @typedef {import("../ipc-types").Settings} Settings */

// The alert fields name their setting in `data-list`, `data-int` and `data-bool`
// ("alerts.session_thresholds"); these read and write it by that path.
/**
 * @param {any} obj
 * @param {string} path
 * @returns {any}
 */
function getPath(obj, path) {
  return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

/**
 * @param {any} obj
 * @param {string} path
 * @param {unknown} value
 */
function setPath(obj, path, value) {
  const keys = path.split(".");
  const last = /** @type {string} */ (keys.pop());
  const target = keys.reduce((o, k) => (o[k] ??= {}), obj);
  target[last] = value;
}

/**
 * The alert form's fields of one kind.
 * @param {"list" | "int" | "bool"} kind
 */
function alertFields(kind) {
  return /** @type {NodeListOf<HTMLInputElement>} */ ($("alerts-form").querySelectorAll(`[data-${kind}]`));
}

export function renderAlerts() {
  const s = state.settings;
  if (!s) return;
  for (const input of alertFields("list")) {
    if (document.activeElement !== input) input.value = (getPath(s, input.dataset.list ?? "") ?? []).join(", ");
  }
  for (const input of alertFields("int")) {
    if (document.activeElement !== input) input.value = getPath(s, input.dataset.int ?? "") ?? "";
  }
  for (const input of alertFields("bool")) input.checked = Boolean(getPath(s, input.dataset.bool ?? ""));
  $input("forecast-lead").disabled = !s.alerts.forecast;
  $input("trap-percent").disabled = !s.alerts.extra_usage_trap;
  const q = s.alerts.quiet_hours;
  $input("quiet-enabled").checked = Boolean(q);
  $input("quiet-start").value = q?.start ?? "22:00";
  $input("quiet-end").value = q?.end ?? "07:00";
  $input("quiet-start").disabled = $input("quiet-end").disabled = !q;

  const until = s.alerts.snoozed_until_ms;
  const snoozed = typeof until === "number" && until > Date.now();
  text("snooze-state", snoozed ? `Snoozed until ${fmt.clock(until, Date.now(), zone())}.` : "Alerts are on.");
  $button("snooze-resume").hidden = !snoozed;
}

/**
 * The settings with the alert form's values, or what is wrong with one of them.
 * @returns {{ error: string, settings?: undefined } | { settings: Settings, error?: undefined }}
 */
function readAlertsForm() {
  if (!state.settings) return { error: "The settings could not be loaded; nothing was saved." };
  const next = structuredClone(state.settings);
  for (const input of alertFields("list")) {
    const list = fmt.parsePercents(input.value);
    if (list === null) {
      input.setAttribute("aria-invalid", "true");
      return { error: `${input.labels?.[0]?.textContent ?? "Thresholds"}: use whole percents from 1 to 200, separated by commas.` };
    }
    input.removeAttribute("aria-invalid");
    setPath(next, input.dataset.list ?? "", list);
  }
  for (const input of alertFields("int")) {
    const n = Number(input.value);
    const min = Number(input.min), max = Number(input.max);
    if (input.value.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
      input.setAttribute("aria-invalid", "true");
      return { error: `Use a whole number from ${min} to ${max}.` };
    }
    input.removeAttribute("aria-invalid");
    setPath(next, input.dataset.int ?? "", n);
  }
  for (const input of alertFields("bool")) setPath(next, input.dataset.bool ?? "", input.checked);
  next.alerts.quiet_hours = $input("quiet-enabled").checked
    ? { start: $input("quiet-start").value || "22:00", end: $input("quiet-end").value || "07:00" }
    : null;
  return { settings: next };
}

export function setupAlerts() {
  // Saved on every committed change ("change", not each keystroke), like system preferences.
  $("alerts-form").addEventListener("change", () => {
    const r = readAlertsForm();
    if (r.error !== undefined) {
      showError("alerts-error", r.error);
      return;
    }
    saveSettings(r.settings, "alerts-error", "alerts-saved");
  });
  $("alerts-form").addEventListener("submit", (e) => e.preventDefault());
  $button("snooze-1h").addEventListener("click", () => busy($button("snooze-1h"), async () => {
    try {
      applySettings(await ipc.call("snooze_alerts", { minutes: 60 }));
      renderAlerts();
    } catch (e) {
      showError("alerts-error", e.message);
    }
  }));
  $button("snooze-resume").addEventListener("click", () => busy($button("snooze-resume"), async () => {
    try {
      applySettings(await ipc.call("resume_alerts"));
      renderAlerts();
    } catch (e) {
      showError("alerts-error", e.message);
    }
  }));
  $button("test-notification").addEventListener("click", () => busy($button("test-notification"), async () => {
    try {
      const r = await ipc.call("send_test_notification");
      text("test-notification-result", r.message);
    } catch (e) {
      text("test-notification-result", e.message);
    }
  }));
}
