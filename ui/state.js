// @ts-check
// What the page last heard from the app, and the one way settings go back to it. Every
// section reads from here; the app's answers are written here and then rendered.

import * as ipc from "./ipc.js";
import { flash, showError, showNotice } from "./dom.js";

/** @typedef {import("./ipc-types").Overview} Overview */
/** @typedef {import("./ipc-types").Settings} Settings */
/** @typedef {import("./ipc-types").SettingsView} SettingsView */
/** @typedef {import("./ipc-types").Sources} Sources */
/** @typedef {import("./ipc-types").UsageSnapshot} UsageSnapshot */
/** @typedef {import("./ipc-types").Source} Source */

/**
 * What the page last heard from the app.
 * @type {{
 *   overview: Overview | null, settings: Settings | null, sources: Sources | null,
 *   waiting: boolean, confirmedAt: number | null, renderedOnce: boolean,
 * }}
 */
export const state = {
  overview: null,   // get_overview / usage-updated
  settings: null,   // get_settings / save_settings
  sources: null,    // get_sources
  waiting: false,   // Extra Usage enable flow started, account has not confirmed yet
  confirmedAt: null,
  renderedOnce: false,
};

/** Before the first overview: nothing known. @type {UsageSnapshot} */
const NO_SNAPSHOT = {
  taken_at_ms: 0,
  plan: "unknown",
  session_absent: null,
  session: null,
  weekly: null,
  windows: [],
  extra_usage: null,
  local_block: null,
  forecast: { session_full_at_ms: null, basis: null, percent_per_hour: null },
  stale: false,
  sources: [],
  errors: [],
};

export function snapshot() {
  return state.overview?.snapshot ?? NO_SNAPSHOT;
}

export function zone() {
  return state.settings?.general.timezone || state.overview?.timezone || undefined;
}

export function chosenCap() {
  return state.settings?.extra_usage.chosen_cap ?? null;
}

/** @param {Source} name */
export function sourceStatus(name) {
  const list = snapshot().sources.length ? snapshot().sources : state.sources?.sources ?? [];
  return list.find((s) => s.source === name) ?? null;
}

/**
 * Takes the settings a command answered with, and shows what loading or saving them had to
 * say (a field reset to its default, a broken file kept aside).
 * @param {SettingsView} view
 */
export function applySettings(view) {
  if (view.notice) showNotice(view.notice);
  state.settings = view.settings;
}

export async function reloadSettings() {
  applySettings(await ipc.call("get_settings"));
}

/**
 * @param {Settings} next
 * @param {string} errorId where a refusal is shown
 * @param {string} savedId where "Saved." flashes
 */
export async function saveSettings(next, errorId, savedId) {
  try {
    // `base` is what this page last loaded: only the fields that differ from it are saved, so
    // that a change made elsewhere meanwhile (the tray's snooze, the CLI) is kept.
    const base = state.settings;
    applySettings(await ipc.call("save_settings", { settings: next, base }));
    showError(errorId, null);
    if (savedId) flash(savedId, "Saved.");
    renderAll();
    return true;
  } catch (e) {
    showError(errorId, e.message);
    return false;
  }
}

/** @param {Overview} o */
export function setOverview(o) {
  state.overview = o;
}

/** @type {() => void} */
let renderAllHook = () => {};
/**
 * Redraws every section; app.js says how (it knows the sections, which know this module).
 * @param {() => void} render
 */
export function onRenderAll(render) {
  renderAllHook = render;
}
export function renderAll() {
  renderAllHook();
}
