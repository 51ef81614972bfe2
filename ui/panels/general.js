// @ts-check
// The General section: start at login, time zone, /metrics, and what this install is.

import * as ipc from "../ipc.js";
import { $, $input, busy, flash, showError, text } from "../dom.js";
import { applySettings, saveSettings, state } from "../state.js";

export function renderGeneral() {
  const s = state.settings;
  if (s) {
    $input("autostart").checked = s.general.start_at_login;
    if (document.activeElement !== $input("timezone")) $input("timezone").value = s.general.timezone ?? "";
    $input("metrics-serve").checked = s.metrics.serve;
    text("metrics-address", s.metrics.address);
  }
  const o = state.overview;
  text("price-version", o?.price_table_version ?? "–");
  text("app-version", o?.app_version ?? "–");
  text("data-dir", o?.data_dir ?? "–");
}

export function setupGeneral() {
  $input("autostart").addEventListener("change", () => {
    const box = $input("autostart");
    busy(box, async () => {
      try {
        applySettings(await ipc.call("set_autostart", { enabled: box.checked }));
        showError("general-error", null);
        flash("autostart-status", box.checked ? "Headroom starts when you log in." : "Off.");
      } catch (e) {
        box.checked = !box.checked;
        showError("general-error", e.message);
      }
    });
  });
  $input("timezone").addEventListener("change", () => {
    const value = $input("timezone").value.trim();
    if (!state.settings) return;
    const next = structuredClone(state.settings);
    next.general.timezone = value === "" ? null : value;
    saveSettings(next, "general-error", "autostart-status");
  });
  $input("metrics-serve").addEventListener("change", () => {
    if (!state.settings) return;
    const next = structuredClone(state.settings);
    next.metrics.serve = $input("metrics-serve").checked;
    saveSettings(next, "general-error", "autostart-status");
  });
  $("general-form").addEventListener("submit", (e) => e.preventDefault());
  // Deferred: 400+ options are not needed for the first paint.
  setTimeout(() => {
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    $("timezones").replaceChildren(...zones.map((z) => Object.assign(document.createElement("option"), { value: z })));
  }, 500);
}
