// @ts-check
// The settings pane. Reads everything through the app's commands (ipc.js), renders it, and
// sends the user's changes back; the app validates and saves. The page holds no secret: the
// session key goes from its password box straight to a command and the box is cleared.
//
// This file wires the sections (panels/) together: the tabs, the first load, the app's events
// and the timers. What the page knows is in state.js; each section renders and handles its own
// part of index.html.

import * as ipc from "./ipc.js";
import { $, $button, busy, showError } from "./dom.js";
import { applySettings, onRenderAll, renderAll, setOverview, state } from "./state.js";
import { renderCharts, renderNow } from "./panels/now.js";
import { onExtraUsageState, renderExtraUsage, setupExtraUsage } from "./panels/extra-usage.js";
import { renderAlerts, setupAlerts } from "./panels/alerts.js";
import { loadSources, renderSources, setupSources } from "./panels/sources.js";
import { renderGeneral, setupGeneral } from "./panels/general.js";

// WAI-ARIA tabs: one tab in the tab order, arrows move between tabs, Home/End jump.
function setupTabs() {
  const tabs = [.../** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[role="tab"]'))];
  /**
   * @param {HTMLElement} tab
   * @param {boolean} focus
   */
  const select = (tab, focus) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls") ?? "").hidden = !on;
    }
    if (focus) tab.focus();
    if (tab.id === "tab-now") renderCharts();
    if (tab.id === "tab-sources") loadSources();
  };
  for (const tab of tabs) {
    tab.addEventListener("click", () => select(tab, false));
    tab.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(tab);
      /** @type {Record<string, number>} */
      const moves = { ArrowDown: i + 1, ArrowRight: i + 1, ArrowUp: i - 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 };
      const next = moves[e.key];
      if (next === undefined) return;
      e.preventDefault();
      select(tabs[(next + tabs.length) % tabs.length], true);
    });
  }
  // The app opens the window at a section with `index.html#sources` (first launch, and the
  // tray's "Connect an account source…").
  const start = tabs.find((t) => t.id === `tab-${location.hash.slice(1)}`);
  if (start) select(start, false);
  // And the tray, once the window is open, through the app (settings_window::open in src-tauri): the
  // window comes forward at the section its menu item or notification button is about.
  /** @type {{ headroomShowSection?: (name: string) => void }} */ (/** @type {unknown} */ (window)).headroomShowSection = (name) => {
    const tab = tabs.find((t) => t.id === `tab-${name}`);
    if (tab) select(tab, true);
  };
  // Ctrl/Cmd+1..5 jump to a section, as in most desktop preference windows.
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key >= "1" && e.key <= String(tabs.length)) {
      e.preventDefault();
      select(tabs[Number(e.key) - 1], true);
    }
  });
}

function renderEverySection() {
  renderNow();
  renderExtraUsage();
  renderAlerts();
  renderGeneral();
  if (!$("panel-sources").hidden) renderSources();
  else $("sources-empty").hidden = state.overview?.has_source !== false;
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
  $button("refresh-now").addEventListener("click", () => busy($button("refresh-now"), async () => {
    try {
      setOverview(await ipc.call("refresh_now"));
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
    ipc.on("usage-updated", (overview) => {
      setOverview(overview);
      renderAll();
      markFirstData();
    }),
    ipc.on("extra-usage-state", onExtraUsageState),
  ]);

  const [overview, settings] = await Promise.allSettled([ipc.call("get_overview"), ipc.call("get_settings")]);
  const problems = [];
  if (overview.status === "fulfilled") setOverview(overview.value);
  else problems.push(overview.reason.message);
  if (settings.status === "fulfilled") applySettings(settings.value);
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
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(renderCharts, 100);
  });
}

onRenderAll(renderEverySection);
start();
